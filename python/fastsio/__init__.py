"""fastsio: python-socketio's asyncio server API with the hot path in C.

    import fastsio as socketio

    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
    app = socketio.ASGIApp(sio)
"""
from . import exceptions, packet
from .asgi import ASGIApp
from .manager import AsyncManager
from .namespace import AsyncNamespace
from .redis_dict import CachedRedisDict, RedisDict
from .redis_lock import RedisLock
from .redis_manager import AsyncRedisManager
from .server import AsyncServer
from .stream import Stream
from .ydoc import YdocStore

__version__ = "0.1.0"

__all__ = ["AsyncServer", "ASGIApp", "AsyncManager", "AsyncNamespace", "AsyncRedisManager",
           "RedisDict", "CachedRedisDict", "RedisLock", "Stream", "YdocStore", "exceptions", "packet"]
