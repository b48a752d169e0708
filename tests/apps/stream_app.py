"""Server for the merged-stream tests (tests/test_stream.py). Always fastsio.

A client asks "run" with a spec: a list of events, the pause before each
(seconds, 0 = no await at all between the emits), an optional per-emit
destination override, the stream's options, and whether to close the stream
at the end. The handler emits the events through one ``sio.stream("events",
room=spec["room"])`` and acks with the stream's counters and the exceptions
the emits raised (type names, in order), so the test sees them.

Environment:
  APP_JSON=orjson  the server's json= is orjson itself (dumps returns bytes)
  REDIS_URL        use fastsio.AsyncRedisManager(REDIS_URL)
"""
import asyncio
import os

import fastsio

options = {}
if os.environ.get("APP_JSON") == "orjson":
    import orjson
    options["json"] = orjson
if os.environ.get("REDIS_URL"):
    options["client_manager"] = fastsio.AsyncRedisManager(os.environ["REDIS_URL"])

sio = fastsio.AsyncServer(async_mode="asgi", **options)
app = fastsio.ASGIApp(sio)
kept = {}   # request id -> a Stream left open (spec "keep")


def build(item):
    """An event of the spec as the Python object to emit: JSON cannot carry
    tuples (several arguments), bytes or None, so the spec marks them."""
    if isinstance(item, dict) and "__emit__" in item:
        kind = item["__emit__"]
        if kind == "tuple":
            return tuple(build(a) for a in item["args"])
        if kind == "binary":        # a dict with bytes inside: never merged
            return {"tag": item["tag"], "blob": bytes(item["bytes"])}
        if kind == "bytes":         # a bare bytes argument
            return bytes(item["bytes"])
        if kind == "str":           # a bare str argument
            return item["value"]
        if kind == "none":
            return None
        raise ValueError(f"unknown spec item {kind!r}")
    return item


@sio.event
async def whoami(sid):
    return sid


@sio.event
async def join(sid, rooms):
    for room in rooms:
        await sio.enter_room(sid, room)
    return sorted(sio.rooms(sid))


@sio.event
async def run(sid, spec):
    kw = {k: spec[k] for k in ("window", "max_bytes") if k in spec}
    stream = sio.stream("events", room=spec["room"], **kw)
    errors = []
    events = spec["events"]
    sleeps = spec.get("sleeps") or [0] * len(events)
    dests = spec.get("dests") or [None] * len(events)
    for item, pause, dest in zip(events, sleeps, dests):
        if pause:
            await asyncio.sleep(pause)
        try:
            await stream.emit(build(item), **(dest or {}))
        except Exception as exc:
            errors.append(type(exc).__name__)
    reply = {"in": stream.emits_in}
    if spec.get("close", True):
        await stream.close()
        if spec.get("emit_after_close"):
            try:
                await stream.emit({"after": "close"})
                errors.append("none")
            except Exception as exc:
                errors.append(type(exc).__name__)
    elif spec.get("keep"):
        kept[spec["id"]] = stream
    # else: no reference is kept; the stream's timer alone sends its tail
    reply.update(out=stream.emits_out, pending=stream.pending, errors=errors)
    return reply


@sio.event
async def state(sid, req_id):
    """The state of a stream left open. Its timer takes the pending text and
    starts a task that sends it; that task was scheduled before this
    handler could see `pending` false, so after yielding to the loop (the
    sends of an emit do not suspend) "out" counts it."""
    stream = kept[req_id]
    if stream.pending:
        return {"pending": True, "out": stream.emits_out}
    for _ in range(3):
        await asyncio.sleep(0)
    return {"pending": stream.pending, "out": stream.emits_out}


@sio.event
async def marker(sid, req):
    """A plain emit after everything a stream sent: the test's end mark."""
    await sio.emit("marker", req["n"], room=req["room"])
    return "ok"


@sio.event
async def make(sid, kw):
    """sio.stream("events", **kw): "ok" or the exception raised."""
    try:
        sio.stream("events", **kw)
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return "ok"
