#!/usr/bin/env bash
# libFuzzer targets of the C decoders (tests/fuzz/fuzz_<name>.c), built with
# clang -fsanitize=fuzzer,address,undefined into build/fuzz.
#
#   scripts/fuzz.sh SECONDS   build every target, replay its seeds
#                             (tests/fuzz/corpus/<name>/ plus the large inputs
#                             tests/fuzz/gen_large.py writes), then fuzz each
#                             target for SECONDS, two at a time
#   scripts/fuzz.sh 0         build and replay only (each input runs once)
#
# Fails (exit 1) if any target crashes, leaks, times out, runs out of memory
# or trips a sanitizer or one of its own property checks. A failing input
# found while fuzzing is copied into tests/fuzz/corpus/<name>/ so that it
# stays as a regression seed; what libFuzzer finds otherwise (new coverage)
# goes to build/fuzz/work/<name>/, which later local runs reuse.
# Logs: build/fuzz/logs/<name>.{replay,fuzz}.log. Needs clang and libFuzzer
# (Debian 12: clang, libclang-rt-14-dev; scripts/system_deps.sh installs them).
set -euo pipefail
shopt -s nullglob

secs=${1:?usage: scripts/fuzz.sh SECONDS (0: replay the corpus only)}
[[ $secs =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a number" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
out=${FASTSIO_FUZZ_OUT:-$root/build/fuzz}
fz=$root/tests/fuzz
cc=${FASTSIO_FUZZ_CC:-clang}
jobs=2

targets=(base64 eio payload sio jsonscan envelope merge transport)
declare -A srcs=(
    [base64]="core/buf.c core/base64.c"
    [eio]="core/buf.c core/base64.c core/eio.c core/frame.c core/jsonscan.c"
    [payload]="core/buf.c core/base64.c core/eio.c core/frame.c"
    [sio]="core/buf.c core/eio.c core/sio.c core/base64.c"
    [jsonscan]="core/buf.c core/jsonscan.c"
    [envelope]="core/buf.c core/jsonscan.c core/sio.c redis/envelope.c"
    [merge]="core/buf.c core/jsonscan.c merge/merge.c"
    [transport]="core/buf.c core/base64.c core/eio.c core/frame.c core/hub.c core/jsonscan.c
                 core/strmap.c transport/deflate.c transport/inflate.c transport/lws_loop.c
                 transport/lws_server.c
                 transport/wsframe.c"
)
# Targets that need more than the C core: their extra flags and libraries.
declare -A xflags=([transport]="-I$root/csrc/transport $(pkg-config --cflags libwebsockets zlib 2>/dev/null || true)")
declare -A xlibs=([transport]="$(pkg-config --libs libwebsockets zlib 2>/dev/null || true) -lpthread")
# Longest input the fuzzer makes per target (the replay has no limit).
declare -A maxlen=([base64]=4096 [eio]=1024 [payload]=4096 [sio]=512 [jsonscan]=4096
                   [envelope]=4096 [merge]=8192 [transport]=12288)
declare -A dict=([sio]=json [jsonscan]=json [envelope]=json [merge]=json [eio]=json
                 [payload]=json)

if ! command -v "$cc" >/dev/null; then
    echo "fuzz.sh: $cc not found (scripts/system_deps.sh installs clang)" >&2
    exit 2
fi
if [ ! -e "$("$cc" -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a" ]; then
    echo "fuzz.sh: libFuzzer not found (Debian: libclang-rt-14-dev)" >&2
    exit 2
fi

mkdir -p "$out/bin" "$out/logs" "$out/work" "$out/artifacts"
cflags=(-std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -I"$root/csrc/core" -I"$root/csrc/redis" -I"$root/csrc/merge" -I"$fz")

# Runs the command "$@" in the background, at most $jobs at a time (each
# command records its own status; pids are polled rather than trusting
# `wait -n`, which can return for a job reaped earlier).
pids=()
spawn() {
    while [ ${#pids[@]} -ge "$jobs" ]; do
        local live=()
        for p in "${pids[@]}"; do
            if kill -0 "$p" 2>/dev/null; then live+=("$p"); else wait "$p" || true; fi
        done
        pids=("${live[@]}")
        [ ${#pids[@]} -lt "$jobs" ] || sleep 0.2
    done
    "$@" &
    pids+=($!)
}
wait_all() {
    for p in "${pids[@]}"; do wait "$p" || true; done
    pids=()
}

# ------------------------------------------------------------------ build
build() {
    local t=$1 files=()
    for s in ${srcs[$t]}; do files+=("$root/csrc/$s"); done
    # shellcheck disable=SC2086  # the extra flags are word lists
    if "$cc" "${cflags[@]}" ${xflags[$t]:-} -o "$out/bin/fuzz_$t" "$fz/fuzz_$t.c" "${files[@]}" \
        ${xlibs[$t]:-} >"$out/logs/$t.build.log" 2>&1; then
        echo 0 >"$out/logs/$t.build.rc"
    else
        echo 1 >"$out/logs/$t.build.rc"
    fi
}
t0=$SECONDS
for t in "${targets[@]}"; do spawn build "$t"; done
wait_all
for t in "${targets[@]}"; do
    if [ "$(cat "$out/logs/$t.build.rc")" != 0 ]; then
        cat "$out/logs/$t.build.log" >&2
        echo "fuzz.sh: building fuzz_$t failed" >&2
        exit 1
    fi
done
echo "fuzz: built ${#targets[@]} targets in $((SECONDS - t0)) s"

rm -rf "$out/gen"
python3 "$fz/gen_large.py" "$out/gen"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:symbolize=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
unset LD_PRELOAD

# ------------------------------------------------------------------ replay
replay() {
    local t=$1 files
    files=("$fz/corpus/$t"/* "$out/gen/$t"/*)
    if [ ${#files[@]} -eq 0 ]; then
        echo "no seeds" >"$out/logs/$t.replay.log"
        echo 1 >"$out/logs/$t.replay.rc"
        return
    fi
    local rc=0
    "$out/bin/fuzz_$t" -timeout=120 -rss_limit_mb=4096 "${files[@]}" \
        >"$out/logs/$t.replay.log" 2>&1 || rc=$?
    echo "$rc" >"$out/logs/$t.replay.rc"
}
t0=$SECONDS
for t in "${targets[@]}"; do spawn replay "$t"; done
wait_all
failed=()
for t in "${targets[@]}"; do
    n=$(grep -c '^Running: ' "$out/logs/$t.replay.log" || true)
    if [ "$(cat "$out/logs/$t.replay.rc")" != 0 ]; then
        echo "FAIL replay fuzz_$t ($n inputs); last lines of $out/logs/$t.replay.log:"
        tail -n 40 "$out/logs/$t.replay.log"
        failed+=("$t")
    else
        echo "ok   replay fuzz_$t: $n inputs"
    fi
done
echo "fuzz: replay took $((SECONDS - t0)) s"

# ------------------------------------------------------------------ fuzz
fuzz() {
    local t=$1 rc=0 args=()
    mkdir -p "$out/work/$t"
    rm -rf "$out/artifacts/$t" && mkdir -p "$out/artifacts/$t"
    if [ -n "${dict[$t]:-}" ]; then args+=(-dict="$fz/dict/${dict[$t]}.dict"); fi
    "$out/bin/fuzz_$t" -max_total_time="$secs" -max_len="${maxlen[$t]}" -timeout=20 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" \
        "${args[@]}" "$out/work/$t" "$fz/corpus/$t" >"$out/logs/$t.fuzz.log" 2>&1 || rc=$?
    echo "$rc" >"$out/logs/$t.fuzz.rc"
}
# targets whose replay passed
fuzzed=()
for t in "${targets[@]}"; do [[ " ${failed[*]} " == *" $t "* ]] || fuzzed+=("$t"); done
if [ "$secs" -gt 0 ] && [ ${#fuzzed[@]} -gt 0 ]; then
    t0=$SECONDS
    for t in "${fuzzed[@]}"; do spawn fuzz "$t"; done
    wait_all
    for t in "${fuzzed[@]}"; do
        log=$out/logs/$t.fuzz.log
        found=("$out/artifacts/$t"/crash-* "$out/artifacts/$t"/leak-* \
               "$out/artifacts/$t"/timeout-* "$out/artifacts/$t"/oom-*)
        # "cov: A ft: B corp: N/size" at the start (INITED) and at the end (DONE)
        cov0=$(sed -nE 's/^#[0-9]+[[:space:]]+INITED (cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*/\1/p' "$log" | tail -n 1)
        cov1=$(sed -nE 's/^#[0-9]+[[:space:]]+DONE +(cov: [0-9]+ ft: [0-9]+ corp: [^ ]+).*/\1/p' "$log" | tail -n 1)
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
        if [ "$(cat "$out/logs/$t.fuzz.rc")" != 0 ] || [ ${#found[@]} -gt 0 ]; then
            echo "FAIL fuzz   fuzz_$t; last lines of $log:"
            tail -n 60 "$log"
            for f in "${found[@]}"; do
                cp "$f" "$fz/corpus/$t/"
                echo "     input kept as tests/fuzz/corpus/$t/$(basename "$f")"
            done
            failed+=("$t")
        else
            echo "ok   fuzz   fuzz_$t: ${runs:-?} runs, ${eps:-?} exec/s; ${cov0:-?} -> ${cov1:-?}"
        fi
    done
    echo "fuzz: fuzzing took $((SECONDS - t0)) s ($secs s per target, $jobs at a time)"
fi

echo "fuzz: $(( ${#targets[@]} - ${#failed[@]} )) passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
