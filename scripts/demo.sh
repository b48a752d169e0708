#!/usr/bin/env bash
# Installs what the demo needs on a fresh Debian 12 machine, builds fastsio and
# serves the demo chat (in-memory manager, no Redis) on http://127.0.0.1:8000/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
need_apt=()
for pc in libwebsockets:libwebsockets-dev hiredis:libhiredis-dev jansson:libjansson-dev; do
    pkg-config --exists "${pc%%:*}" 2>/dev/null || need_apt+=("${pc##*:}")
done
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v gcc >/dev/null || need_apt+=(gcc)
command -v npm >/dev/null || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_apt[@]}"
fi
python3 -m pip install -q "uvicorn[standard]"
python3 -m pip install -q .
(cd tests/js && npm install --no-audit --no-fund --loglevel=error)
export FASTSIO_CLIENT_JS="$root/tests/js/node_modules/socket.io-client/dist/socket.io.min.js"
cd /tmp && exec python3 -m fastsio demo --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
