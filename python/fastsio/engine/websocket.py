"""The ASGI websocket transport, including the upgrade from polling.

`run_websocket` serves one session's websocket until it ends: its loop hands
each inbound message to `Session.receive` (a Socket.IO EVENT first to the
server's `plain_event`, the short way engine/native.py describes), and one
writer task (`ws_writer`)
is the session's only sender, draining the hub queue whenever `wake` is set.
Once upgraded, the session's `close_transport` closes this websocket.

Thread: the asyncio loop that serves the ASGI app. `run_websocket` owns the
session from the upgrade on: it closes it when the websocket ends and
releases it once the writer has flushed.
"""
import asyncio
import functools

from .. import _core
from .session import NOOP, Reason


def plain_event_item(text):
    """For an Engine.IO MESSAGE text holding a Socket.IO EVENT ("42..."),
    the item the native transport's C thread gives for one (NATIVE_EVENT:
    kind, conn, text, namespace, ack id, JSON body; kind and conn unused
    here), for the server's plain_event; None for anything else."""
    try:
        ptype, namespace, ack_id, count, body = _core.sio_decode(text[1:])
    except ValueError:
        return None
    if ptype != 2 or count or not body:
        return None
    return (None, None, text[1:], namespace, ack_id, body)


async def run_websocket(engine, s, environ):
    """Serves a websocket for session s until it ends. Returns None: the
    websocket has been answered here."""
    receive = environ["asgi.receive"]
    send = environ["asgi.send"]
    await send({"type": "websocket.accept"})
    limit = engine.max_http_buffer_size

    async def next_message():
        event = await receive()
        if event["type"] != "websocket.receive":
            return None
        data = event.get("text")
        if data is None:
            data = event.get("bytes")
        if data is None or len(data) > limit:
            return None
        return data

    if s.connected:
        # an upgrade from polling: 2probe -> 3probe, then 5
        s.upgrading = True
        first = await next_message()
        if first != "2probe":
            engine.logger.info("%s: Failed websocket upgrade, no PING packet", s.sid)
            s.end_upgrade(False)
            await ws_close(send)
            return None
        await send({"type": "websocket.send", "text": "3probe"})
        if s.polling or not engine.spec:
            # ends the pending GET; python-engineio queues it even with no
            # GET pending, and it then goes out on the websocket
            s.push_control(NOOP)
        second = await next_message()
        if second is None or not isinstance(second, str) or second[:1] != "5":
            engine.logger.info("%s: Failed websocket upgrade, expected UPGRADE packet, "
                               "received %s instead.", s.sid, second)
            s.end_upgrade(False)
            await ws_close(send)
            return None
        s.end_upgrade(True)
    else:
        s.connected = True
        s.upgraded = True
    s.close_transport = functools.partial(ws_close, send)
    writer = asyncio.ensure_future(ws_writer(engine, s, send))
    reason = Reason.TRANSPORT_CLOSE
    # a Socket.IO EVENT takes the server's short way, as on the native path
    plain, loop = getattr(engine, "plain_event", None), asyncio.get_running_loop()
    try:
        while not s.closed or s.keep_transport:
            data = await next_message()
            if data is None:
                break
            if (plain is not None and type(data) is str and data[:2] == "42"
                    and not s.closing and not s.closed):
                item = plain_event_item(data)
                if item is not None and plain(s, item, loop):
                    continue
            try:
                await s.receive(data)
            except ValueError as exc:
                engine.logger.warning("%s: invalid packet: %s", s.sid, exc)
                reason = Reason.TRANSPORT_ERROR
                break
            except Exception:
                engine.logger.exception("Unknown receive error")
    finally:
        await s.close(reason, abort=True)
        s.keep_transport = False
        s.wake.set()
        try:
            await writer
        except Exception:
            pass
        s.release()
    return None


async def ws_writer(engine, s, send):
    """Sends queued frames in order until the session is closed and flushed."""
    drain = engine.hub.drain
    conn = s.conn
    try:
        while True:
            s.wake.clear()
            drained = drain(conn, engine.WRITE_BATCH)
            if drained is None:
                break
            frames, overflowed = drained
            if overflowed:
                # the queue may end inside a packet: send none of it
                s.overflow()
                break
            for f in frames:
                if isinstance(f, str):
                    await send({"type": "websocket.send", "text": f})
                else:
                    await send({"type": "websocket.send", "bytes": f})
            if s.closed and not frames and not s.keep_transport:
                break
            if not frames:
                await s.wake.wait()
    except Exception:
        pass
    await ws_close(send)


async def refuse_websocket(environ):
    """Accepts a websocket request and closes it at once."""
    send = environ["asgi.send"]
    await send({"type": "websocket.accept"})
    await ws_close(send)


async def ws_close(send):
    try:
        await send({"type": "websocket.close"})
    except Exception:
        pass
