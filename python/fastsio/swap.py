"""The zero-edit swap: inside a served app, ``import socketio`` is fastsio.

``install()`` imports python-socketio first (it stays installed: its client
classes are still used, e.g. Open WebUI's ``socketio.AsyncClient``), then puts
a facade module in ``sys.modules["socketio"]`` whose names are fastsio's where
fastsio has them (``AsyncServer``, ``ASGIApp``, ``AsyncManager``,
``AsyncNamespace``, ``AsyncRedisManager``, ``packet``, ``exceptions``, ...) and
python-socketio's otherwise. The submodules an app imports by name
(``socketio.packet``, ``socketio.exceptions``, ``socketio.asgi``,
``socketio.async_redis_manager``, ...) are swapped the same way. python-socketio's
own modules keep the references they took at import time, so its client side
is untouched. Idempotent.
"""
import importlib
import sys
import types

import fastsio

# name in socketio -> fastsio object
_SWAPPED_NAMES = ("AsyncServer", "ASGIApp", "AsyncManager", "AsyncNamespace",
                  "AsyncRedisManager", "packet", "exceptions")
# submodule of socketio -> fastsio module exposing the same names
_SWAPPED_MODULES = {
    "socketio.packet": "fastsio.packet",
    "socketio.exceptions": "fastsio.exceptions",
    "socketio.asgi": "fastsio.asgi",
    "socketio.async_server": "fastsio.server",
    "socketio.async_manager": "fastsio.manager",
    "socketio.async_namespace": "fastsio.namespace",
    "socketio.async_redis_manager": "fastsio.redis_manager",
}


class _Facade(types.ModuleType):
    """``socketio`` as the served app sees it."""

    def __getattr__(self, name):
        return getattr(self.__dict__["_python_socketio"], name)

    def __dir__(self):
        return sorted(set(dir(self.__dict__["_python_socketio"])) | set(self.__dict__))


def installed():
    return isinstance(sys.modules.get("socketio"), _Facade)


def install():
    """Makes ``socketio`` resolve to fastsio for every later import."""
    if installed():
        return sys.modules["socketio"]
    real = importlib.import_module("socketio")
    facade = _Facade("socketio", "python-socketio's API served by fastsio")
    facade.__dict__["_python_socketio"] = real
    facade.__path__ = list(getattr(real, "__path__", []))
    facade.__file__ = getattr(real, "__file__", None)
    facade.__fastsio__ = fastsio.__version__
    for name in _SWAPPED_NAMES:
        setattr(facade, name, getattr(fastsio, name))
    for alias, target in _SWAPPED_MODULES.items():
        module = importlib.import_module(target)
        sys.modules[alias] = module
        setattr(facade, alias.rpartition(".")[2], module)
    sys.modules["socketio"] = facade
    from . import openwebui
    openwebui.install()
    return facade
