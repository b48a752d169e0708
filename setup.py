"""Builds fastsio._core from csrc/ against libwebsockets, hiredis, jansson and zlib.

The C libraries are found with pkg-config; a missing one stops the build with
the Debian package that provides it. FASTSIO_SANITIZE=1 builds with ASan/UBSan.
"""
import glob
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup

# pkg-config name -> Debian package that provides it
REQUIRED_LIBS = {
    "libwebsockets": "libwebsockets-dev",
    "hiredis": "libhiredis-dev",
    "jansson": "libjansson-dev",
    "zlib": "zlib1g-dev",   # permessage-deflate of the native transport
}


def pkg_config(*args):
    return subprocess.run(["pkg-config", *args], check=True, capture_output=True,
                          text=True).stdout.split()


def library_flags():
    if shutil.which("pkg-config") is None:
        sys.exit("fastsio: pkg-config not found; install it with: "
                 "apt-get install pkg-config")
    missing = [apt for name, apt in REQUIRED_LIBS.items()
               if subprocess.run(["pkg-config", "--exists", name]).returncode != 0]
    if missing:
        sys.exit("fastsio: missing C libraries; install them with: apt-get install "
                 + " ".join(missing))
    names = list(REQUIRED_LIBS)
    return pkg_config("--cflags", *names), pkg_config("--libs", *names)


# csrc/core: codecs, hub, inbox (no Python.h); csrc/redis: hiredis client,
# pub/sub envelope, near cache (no Python.h); csrc/transport: the lws thread
# (no Python.h); csrc/py: the binding layer only.
SOURCE_DIRS = ("core", "redis", "py", "merge", "transport")

cflags, libs = library_flags()
extra_compile = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden"] + cflags
extra_link = list(libs) + ["-lpthread"]
if os.environ.get("FASTSIO_SANITIZE") == "1":
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1"]
    extra_compile += san
    extra_link += san

setup(
    ext_modules=[
        Extension(
            "fastsio._core",
            sources=sorted(glob.glob("csrc/*/*.c")),
            include_dirs=[f"csrc/{d}" for d in SOURCE_DIRS],
            extra_compile_args=extra_compile,
            extra_link_args=extra_link,
        )
    ],
)
