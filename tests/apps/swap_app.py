"""An app written for python-socketio, unchanged: served by
`python -m fastsio serve` it must run on fastsio (tests/test_swap.py).
REDIS_URL set: AsyncRedisManager, as Open WebUI does with several workers."""
import os

import socketio
from socketio import AsyncRedisManager
from socketio.exceptions import ConnectionRefusedError
from socketio.packet import Packet

manager = AsyncRedisManager(os.environ["REDIS_URL"]) if os.environ.get("REDIS_URL") else None
sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager)
app = socketio.ASGIApp(sio)


class JSONOnlyPacket(Packet):
    """Subclassing socketio.packet.Packet, as Open WebUI does."""


@sio.event
async def connect(sid, environ, auth):
    if auth and auth.get("refuse"):
        raise ConnectionRefusedError("refused")
    await sio.enter_room(sid, "all")


@sio.event
async def impl(sid):
    return {"server": type(sio).__module__, "manager": type(sio.manager).__module__,
            "client": socketio.AsyncClient.__module__, "packet": JSONOnlyPacket.__mro__[1].__module__,
            "pid": os.getpid()}


@sio.event
async def shout(sid, data):
    await sio.emit("shout", data, to="all")
    return "ok"
