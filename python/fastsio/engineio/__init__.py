"""python-engineio's asyncio server API over fastsio's Engine.IO layer.

    from fastsio import engineio

    eio = engineio.AsyncServer(async_mode="asgi")
    app = engineio.ASGIApp(eio)              # served at /engine.io/

    @eio.on("message")
    async def message(sid, data):            # str (JSON texts decoded) or bytes
        await eio.send(sid, data)

- server.py  AsyncServer: handlers, send, disconnect, sessions, over
             fastsio.engine.EngineServer and its C hub queues
- asgi.py    ASGIApp: fastsio.asgi.ASGIApp with engineio_path="engine.io"

Thread: the asyncio loop that serves the ASGI app, as in fastsio.engine.
"""
from .asgi import ASGIApp
from .server import AsyncServer

__all__ = ["AsyncServer", "ASGIApp"]
