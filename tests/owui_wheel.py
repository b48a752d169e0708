"""The pinned Open WebUI wheel from PyPI, downloaded once into build/wheels.

Tests import single modules of it without installing the package, e.g. its
per-room Redis manager: open_webui_modules() extracts the package's top
__init__ and its socket/ folder (a namespace package, which zipimport cannot
load) and returns the directory to put on sys.path.
"""
import glob
import zipfile
import os
import subprocess
import sys

OPENWEBUI_VERSION = "0.12.4"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHEELS = os.path.join(ROOT, "build", "wheels")


def open_webui_wheel():
    pattern = os.path.join(WHEELS, f"open_webui-{OPENWEBUI_VERSION}-*.whl")
    found = glob.glob(pattern)
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        f"open-webui=={OPENWEBUI_VERSION}", "-d", WHEELS], check=True)
        found = glob.glob(pattern)
    return found[0]


def open_webui_modules():
    target = os.path.join(WHEELS, f"open_webui-{OPENWEBUI_VERSION}-modules")
    if not os.path.isdir(target):
        with zipfile.ZipFile(open_webui_wheel()) as wheel:
            members = [n for n in wheel.namelist()
                       if n == "open_webui/__init__.py" or n.startswith("open_webui/socket/")]
            wheel.extractall(target + ".tmp", members)
        os.replace(target + ".tmp", target)
    return target
