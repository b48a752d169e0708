#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 machine, builds
# fastsio, and runs every test: the C core tests, the black-box suite against
# python-socketio and fastsio, then the fastsio suite again under ASan/UBSan
# with websockets adopted by the native transport,
# then the libFuzzer targets of the C decoders (60 s each, two at a time).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

. scripts/system_deps.sh

python3 -m pip install -q -r tests/requirements.txt
(cd tests/js && npm install --no-audit --no-fund --loglevel=error)
bash scripts/openwebui_env.sh

# the extension, built in place next to python/fastsio/*.py
python3 setup.py -q build_ext --inplace --build-temp build/tmp

python3 -m pytest tests -q -p no:cacheprovider "$@"

# the same fastsio tests against an ASan/UBSan build of the extension, with
# websockets adopted by the native transport (fastsio.uvicorn's class): the
# first pass covers uvicorn's websocket path, this one the C thread's
asan_dir=build/asan
rm -rf "$asan_dir" && mkdir -p "$asan_dir/fastsio"
FASTSIO_SANITIZE=1 python3 setup.py -q build_ext --build-lib "$asan_dir" --build-temp build/asan-tmp
(cd python && find fastsio -name '*.py' -exec cp --parents -t "$root/$asan_dir/" {} +)
export FASTSIO_PACKAGE_DIR="$root/$asan_dir"
export FASTSIO_SERVER_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
FASTSIO_TEST_WS=fastsio.uvicorn:WebSocketProtocol \
python3 -m pytest tests -q -p no:cacheprovider -k "fastsio and not test_c_core" \
    --ignore tests/test_redis_dict.py --ignore tests/test_redis_manager.py \
    --ignore tests/test_shared_strings.py --ignore tests/test_json_codec.py "$@"
# the Redis tests, test_shared_strings and test_json_codec import fastsio
# in-process (pytest imports a module to collect it, so they are not even
# collected above): the sanitizer runtime is preloaded into pytest itself
# (conftest keeps it out of redis-server)
LD_PRELOAD="$FASTSIO_SERVER_PRELOAD" python3 -m pytest tests/test_redis_dict.py \
    tests/test_redis_manager.py tests/test_shared_strings.py tests/test_json_codec.py \
    -q -p no:cacheprovider "$@"

# libFuzzer: replay tests/fuzz/corpus, then fuzz each C decoder for 60 s
bash scripts/fuzz.sh 60
