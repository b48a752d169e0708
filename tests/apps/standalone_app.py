"""A fastsio AsyncServer with no ASGI app around it, for
tests/test_native_standalone.py (`python -m fastsio serve-native
tests.apps.standalone_app:sio`)."""
import fastsio

sio = fastsio.AsyncServer(cors_allowed_origins="*")


@sio.event
async def connect(sid, environ, auth=None):
    await sio.save_session(sid, {"scheme": environ["asgi.scope"].get("scheme"),
                                 "path": environ["asgi.scope"]["path"]})


@sio.event
async def disconnect(sid, reason=None):
    print(f"disconnect handler: {sid} {reason}", flush=True)


@sio.event
async def echo(sid, data):
    return data


@sio.event
async def shout(sid, data):
    await sio.emit("shout", data)
    return "ok"


@sio.event
async def info(sid):
    """The connection's scheme and path, its transport, and the native
    transport's counters (None while nothing was adopted)."""
    return {**await sio.get_session(sid), "transport": sio.transport(sid),
            "stats": sio.eio.native_stats()}
