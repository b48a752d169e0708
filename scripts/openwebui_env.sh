#!/usr/bin/env bash
# A virtualenv with the real Open WebUI (PyPI wheel, unchanged) for
# tests/test_openwebui.py: build/openwebui-venv.
#
# Open WebUI's ML stack (torch, transformers, chromadb, ...) is left out: the
# wheel is installed with --no-deps, then its light requirements
# (shared/openwebui/requirements-light.txt, kept in tests/openwebui/ too) and
# the few packages it needs at start-up without declaring them. fastsio is not
# installed there: a .pth file puts this repository's python/ folder (where
# scripts/test.sh builds the extension in place) on the venv's path.
#
# Idempotent: a venv that is already complete (marker file) is reused as is.
set -euo pipefail
start=$(date +%s)
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/build/openwebui-venv"
version=0.12.4
requirements="$root/tests/openwebui/requirements-light.txt"
# the marker names the interpreter too: a new python3 means a new venv
pyver=$(python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
marker="$venv/.fastsio-openwebui-$version-py$pyver"

if [ ! -f "$marker" ]; then
    rm -rf "$venv"
    # Debian's python3 makes virtualenvs only with python3-venv (ensurepip)
    if ! python3 -c 'import ensurepip' 2>/dev/null; then
        SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
        $SUDO apt-get update -q
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q python3-venv
    fi
    python3 -m venv "$venv"
    py="$venv/bin/python"
    "$py" -m pip install -q --upgrade pip setuptools wheel
    "$py" -m pip install -q --no-deps "open-webui==$version"
    # + what Open WebUI imports at start-up without declaring it, and uvicorn
    # (`python -m uvicorn` for the unpatched instance, `python -m fastsio serve`).
    # pip then lists every heavy requirement left out as a "conflict": expected.
    "$py" -m pip install -q -r "$requirements" \
        typer "black==26.5.1" "pydub==0.25.1" "soundfile==0.13.1" \
        "youtube-transcript-api==1.2.4" "uvicorn[standard]==0.54.0" 2>&1 \
        | { grep -v -E "^(open-webui $version requires |ERROR: pip's dependency resolver)" || true; }
    touch "$marker"
fi

# fastsio from this checkout (rewritten every time: the checkout may move)
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$root/python" > "$site/fastsio-checkout.pth"

echo "openwebui venv ready: $venv ($(( $(date +%s) - start )) s)"
