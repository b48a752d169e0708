#!/usr/bin/env bash
# Builds and runs every tests/c/test_*.c against the C core (csrc/core,
# csrc/redis, csrc/merge and csrc/transport: everything but the Python binding
# in csrc/py) under ASan/UBSan.
# Tests that need Redis start their own redis-server processes
# (tests/c/redis_proc.h) and skip themselves when there is none.
# Exit status: 0 only if all pass.
set -euo pipefail
shopt -s nullglob
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${FASTSIO_CTEST_OUT:-$root/build/ctest}
mkdir -p "$out"
core=("$root"/csrc/core/*.c "$root"/csrc/redis/*.c "$root"/csrc/merge/*.c "$root"/csrc/transport/*.c)
cflags=(-std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -fno-omit-frame-pointer
        -fsanitize=address,undefined -fno-sanitize-recover=all
        -I"$root/csrc/core" -I"$root/csrc/redis" -I"$root/csrc/merge" -I"$root/csrc/transport"
        $(pkg-config --cflags hiredis libwebsockets zlib))
libs=($(pkg-config --libs hiredis libwebsockets zlib) -lpthread)
status=0
# test_transport runs once per event loop the native transport keeps
# (docs/native-event-loop.md: libev, the default, and poll, its fallback;
# FASTSIO_CTEST_LOOPS="ev poll uv" runs libuv too, which fails known cases).
loops=(${FASTSIO_CTEST_LOOPS:-ev poll})
for t in "$here"/test_*.c; do
    name=$(basename "$t" .c)
    gcc "${cflags[@]}" -o "$out/$name" "$t" "${core[@]}" "${libs[@]}"
    for loop in $([ "$name" = test_transport ] && echo "${loops[@]}" || echo -); do
        label=$name; [ "$loop" = - ] || label="$name[$loop]"
        if TRANSPORT_LOOP=${loop#-} "$out/$name" "$here/corpus"; then echo "PASS $label"
        else echo "FAIL $label"; status=1; fi
    done
done
exit $status
