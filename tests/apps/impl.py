"""Imports the Socket.IO implementation under test as `socketio`.

FASTSIO_TEST_IMPL=python-socketio -> the reference python-socketio package;
FASTSIO_TEST_IMPL=fastsio (default) -> `import fastsio as socketio`.
"""
import os

IMPL = os.environ.get("FASTSIO_TEST_IMPL", "fastsio")
if IMPL == "python-socketio":
    import socketio  # noqa: F401
elif IMPL == "fastsio":
    import fastsio as socketio  # noqa: F401
else:
    raise RuntimeError(f"unknown FASTSIO_TEST_IMPL={IMPL!r}")
