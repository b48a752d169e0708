"""Server app for tests/test_js_client.py (the official JS socket.io-client).

Identical for python-socketio and fastsio: the implementation comes from
tests.apps.impl. Every handler reports what the server saw back to the client
(through acks or events) so that the node scenarios can print it and pytest
can assert on it.
"""
import hashlib

from tests.apps.impl import socketio

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

# sid -> reason given to the disconnect handler (all namespaces; sids are unique)
reasons = {}


def describe(value):
    """JSON-safe description of a received value: bytes become {'$bin': hex}
    ({'$len', '$sha256'} above 1 KiB), with '$type' the Python type name."""
    if isinstance(value, (bytes, bytearray)):
        if len(value) > 1024:
            return {"$len": len(value), "$sha256": hashlib.sha256(value).hexdigest(),
                    "$type": type(value).__name__}
        return {"$bin": bytes(value).hex(), "$type": type(value).__name__}
    if isinstance(value, dict):
        return {k: describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    return value


async def refuse_if_asked(auth):
    """Implements the refusal modes requested through the auth payload."""
    mode = auth.get("refuse") if isinstance(auth, dict) else None
    if mode == "custom":
        raise socketio.exceptions.ConnectionRefusedError("auth failed", {"code": 401})
    if mode == "message":
        raise socketio.exceptions.ConnectionRefusedError("just a message")
    if mode == "multi":
        raise socketio.exceptions.ConnectionRefusedError("several", "b", 3)
    if mode == "bare":
        raise socketio.exceptions.ConnectionRefusedError()
    if mode == "builtin":
        raise ConnectionRefusedError("the builtin one")
    if mode == "false":
        return False
    return True


@sio.event
async def connect(sid, environ, auth=None):
    if not await refuse_if_asked(auth):
        return False
    await sio.save_session(sid, {"auth": auth, "query": environ.get("QUERY_STRING", "")})


@sio.event
async def disconnect(sid, reason=None):
    reasons[sid] = reason


@sio.event
async def whoami(sid):
    session = await sio.get_session(sid)
    return {"sid": sid, "transport": sio.transport(sid), "rooms": sorted(sio.rooms(sid)),
            "auth": session["auth"], "query": session["query"]}


@sio.event
async def barrier(sid):
    """Acked after every packet the server queued earlier for this client."""
    return "ok"


@sio.event
async def echo(sid, *args):
    """Echoes all arguments as the 'echoed' event and as the ack (tuple -> one
    ack argument each)."""
    await sio.emit("echoed", tuple(args), to=sid)
    return tuple(args)


@sio.event
async def echo_one(sid, data):
    """Echoes one value: emitted as-is (data=None emits no argument), returned
    wrapped so that None is distinguishable in the ack."""
    await sio.emit("echoed_one", data, to=sid)
    return {"value": data, "type": type(data).__name__}


@sio.event
async def returns_none(sid):
    return None


@sio.event
async def returns_list(sid):
    return [1, "two", None]


@sio.event
async def describe_args(sid, *args):
    """What the server received, bytes made visible."""
    return describe(list(args))


@sio.event
async def send_bytes(sid):
    """Emits bytes at the top level and nested (several attachments)."""
    await sio.emit("bytes", (bytes(range(256)),
                             {"x": b"\x00\xff", "list": [b"abc", "text", b"\x01" * 70000]}),
                   to=sid)
    return b"ack-bytes\x00"


@sio.event
async def ask(sid, spec):
    """Calls the client back (sio.call) and returns what it answered."""
    try:
        answer = await sio.call(spec["event"], spec.get("data"), to=sid,
                                namespace=spec.get("namespace"), timeout=spec["timeout"])
    except socketio.exceptions.TimeoutError as exc:
        return {"timeout": True, "exception": type(exc).__name__}
    return {"answer": describe(answer), "answer_is_tuple": isinstance(answer, tuple)}


@sio.event
async def ask_callback(sid, spec):
    """Emits with callback=; the callback re-emits its arguments as 'cb_result'."""
    async def cb(*args):
        await sio.emit("cb_result", [list(args)], to=sid)
    await sio.emit(spec["event"], spec.get("data"), to=sid, callback=cb)
    return True


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
async def shout(sid, spec):
    """Emits 'news' to spec['to'] (None, a room, or a list of rooms), skipping
    spec['skip'] (None, a sid, or a list of sids), in spec['namespace']."""
    await sio.emit("news", spec.get("data"), to=spec.get("to"), skip_sid=spec.get("skip"),
                   namespace=spec.get("namespace"))
    return True


@sio.event
async def kick(sid, spec=None):
    """Disconnects spec['sid'] (default: the caller) from spec['namespace']."""
    spec = spec or {}
    await sio.disconnect(spec.get("sid", sid), namespace=spec.get("namespace"))
    return True


@sio.event
async def reason_of(sid, other):
    for _ in range(100):
        if other in reasons:
            return reasons[other]
        await sio.sleep(0.05)
    return "never disconnected"


class Chat(socketio.AsyncNamespace):
    async def on_connect(self, sid, environ, auth=None):
        if not await refuse_if_asked(auth):
            return False
        await self.enter_room(sid, "chatters")

    async def on_disconnect(self, sid, reason=None):
        reasons[sid] = reason

    async def on_whoami(self, sid):
        return {"sid": sid, "namespace": "/chat", "transport": sio.transport(sid, "/chat"),
                "rooms": sorted(self.rooms(sid))}

    async def on_say(self, sid, text):
        await self.emit("said", {"from": sid, "text": text})
        return "ok"

    async def on_barrier(self, sid):
        return "ok"


sio.register_namespace(Chat("/chat"))

app = socketio.ASGIApp(sio)
