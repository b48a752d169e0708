"""Benchmark server app; FASTSIO_TEST_IMPL picks python-socketio or fastsio.
With REDIS_URL set, that library's AsyncRedisManager on that Redis
(benchmarks/redis_broadcast.py)."""
import os

if os.environ.get("FASTSIO_TEST_IMPL") == "python-socketio":
    import socketio
else:
    import fastsio as socketio

manager = (socketio.AsyncRedisManager(os.environ["REDIS_URL"])
           if os.environ.get("REDIS_URL") else None)
sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*", client_manager=manager)
app = socketio.ASGIApp(sio)


@sio.event
async def join(sid, room):
    await sio.enter_room(sid, room)
    return True


@sio.event
async def blast(sid, spec):
    """Emits spec['count'] events of spec['size'] bytes to spec['room']."""
    text = "x" * spec["size"]
    for i in range(spec["count"]):
        await sio.emit("tick", {"i": i, "text": text}, to=spec["room"])
    return spec["count"]


@sio.event
async def echo(sid, data):
    return data
