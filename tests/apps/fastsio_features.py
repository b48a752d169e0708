"""Server for fastsio-specific behaviour (not in python-socketio): the json=
hook with orjson, the bounded outbound queue, non-str rooms and the rooms view.
Always fastsio."""
import asyncio

import orjson

import fastsio as socketio

sio = socketio.AsyncServer(async_mode="asgi", json=orjson, max_queue=64,
                           ping_interval=5, ping_timeout=5)
app = socketio.ASGIApp(sio)
disconnects = {}


@sio.event
async def connect(sid, environ, auth=None):
    await sio.enter_room(sid, 42)          # a non-str room name
    await sio.enter_room(sid, "common")


@sio.event
async def disconnect(sid, reason):
    disconnects[sid] = reason


@sio.event
async def echo(sid, data):
    return data


@sio.event
async def flood(sid, spec):
    """Emits many large events to spec['to'] without waiting for them."""
    blob = "y" * spec["size"]
    for i in range(spec["count"]):
        await sio.emit("flood", {"i": i, "blob": blob}, to=spec["to"])
        if i % 50 == 0:
            await asyncio.sleep(0)
    return spec["count"]


@sio.event
async def reason_of(sid, other):
    for _ in range(100):
        if other in disconnects:
            return disconnects[other]
        await asyncio.sleep(0.05)
    return None


@sio.event
async def state(sid):
    rooms = sio.manager.rooms["/"]
    return {
        "rooms": sorted(map(repr, sio.rooms(sid))),
        "int_room": sorted(rooms[42].keys()),
        "all": sorted(rooms[None].keys()),
        "common_has_me": sid in rooms["common"],
        "participants_42": sorted(s for s, _ in sio.manager.get_participants("/", 42)),
    }


@sio.event
async def queued(sid, other):
    """Frames waiting in the C queue of another client (-2: gone)."""
    eio_sid = sio.manager.eio_sid_from_sid(other, "/")
    s = sio.eio.sockets.get(eio_sid)
    return sio._hub.queued(s.conn) if s else -2
