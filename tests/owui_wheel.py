"""The pinned Open WebUI wheel from PyPI, downloaded once into build/wheels.

Tests import single modules of it straight from the wheel (zipimport), e.g.
its per-room Redis manager, without installing the package.
"""
import glob
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
