"""Engine.IO v4 server: transport-neutral sessions and the ASGI transports.

- session.py    Session (state, ping/pong timers, outbound queue, receive,
                close/release) and Reason: no transport in it
- server.py     EngineServer: sessions table, ids, hub hooks, handshake,
                request routing
- environ.py    ASGI request -> python-engineio's WSGI-style environ
- http.py       HTTP answers: errors, CORS, JSONP, cookie, compression
- polling.py    ASGI long-polling transport (GET/POST)
- websocket.py  ASGI websocket transport, upgrade probe included

Thread: all of it runs on the asyncio loop that serves the ASGI app.
"""
from .server import EngineServer
from .session import Reason, Session

__all__ = ["EngineServer", "Reason", "Session"]
