#!/usr/bin/env bash
# Builds benchmarks/evloop/evloop_bench.c (-O2, no sanitizers) and runs the
# event-loop matrix of docs/native-event-loop.md: every mode x connection
# count x loop, the loops interleaved within each repetition. Needs root (or
# a hard RLIMIT_NOFILE above 2N+1024).
#   benchmarks/evloop/run.sh                 # 3 reps, 100/1000/10000, poll uv ev
#   REPS=1 SIZES="100" LOOPS="poll ev" MODES="lockstep" benchmarks/evloop/run.sh
#   benchmarks/evloop/run.sh strace          # syscalls of the service thread per delivery
# Results: one "result ..." line per run on stdout and in build/evloop/results.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$root/build/evloop
mkdir -p "$out"
gcc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror \
    -I"$root/csrc/core" -I"$root/csrc/transport" $(pkg-config --cflags libwebsockets) \
    -o "$out/evloop_bench" "$here/evloop_bench.c" "$root"/csrc/core/*.c "$root"/csrc/transport/*.c \
    $(pkg-config --libs libwebsockets) -lz -lpthread
bin=$out/evloop_bench
REPS=${REPS:-3}
SIZES=${SIZES:-"100 1000 10000"}
LOOPS=${LOOPS:-"poll uv ev"}
MODES=${MODES:-"idle lockstep free trickle"}
IDLE_S=${IDLE_S:-20}
TRICKLE_S=${TRICKLE_S:-10}

frames_for() {   # broadcasts per run: lockstep 1e5-2e5 deliveries, free 5e6
    local mode=$1 n=$2
    if [ "$mode" = lockstep ]; then echo $(( n >= 10000 ? 20 : (n >= 1000 ? 200 : 1000) ))
    else echo $(( n >= 10000 ? 500 : (n >= 1000 ? 5000 : 50000) )); fi
}
arg_for() {
    case $1 in idle) echo "$IDLE_S";; trickle) echo "$TRICKLE_S";; *) frames_for "$1" "$2";; esac
}

if [ "${1:-}" = strace ]; then
    # One short run per loop and mode at SIZES; counts only the service thread's syscalls.
    for n in $SIZES; do for mode in lockstep trickle; do for loop in $LOOPS; do
        a=$(arg_for "$mode" "$n"); [ "$mode" = trickle ] && a=3
        FASTSIO_LWS_LOOP=$loop strace -f -qq -e trace=poll,ppoll,epoll_wait,epoll_pwait,epoll_ctl,write,read,writev,sendto,recvfrom \
            -o "$out/strace.$loop.$mode.$n" "$bin" "$mode" "$n" "$a" > "$out/strace.$loop.$mode.$n.out"
        tid=$(sed -n 's/^service_tid=//p' "$out/strace.$loop.$mode.$n.out")
        dl=$(sed -n 's/.* deliveries=\([0-9]*\).*/\1/p' "$out/strace.$loop.$mode.$n.out")
        printf 'strace loop=%s mode=%s n=%s deliveries=%s' "$loop" "$mode" "$n" "$dl"
        for sc in poll epoll_wait epoll_ctl write read; do
            c=$(grep -c "^$tid  *$sc(" "$out/strace.$loop.$mode.$n" || true)
            printf ' %s=%s per_delivery_%s=%.3f' "$sc" "$c" "$sc" "$(echo "$c / $dl" | bc -l)"
        done
        echo
    done; done; done | tee "$out/strace.txt"
    exit 0
fi

: > "$out/results.txt"
for rep in $(seq 1 "$REPS"); do
    for n in $SIZES; do for mode in $MODES; do for loop in $LOOPS; do
        FASTSIO_LWS_LOOP=$loop "$bin" "$mode" "$n" "$(arg_for "$mode" "$n")" | grep '^result' |
            sed "s/^result /result rep=$rep /" | tee -a "$out/results.txt"
    done; done; done
done
