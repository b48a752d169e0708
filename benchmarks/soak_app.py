"""Server app of the soak benchmark (benchmarks/soak.py).

FASTSIO_TEST_IMPL picks python-socketio or fastsio (default), as in
bench_app.py. Two namespaces, "/" and "/chat", with the same handlers:

  connect      joins the rooms named in the auth ({"rooms": [...]}) or in the
               query string (rooms=a,b)
  shout        {"room", "text"}: emits "shouted" to that room, acks {"n": ...}
  bin          bytes: acks {"len": n, "echo": <the bytes>} (a binary ack)

A background task started at ASGI startup emits "tick" to one room every
SOAK_TICK_MS milliseconds, going round the rooms r0..r<SOAK_ROOMS-1> of both
namespaces; every 8th tick carries a binary attachment.

GET /soak/stats answers JSON about the server's own state: Engine.IO sessions
(all, and those not closed yet), hub connections (fastsio), rooms, asyncio
tasks, objects tracked by the gc, memory blocks Python has allocated, bytes in
use by malloc, ack callbacks, the disconnect reasons so far (in "/"), ticks
sent, and the event loop's worst lag (ms) since the last ?reset_lag (?gc: a
gc.collect() first, so that the counts leave out unreachable cycles). It is
the leak probe: once every client is gone, sessions, connections and rooms
are 0 and tasks are back to their idle number. GET /soak/types: the 60
commonest object types after a gc.collect(), for leak hunting.

Environment: SOAK_PING (ping_interval = ping_timeout, seconds; default 5),
SOAK_MAX_QUEUE (fastsio's per-client outbound bound, frames; default 1000),
SOAK_TICK_MS (default 5), SOAK_ROOMS (per namespace; default 20).
"""
import asyncio
import collections
import ctypes
import gc
import json
import os
import sys

if os.environ.get("FASTSIO_TEST_IMPL") == "python-socketio":
    import socketio
    options = {}
else:
    import fastsio as socketio
    options = {"max_queue": int(os.environ.get("SOAK_MAX_QUEUE", "1000"))}

PING = float(os.environ.get("SOAK_PING", "5"))
TICK = float(os.environ.get("SOAK_TICK_MS", "5")) / 1000.0
ROOMS = int(os.environ.get("SOAK_ROOMS", "20"))
NAMESPACES = ("/", "/chat")

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*",
                           ping_interval=PING, ping_timeout=PING, **options)
ticks_sent = 0
lag_max = 0.0            # seconds; reset by GET /soak/stats?reset_lag
reasons = collections.Counter()   # disconnect reason -> clients, in "/"


def rooms_from(environ, auth):
    if isinstance(auth, dict) and isinstance(auth.get("rooms"), list):
        return [str(r) for r in auth["rooms"]]
    for part in environ.get("QUERY_STRING", "").split("&"):
        if part.startswith("rooms="):
            return [r for r in part[len("rooms="):].split(",") if r]
    return []


def register(namespace):
    async def connect(sid, environ, auth=None):
        for room in rooms_from(environ, auth):
            await sio.enter_room(sid, room, namespace=namespace)

    async def disconnect(sid, reason):
        if namespace == "/":
            reasons[reason] += 1

    async def shout(sid, data):
        await sio.emit("shouted", data, to=data["room"], namespace=namespace)
        return {"n": len(data.get("text", ""))}

    async def bin(sid, data):
        return {"len": len(data), "echo": data}

    sio.on("connect", connect, namespace=namespace)
    sio.on("disconnect", disconnect, namespace=namespace)
    sio.on("shout", shout, namespace=namespace)
    sio.on("bin", bin, namespace=namespace)


for ns in NAMESPACES:
    register(ns)


async def broadcaster():
    """One tick every TICK seconds, to the rooms of both namespaces in turn.
    Also the loop-lag probe: how much later than asked each sleep ended."""
    global ticks_sent, lag_max
    blob = bytes(range(64))
    targets = [(ns, f"r{i}") for i in range(ROOMS) for ns in NAMESPACES]
    loop = asyncio.get_running_loop()
    n = 0
    while True:
        asked = loop.time()
        await asyncio.sleep(TICK)
        lag_max = max(lag_max, loop.time() - asked - TICK)
        ns, room = targets[n % len(targets)]
        data = {"n": n, "text": "tick" * 8}
        if n % 8 == 0:
            data["blob"] = blob
        try:
            await sio.emit("tick", data, to=room, namespace=ns)
        except Exception:
            # a failing emit is a bug the soak must show: the traceback goes
            # to the log, which soak.py scans
            sio.logger.exception("tick emit failed")
            raise
        ticks_sent += 1
        n += 1


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def malloc_in_use():
    """Bytes malloc has handed out and not got back (glibc mallinfo2), or
    None where there is no mallinfo2. Python objects of 512 bytes or less
    live in pymalloc's arenas, counted here only as the arenas."""
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except AttributeError:
        return None
    fn.restype = _MallInfo2
    info = fn()
    return info.uordblks + info.hblkhd


def stats():
    eio = sio.eio
    if os.environ.get("SOAK_NATIVE") and eio.native is None:   # set for fastsio only
        # the native transport opens its fds at its first adoption; made
        # here, they are in the harness's initial fd count
        from fastsio.engine import native
        native.transport_of(eio, None)
    out = {"lag_ms": round(lag_max * 1000, 1), "sessions": len(eio.sockets),
           "open": sum(1 for s in list(eio.sockets.values()) if not s.closed),
           "ticks": ticks_sent,
           "tasks": len(asyncio.all_tasks())}
    out["reasons"] = dict(reasons)
    out["objects"] = len(gc.get_objects())
    out["blocks"] = sys.getallocatedblocks()
    out["malloc"] = malloc_in_use()
    out["callbacks"] = sum(len(v) for v in getattr(sio.manager, "callbacks", {}).values())
    hub = getattr(sio, "_hub", None)
    if hub is not None:      # fastsio
        out["conns"] = hub.conn_count()
        out["by_conn"] = len(eio.by_conn)
        out["rooms"] = sum(len(hub.room_names(ns)) for ns in hub.namespaces())
        out["pending_binary"] = len(sio._binary_packet)
        out["environs"] = len(sio.environ)
    else:                    # python-socketio
        out["conns"] = len(eio.sockets)
        out["rooms"] = sum(len(rooms) for rooms in sio.manager.rooms.values())
    return out


async def stats_app(scope, receive, send):
    """Plain ASGI: GET /soak/stats, 404 for anything else."""
    if scope["type"] != "http":
        return
    global lag_max
    if scope["path"] == "/soak/stats":
        if b"gc" in scope["query_string"].split(b"&"):
            gc.collect()
        status, body = 200, json.dumps(stats()).encode()
        if b"reset_lag" in scope["query_string"]:
            lag_max = 0.0
    elif scope["path"] == "/soak/types":
        gc.collect()
        counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        status, body = 200, json.dumps(dict(counts.most_common(60))).encode()
    else:
        status, body = 404, b"Not Found"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


async def start_broadcaster():
    sio.start_background_task(broadcaster)


app = socketio.ASGIApp(sio, other_asgi_app=stats_app, on_startup=start_broadcaster)
