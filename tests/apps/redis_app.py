"""Server app for the multi-process Redis tests (tests/test_redis_manager.py).

Same source for both implementations (tests.apps.impl). Environment:
  REDIS_URL        the Redis server
  REDIS_MANAGER    plain: AsyncRedisManager (python-socketio's or fastsio's)
                   rooms: per-room channels -- fastsio's AsyncRedisManager(
                          room_channels=True), or, for python-socketio, Open
                          WebUI 0.12.4's own AsyncRedisRoomChannelManager,
                          imported from its wheel (OPENWEBUI_MODULES)
  APP_JSON=orjson  the server's json= module

Handlers let a test client drive cross-process operations and report what
this process sees; every client joins room "everyone" on connect.
"""
import os
import sys

from tests.apps.impl import IMPL, socketio

url = os.environ["REDIS_URL"]
mode = os.environ.get("REDIS_MANAGER", "plain")
if mode == "rooms" and IMPL == "python-socketio":
    sys.path.insert(0, os.environ["OPENWEBUI_MODULES"])
    from open_webui.socket.redis_room_channels import AsyncRedisRoomChannelManager
    manager = AsyncRedisRoomChannelManager(url)
elif mode == "rooms":
    manager = socketio.AsyncRedisManager(url, room_channels=True)
else:
    manager = socketio.AsyncRedisManager(url)

options = {}
if os.environ.get("APP_JSON") == "orjson":
    import orjson

    class OrjsonModule:
        @staticmethod
        def dumps(obj, **kwargs):
            return orjson.dumps(obj).decode()

        @staticmethod
        def loads(text, **kwargs):
            return orjson.loads(text)

    options["json"] = OrjsonModule

sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, **options)
app = socketio.ASGIApp(sio)


@sio.event
async def connect(sid, environ, auth):
    await sio.enter_room(sid, "everyone")


@sio.event
async def whoami(sid):
    return {"sid": sid, "host_id": manager.host_id, "impl": IMPL}


@sio.event
async def join(sid, room):
    await sio.enter_room(sid, room)
    return "joined"


@sio.event
async def leave(sid, room):
    await sio.leave_room(sid, room)
    return "left"


@sio.event
async def emit(sid, req):
    """req: {event, data, to, skip_self, args (list: several arguments)}"""
    if "args" in req:
        data = tuple(req["args"])
    else:
        data = req.get("data")
    await sio.emit(req["event"], data, to=req.get("to"),
                   skip_sid=sid if req.get("skip_self") else None)
    return "sent"


@sio.event
async def emit_binary(sid, req):
    await sio.emit(req["event"], {"blob": bytes(req["bytes"]), "n": len(req["bytes"])},
                   to=req.get("to"))
    return "sent"


@sio.event
async def call(sid, req):
    """Asks another client (possibly on another process) for an ack."""
    try:
        return {"answer": await sio.call(req["event"], req.get("data"), to=req["to"],
                                         timeout=req.get("timeout", 5))}
    except Exception as exc:
        return {"error": type(exc).__name__}


@sio.event
async def enter_other(sid, req):
    await sio.enter_room(req["sid"], req["room"])
    return "ok"


@sio.event
async def leave_other(sid, req):
    await sio.leave_room(req["sid"], req["room"])
    return "ok"


@sio.event
async def kick(sid, other):
    await sio.disconnect(other)
    return "ok"


@sio.event
async def close(sid, room):
    await sio.close_room(room)
    return "ok"
