"""The server the Socket.IO v5 protocol documents describe for conformance
checks: pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1e6, a 1.5 s
connect timeout (the documents' JS server uses 1 s; the polling heartbeat
check holds a session without a namespace for 3 ping intervals, 0.9 s plus
its requests, too close to 1 s for a loaded test machine), any origin; every connection is told its auth payload
("auth"), "message" is echoed back as "message-back", "message-with-ack" is
acked with its own arguments, and namespace /custom accepts connections.

Identical source for both implementations (tests.apps.impl). APP_COMPAT=1
passes compat="python-socketio" to fastsio (python-socketio's own answers
where they depart from the specification).
"""
import os

from tests.apps.impl import IMPL, socketio

options = {"ping_interval": 0.3, "ping_timeout": 0.2, "max_http_buffer_size": 1000000,
           "cors_allowed_origins": "*"}
if IMPL == "fastsio":
    if os.environ.get("APP_COMPAT") == "1":
        options["compat"] = "python-socketio"      # and no connect timeout
    else:
        options["connect_timeout"] = 1.5

sio = socketio.AsyncServer(async_mode="asgi", **options)


@sio.on("connect")
async def connect(sid, environ, auth=None):
    await sio.emit("auth", auth or {}, to=sid)


@sio.on("message")
async def message(sid, *args):
    await sio.emit("message-back", args, to=sid)


@sio.on("message-with-ack")
async def message_with_ack(sid, *args):
    return args


@sio.on("connect", namespace="/custom")
async def connect_custom(sid, environ, auth=None):
    await sio.emit("auth", auth or {}, to=sid, namespace="/custom")


app = socketio.ASGIApp(sio)
