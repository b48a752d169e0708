"""Server for tests/test_limits.py: the input and output limits.

Identical source for both implementations (tests.apps.impl); the handlers
report what the server saw so the tests can assert on it from outside:

  size(*args)        -> [[type name, length], ...] of its arguments (an ack)
  up(*args)          counts calls and the lengths of its bytes arguments
  calls()            -> {"up": n, "sizes": [[len, ...], ...]}
  pending()          -> len(sio._binary_packet): binary packets waiting for
                        attachments (python-socketio keeps the same dict)
  flood(spec)        emits spec["count"] events of spec["size"] bytes to spec["to"]
  reason_of(sid)     -> the disconnect reason of another client, waiting up to 5 s
  mode()             -> {"spec": bool}: fastsio's protocol mode (an invalid
                        packet ends the connection when true; python-socketio
                        and compat="python-socketio" ignore it)
  post_cpu()         -> CPU seconds of the loop thread spent in each polling
                        POST since the last call (time.thread_time around the
                        ASGI call; tests send one POST at a time)

Options from the environment:
  APP_MAX_BUFFER=<n>        max_http_buffer_size (default 1000000)
  APP_MAX_QUEUE_BYTES=<n>   max_queue_bytes (fastsio only)
  APP_PING=<seconds>        ping_interval = ping_timeout (default 20)
  APP_COMPAT=1              compat="python-socketio" (fastsio only)
  APP_MAX_PENDING=<n>       max_pending_connections (fastsio only)
"""
import asyncio
import os
import time

from tests.apps.impl import IMPL, socketio

ping = float(os.environ.get("APP_PING", "20"))
options = {"max_http_buffer_size": int(os.environ.get("APP_MAX_BUFFER", "1000000")),
           "ping_interval": ping, "ping_timeout": ping}
if IMPL == "fastsio" and os.environ.get("APP_MAX_QUEUE_BYTES"):
    options["max_queue_bytes"] = int(os.environ["APP_MAX_QUEUE_BYTES"])
if IMPL == "fastsio" and os.environ.get("APP_COMPAT") == "1":
    options["compat"] = "python-socketio"
if IMPL == "fastsio" and os.environ.get("APP_MAX_PENDING"):
    options["max_pending_connections"] = int(os.environ["APP_MAX_PENDING"])

sio = socketio.AsyncServer(async_mode="asgi", **options)
sio_app = socketio.ASGIApp(sio)
reasons = {}
up_calls = {"up": 0, "sizes": []}
post_cpu_times = []


async def app(scope, receive, send):
    if scope["type"] == "http" and scope.get("method") == "POST":
        start = time.thread_time()
        try:
            await sio_app(scope, receive, send)
        finally:
            post_cpu_times.append(time.thread_time() - start)
        return
    await sio_app(scope, receive, send)


@sio.event
async def disconnect(sid, reason=None):
    reasons[sid] = reason


@sio.event
async def size(sid, *args):
    return [[type(a).__name__, len(a) if isinstance(a, (str, bytes)) else None]
            for a in args]


@sio.event
async def up(sid, *args):
    up_calls["up"] += 1
    up_calls["sizes"].append([len(a) if isinstance(a, bytes) else -1 for a in args])


@sio.event
async def calls(sid):
    return up_calls


@sio.event
async def pending(sid):
    return len(sio._binary_packet)


@sio.event
async def flood(sid, spec):
    blob = "y" * spec["size"]
    for i in range(spec["count"]):
        await sio.emit("flood", {"i": i, "blob": blob}, to=spec["to"])
        if i % 8 == 0:
            await asyncio.sleep(0)
    return spec["count"]


@sio.event
async def reason_of(sid, other):
    for _ in range(100):
        if other in reasons:
            return reasons[other]
        await asyncio.sleep(0.05)
    return None


@sio.event
async def mode(sid):
    return {"spec": bool(getattr(sio, "spec", False))}


@sio.event
async def post_cpu(sid):
    times = list(post_cpu_times)
    post_cpu_times.clear()
    return times
