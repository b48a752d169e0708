#!/usr/bin/env bash
# Installs what the demo needs on a fresh Debian 12 machine, builds fastsio and
# serves the demo chat (in-memory manager, no Redis) on http://127.0.0.1:8000/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/system_deps.sh
python3 -m pip install -q "uvicorn[standard]"
python3 -m pip install -q .
(cd tests/js && npm install --no-audit --no-fund --loglevel=error)
export FASTSIO_CLIENT_JS="$root/tests/js/node_modules/socket.io-client/dist/socket.io.min.js"
cd /tmp && exec python3 -m fastsio demo --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
