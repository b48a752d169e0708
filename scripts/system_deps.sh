#!/usr/bin/env bash
# Installs the Debian packages fastsio builds and tests with, when missing:
# the C libraries (pkg-config names them), a compiler, redis-server (the Redis
# tests start their own on free ports), node and npm, clang with libFuzzer.
# Sourced by scripts/demo.sh and scripts/test.sh.
need_apt=()
for pc in libwebsockets:libwebsockets-dev hiredis:libhiredis-dev jansson:libjansson-dev zlib:zlib1g-dev; do
    pkg-config --exists "${pc%%:*}" 2>/dev/null || need_apt+=("${pc##*:}")
done
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v gcc >/dev/null || need_apt+=(gcc)
command -v redis-server >/dev/null || need_apt+=(redis-server)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
# clang and libFuzzer for scripts/fuzz.sh: Debian 12's clang (14) ships
# -fsanitize=fuzzer's runtime in libclang-rt-14-dev, which clang only recommends
command -v clang >/dev/null || need_apt+=(clang)
if ! command -v clang >/dev/null ||
    [ ! -e "$(clang -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a" ]; then
    need_apt+=(libclang-rt-14-dev)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_apt[@]}"
fi
