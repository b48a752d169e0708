"""Black-box server app, identical for python-socketio and fastsio.

Environment: APP_ALWAYS_CONNECT=1 for always_connect=True; APP_PING_INTERVAL
and APP_PING_TIMEOUT (seconds, default 25 and 20) to shorten the ping cycle, which also bounds how long
python-socketio's server holds a long-poll open after a client has gone;
APP_MOUNT=1 to serve it mounted under FastAPI at /ws/socket.io; APP_CORS, a
comma-separated list of allowed origins (default '*'); APP_MAX_BUFFER, the
max_http_buffer_size; APP_COMPAT=1 (fastsio only) for compat="python-socketio".
"""
import os

from tests.apps.impl import IMPL, socketio

options = {"ping_interval": float(os.environ.get("APP_PING_INTERVAL", "25")),
           "ping_timeout": float(os.environ.get("APP_PING_TIMEOUT", "20"))}
cors = os.environ.get("APP_CORS", "*")
options["max_http_buffer_size"] = int(os.environ.get("APP_MAX_BUFFER", "1000000"))
if IMPL == "fastsio" and os.environ.get("APP_COMPAT") == "1":
    options["compat"] = "python-socketio"
sio = socketio.AsyncServer(async_mode="asgi",
                           cors_allowed_origins=cors if cors == "*" else cors.split(","),
                           always_connect=os.environ.get("APP_ALWAYS_CONNECT") == "1",
                           **options)
reasons = {}


class Chat(socketio.AsyncNamespace):
    async def on_connect(self, sid, environ, auth=None):
        await self.enter_room(sid, "chatters")

    async def on_say(self, sid, text):
        await self.emit("said", {"from": sid, "text": text}, room="chatters")
        return "ok"


sio.register_namespace(Chat("/chat"))


@sio.event
async def connect(sid, environ, auth=None):
    if auth and auth.get("refuse") == "custom":
        raise socketio.exceptions.ConnectionRefusedError("auth failed", {"code": 401})
    if auth and auth.get("refuse") == "plain":
        return False
    query = environ.get("QUERY_STRING", "")
    await sio.save_session(sid, {"auth": auth, "query": query})


@sio.event
async def disconnect(sid, reason=None):
    reasons[sid] = reason


@sio.event
async def whoami(sid):
    session = await sio.get_session(sid)
    return {"sid": sid, "rooms": sorted(sio.rooms(sid)), "transport": sio.transport(sid),
            "auth": session["auth"], "query_has_x": "x=1" in session["query"]}


@sio.event
async def echo(sid, *args):
    """Echoes the arguments back as an event and as the ack (a tuple: one ack
    argument each)."""
    await sio.emit("echoed", list(args), to=sid)
    return tuple(args)


@sio.event
async def join(sid, room):
    await sio.enter_room(sid, room)
    return sorted(sio.rooms(sid))


@sio.event
async def leave(sid, room):
    await sio.leave_room(sid, room)
    return sorted(sio.rooms(sid))


@sio.event
async def close(sid, room):
    await sio.close_room(room)
    return True


@sio.event
async def members(sid, room):
    return sorted(s for s, _ in sio.manager.get_participants("/", room))


@sio.event
async def rooms_view(sid, room):
    return sorted(sio.manager.rooms["/"][room].keys())


@sio.event
async def shout(sid, spec):
    """Emits 'news' to spec['to'] (None, a room or a list), skipping spec['skip']."""
    await sio.emit("news", spec.get("data"), to=spec.get("to"), skip_sid=spec.get("skip"))
    return True


@sio.event
async def ask(sid, spec):
    """Calls the client back and returns its answer, or 'timeout'."""
    try:
        return await sio.call("question", spec["q"], to=sid, timeout=spec["timeout"])
    except socketio.exceptions.TimeoutError:
        return "timeout"


@sio.event
async def kick(sid):
    await sio.disconnect(sid)


@sio.event
async def reason_of(sid, other):
    for _ in range(100):
        if other in reasons:
            return reasons[other]
        await sio.sleep(0.05)
    return None


@sio.event
async def add_handler(sid, name):
    async def dynamic(sid, data):
        return ["dynamic", data]
    sio.handlers["/"][name] = dynamic
    return True


@sio.event
async def remove_handler(sid, name):
    del sio.handlers["/"][name]
    return True


@sio.event
async def fail(sid):
    raise RuntimeError("handler failure on purpose")


@sio.on("*")
async def catch_all(event, sid, data=None):
    return ["caught", event, data]


@sio.event
async def background(sid, n):
    async def later():
        await sio.sleep(0.05)
        await sio.emit("later", n, to=sid)
    sio.start_background_task(later)
    return True


app = socketio.ASGIApp(sio)
if os.environ.get("APP_MOUNT") == "1":
    from fastapi import FastAPI
    api = FastAPI()

    @api.get("/health")
    async def health():
        return {"ok": True}

    api.mount("/ws", socketio.ASGIApp(sio, socketio_path="/ws/socket.io"))
    app = api
