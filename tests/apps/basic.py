"""Black-box server app for test_client_python / test_wire / test_http_errors.

Identical source for both implementations (`socketio` is python-socketio or
fastsio, picked by tests.apps.impl). Server options come from the environment
so one module serves every variant:

  APP_ALWAYS_CONNECT=1   always_connect=True
  APP_PING=<seconds>     ping_interval = ping_timeout = <seconds>
  APP_PING_INTERVAL / APP_PING_TIMEOUT   the two separately
  APP_CORS=<json>        cors_allowed_origins (e.g. '"*"' or '["http://ok.test"]');
                         unset -> the library default (same origin only)
  APP_CORS_CREDENTIALS=0 cors_credentials=False
  APP_MAX_BUFFER=<n>     max_http_buffer_size
  APP_OTHER=1            ASGIApp(sio, other_asgi_app=<tiny ASGI app>)
  APP_MOUNT=1            FastAPI app with ASGIApp mounted at /ws
                         (socketio_path="/ws/socket.io") and GET /health
  APP_COMPAT=1           fastsio only: compat="python-socketio"

The handlers report server-side state back to the client so tests can assert
on what the server saw.
"""
import json
import os

from tests.apps.impl import IMPL, socketio

options = {}
if IMPL == "fastsio" and os.environ.get("APP_COMPAT") == "1":
    options["compat"] = "python-socketio"
if os.environ.get("APP_PING"):
    options["ping_interval"] = float(os.environ["APP_PING"])
    options["ping_timeout"] = float(os.environ["APP_PING"])
if os.environ.get("APP_PING_INTERVAL"):
    options["ping_interval"] = float(os.environ["APP_PING_INTERVAL"])
if os.environ.get("APP_PING_TIMEOUT"):
    options["ping_timeout"] = float(os.environ["APP_PING_TIMEOUT"])
if os.environ.get("APP_CORS"):
    options["cors_allowed_origins"] = json.loads(os.environ["APP_CORS"])
if os.environ.get("APP_CORS_CREDENTIALS") == "0":
    options["cors_credentials"] = False
if os.environ.get("APP_MAX_BUFFER"):
    options["max_http_buffer_size"] = int(os.environ["APP_MAX_BUFFER"])

sio = socketio.AsyncServer(
    async_mode="asgi",
    always_connect=os.environ.get("APP_ALWAYS_CONNECT") == "1",
    **options)

# sid -> disconnect reason, per namespace
reasons = {}
# sids whose connect handler ran, in order
connected = []


def own_rooms(sid, rooms):
    """A sid's rooms with its own room first, the rest sorted (sids are random,
    so a plain sort would order them differently from run to run)."""
    return [sid] + sorted(r for r in rooms if r != sid)


async def wait_reason(namespace, sid, timeout=5.0):
    for _ in range(int(timeout / 0.02)):
        if (namespace, sid) in reasons:
            return reasons[(namespace, sid)]
        await sio.sleep(0.02)
    return "<no disconnect seen>"


# ---------------------------------------------------------------- namespace /

@sio.event
async def connect(sid, environ, auth=None):
    mode = (auth or {}).get("refuse") if isinstance(auth, dict) else None
    if mode == "custom":
        raise socketio.exceptions.ConnectionRefusedError("bad", {"x": 1})
    if mode == "message":
        raise socketio.exceptions.ConnectionRefusedError("just a message")
    if mode == "empty":
        raise socketio.exceptions.ConnectionRefusedError()
    if mode == "false":
        return False
    connected.append(sid)
    await sio.save_session(sid, {"auth": auth, "count": 0})
    if isinstance(auth, dict) and auth.get("room"):
        await sio.enter_room(sid, auth["room"])


@sio.event
async def disconnect(sid, reason):
    reasons[("/", sid)] = reason


@sio.event
async def whoami(sid):
    session = await sio.get_session(sid)
    return {"sid": sid, "rooms": own_rooms(sid, sio.rooms(sid)),
            "transport": sio.transport(sid), "session": session}


@sio.event
async def environ(sid):
    env = sio.get_environ(sid)
    return {"query": env.get("QUERY_STRING"), "method": env.get("REQUEST_METHOD"),
            "path": env.get("PATH_INFO"), "x_test": env.get("HTTP_X_TEST")}


@sio.event
async def echo(sid, *args):
    """Emits 'echoed' with the same arguments to the sender, then returns them
    as the ack (a tuple return -> one ack argument per element)."""
    await sio.emit("echoed", args, to=sid)
    return args


@sio.event
async def echo_one(sid, data=None):
    return data


@sio.event
async def no_return(sid, *args):
    return None


@sio.on("message")
async def message(sid, data):
    await sio.send(["message-echo", data], to=sid)
    return "got message"


@sio.event
async def send_me(sid, data):
    await sio.send(data, to=sid)
    return True


@sio.event
async def join(sid, room):
    await sio.enter_room(sid, room)
    return own_rooms(sid, sio.rooms(sid))


@sio.event
async def leave(sid, room):
    await sio.leave_room(sid, room)
    return own_rooms(sid, sio.rooms(sid))


@sio.event
async def close(sid, room):
    await sio.close_room(room)
    return True


@sio.event
async def participants(sid, spec):
    """Sorted sids in a room; with spec["ask"] = [sid, ...] instead a list of
    booleans (is that sid a participant), plus the count."""
    ns = spec.get("ns", "/")
    sids = sorted(s for s, _ in sio.manager.get_participants(ns, spec["room"]))
    if "ask" in spec:
        return {"in": [s in sids for s in spec["ask"]], "count": len(sids)}
    return sids


@sio.event
async def room_members(sid, spec):
    """sio.manager.rooms[ns][room] read as a mapping (sid -> eio sid)."""
    ns = spec.get("ns", "/")
    rooms = sio.manager.rooms.get(ns, {})
    if spec["room"] not in rooms:
        return None
    return sorted(rooms[spec["room"]].keys())


@sio.event
async def shout(sid, spec):
    """emit('news', data, to=..., skip_sid=..., namespace=...)."""
    kwargs = {}
    if "to" in spec:
        kwargs["to"] = spec["to"]
    if "skip" in spec:
        kwargs["skip_sid"] = spec["skip"]
    if "ns" in spec:
        kwargs["namespace"] = spec["ns"]
    await sio.emit(spec.get("event", "news"), spec.get("data"), **kwargs)
    return True


@sio.event
async def ask(sid, spec):
    """sio.call(...) back to a client; returns the answer, or the name of the
    exception it raised."""
    try:
        answer = await sio.call(spec.get("event", "question"), spec.get("data"),
                                to=spec.get("to", sid), timeout=spec["timeout"])
        return {"answer": answer}
    except socketio.exceptions.TimeoutError as exc:
        return {"error": type(exc).__name__,
                "is_timeout": isinstance(exc, socketio.exceptions.TimeoutError)}


@sio.event
async def ask_cb(sid, data):
    """emit with callback= to the client; returns the callback's arguments."""
    got = []
    done = []

    def cb(*args):
        got.append(list(args))
        done.append(True)

    await sio.emit("cb_event", data, to=sid, callback=cb)
    for _ in range(250):
        if done:
            return got[0]
        await sio.sleep(0.02)
    return "no callback"


@sio.event
async def kick(sid, target=None):
    await sio.disconnect(target or sid)
    return True


@sio.event
async def reason_of(sid, spec):
    return await wait_reason(spec.get("ns", "/"), spec["sid"])


@sio.event
async def connected_sids(sid):
    return list(connected)


@sio.event
async def bump(sid):
    async with sio.session(sid) as session:
        session["count"] += 1
        return session["count"]


@sio.event
async def set_session(sid, data):
    session = await sio.get_session(sid)
    session.update(data)
    await sio.save_session(sid, session)
    return True


@sio.event
async def add_handler(sid, name):
    async def dynamic(sid, data):
        return ["dynamic", name, data]
    sio.handlers["/"][name] = dynamic
    return True


@sio.event
async def remove_handler(sid, name):
    del sio.handlers["/"][name]
    return True


@sio.event
async def background(sid, n):
    async def later():
        await sio.sleep(0.1)
        await sio.emit("later", n, to=sid)
    sio.start_background_task(later)
    return "started"


@sio.on("*")
async def catch_all(event, sid, *args):
    return ["caught", event, list(args)]


# ------------------------------------------------------------ namespace /chat

class Chat(socketio.AsyncNamespace):
    async def on_connect(self, sid, environ, auth=None):
        if isinstance(auth, dict) and auth.get("refuse_chat"):
            raise socketio.exceptions.ConnectionRefusedError("no chat", {"ns": "chat"})
        await self.enter_room(sid, "chatters")

    async def on_disconnect(self, sid, reason):
        reasons[("/chat", sid)] = reason

    async def on_say(self, sid, text):
        await self.emit("said", {"from": sid, "text": text}, room="chatters")
        return "ok"

    async def on_whoami(self, sid):
        return {"sid": sid, "rooms": own_rooms(sid, self.rooms(sid)),
                "namespace": self.namespace}

    async def on_echo(self, sid, *args):
        return args

    async def on_ask(self, sid, data):
        return await self.call("question", data, to=sid, timeout=5)


sio.register_namespace(Chat("/chat"))


# ---------------------------------------------------------------- ASGI app

async def other_app(scope, receive, send):
    """A plain ASGI app for non-Socket.IO paths (APP_OTHER=1)."""
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    body = f"other app: {scope['method']} {scope['path']}".encode()
    await send({"type": "http.response.start", "status": 299,
                "headers": [(b"content-type", b"text/x-other")]})
    await send({"type": "http.response.body", "body": body})


if os.environ.get("APP_MOUNT") == "1":
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/health")
    async def health():
        return {"ok": True}

    app.mount("/ws", socketio.ASGIApp(sio, socketio_path="/ws/socket.io"))
elif os.environ.get("APP_OTHER") == "1":
    app = socketio.ASGIApp(sio, other_asgi_app=other_app)
else:
    app = socketio.ASGIApp(sio)
