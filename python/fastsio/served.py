"""The app uvicorn loads under ``python -m fastsio serve MODULE:APP``.

Installs the swap (``import socketio`` is fastsio, see swap.py), then imports
the app named by FASTSIO_SERVE_APP. uvicorn imports this module by name in
every process it runs the app in (``--workers`` and ``--reload`` start new
interpreters), so each of them gets the swap before the app's first import.
"""
import os

from uvicorn.importer import import_from_string

from . import swap

swap.install()
app = import_from_string(os.environ["FASTSIO_SERVE_APP"])
