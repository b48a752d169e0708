"""Runs the C core tests (tests/c/test_*.c, built with ASan/UBSan)."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_c_core_under_sanitizers():
    proc = subprocess.run(["bash", os.path.join(ROOT, "tests", "c", "run.sh")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS test_core" in proc.stdout
