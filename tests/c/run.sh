#!/usr/bin/env bash
# Builds and runs every tests/c/test_*.c against the C core (csrc/*.c without
# the Python binding files) under ASan/UBSan. Exit status: 0 only if all pass.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${FASTSIO_CTEST_OUT:-$root/build/ctest}
mkdir -p "$out"
core=()
for f in "$root"/csrc/*.c; do
    case "$(basename "$f")" in module.c|py_*.c) ;; *) core+=("$f") ;; esac
done
cflags=(-std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -fno-omit-frame-pointer
        -fsanitize=address,undefined -fno-sanitize-recover=all -I"$root/csrc")
status=0
for t in "$here"/test_*.c; do
    name=$(basename "$t" .c)
    gcc "${cflags[@]}" -o "$out/$name" "$t" "${core[@]}" -lpthread
    if "$out/$name" "$here/corpus"; then echo "PASS $name"; else echo "FAIL $name"; status=1; fi
done
exit $status
