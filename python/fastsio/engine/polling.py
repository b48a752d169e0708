"""The ASGI long-polling transport: GET and POST on a session's sid.

A GET is the session's writer while it waits: it drains the whole hub queue
as one payload (joined in C). A POST hands each packet of its payload to
`Session.receive`. A GET asking for a websocket upgrade is handed to the
websocket transport. Each function returns the HTTPResponse to send, or None
when the websocket has been answered already.

Thread: the asyncio loop that serves the ASGI app. A session reached here is
released by the GET that took its last frames once it is closed, or by the
EngineServer's `release_later`.
"""
import asyncio

from .. import _core
from . import native
from .http import bad_request, ok, ok_text
from .session import Reason
from .websocket import refuse_websocket, run_websocket


UPGRADE_GET_HOLD = 0.1     # seconds a new GET waits for an upgrade in progress


def http_session(engine, sid, get=False):
    """(session, None) for an HTTP request on sid, or (None, error answer).
    A GET may still take the frames (CLOSE last) a session closed by the
    server left queued; python-engineio answers it 400 and drops them."""
    s = engine.sockets.get(sid) if sid is not None else None
    if s is None or s.released:
        engine.log_error_once(f"Invalid session {sid}", "bad-sid")
        return None, bad_request(engine, f"Invalid session {sid}")
    if s.closed and not (get and s.farewell and engine.spec and not s.upgraded):
        s.release()
        engine.log_error_once(f"'Session is disconnected' {sid}", "bad-sid")
        return None, bad_request(engine, f"'Session is disconnected' {sid}")
    if not s.connected:
        engine.log_error_once(f"Socket for session {sid} is not connected", "not-connected")
        return None, bad_request(engine, "Not connected")
    if s.upgraded:
        engine.log_error_once(f"Unexpected HTTP request for session {sid}", "unexpected-http")
        return None, bad_request(engine, "Unexpected HTTP request")
    return s, None


async def get(engine, environ, sid, transport, upgrade, jsonp_index):
    connection = [c.strip() for c in environ.get("HTTP_CONNECTION", "").lower().split(",")]
    websocket = "upgrade" in connection and upgrade == "websocket"
    if websocket:
        s = engine.sockets.get(sid)
        if s is not None and not s.closed and (s.upgrading or s.upgraded):
            # one websocket per session: a second one is accepted and closed
            # at once (python-engineio leaves it waiting for a probe)
            engine.log_error_once(f"Second websocket for session {sid}", "second-websocket")
            handoff = native.handoff_of(environ)
            if handoff is not None:
                native.refuse(engine, handoff)
            else:
                await refuse_websocket(environ)
            return None
    s, error = http_session(engine, sid, get=True)
    if error is not None:
        return error
    if transport != "polling" and transport != upgrade:
        engine.log_error_once(f"Invalid transport for session {sid}", "bad-transport")
        return bad_request(engine, "Invalid transport")
    if websocket:
        if s.closed:
            return bad_request(engine)
        handoff = native.handoff_of(environ)
        if handoff is not None:
            return native.adopt_upgrade(engine, s, handoff)
        return await run_websocket(engine, s, environ)
    if s.upgrading and engine.spec:
        # a new GET during an upgrade: as the JS server, hold it briefly, so
        # an UPGRADE already on its way decides it (400 once upgraded)
        await s.upgrade_outcome(UPGRADE_GET_HOLD)
        s, error = http_session(engine, sid, get=True)
        if error is not None:
            return error
    if s.upgrading or s.upgraded:
        return ok_text("6", jsonp_index=jsonp_index)
    if s.polling and engine.spec:
        # a second GET while one waits: the session ends, the waiting GET
        # gets CLOSE and this one 400, as the specification asks
        engine.log_error_once(f"Duplicate GET for session {sid}", "duplicate-get")
        await s.close(Reason.TRANSPORT_ERROR)
        return bad_request(engine, "Duplicate GET request")
    return await poll(engine, s, None, jsonp_index)


async def poll(engine, s, headers, jsonp_index):
    """Waits for queued frames and answers them as one polling payload of at
    most max_poll_packets packets; the rest waits for the next GET."""
    s.polling = True
    try:
        return await _poll(engine, s, headers, jsonp_index)
    finally:
        s.polling = False


async def _poll(engine, s, headers, jsonp_index):
    timeout = engine.ping_interval + engine.ping_timeout
    # a GET ended by a close that queued nothing (client CLOSE, ping timeout)
    # gets NOOP under the specification, an empty body from python-engineio
    ended = "6" if engine.spec else ""
    while True:
        drained = engine.hub.drain_payload(s.conn, engine.max_poll_packets)
        if drained is None:         # released meanwhile
            return ok_text(ended, headers, jsonp_index)
        body, overflowed = drained
        if overflowed:
            s.overflow()
            return bad_request(engine)
        if body is not None:
            if s.closed and not engine.hub.queued(s.conn):
                s.release()
            return ok_text(body, headers, jsonp_index)
        if s.closed:
            s.release()
            return ok_text(ended, headers, jsonp_index)
        s.wake.clear()
        try:
            await asyncio.wait_for(s.wake.wait(), timeout)
        except asyncio.TimeoutError:
            await s.close(Reason.TRANSPORT_ERROR, abort=False)
            return bad_request(engine)


async def post(engine, environ, sid, jsonp_index):
    s, error = http_session(engine, sid)
    if error is not None:
        return error
    if s.posting and engine.spec:
        engine.log_error_once(f"Concurrent POST for session {sid}", "duplicate-post")
        await s.close(Reason.TRANSPORT_ERROR)
        return bad_request(engine, "Concurrent POST request")
    s.posting = True
    try:
        return await _post(engine, environ, s, jsonp_index)
    finally:
        s.posting = False


async def _post(engine, environ, s, jsonp_index):
    limit = engine.max_http_buffer_size
    declared = environ.get("CONTENT_LENGTH")
    if declared:
        try:
            length = int(declared)
        except ValueError:
            length = 0
    else:
        # no Content-Length (chunked): read up to the limit, one byte more
        # tells an oversized body apart
        length = None
    if length is not None and length > limit:
        return await _refuse_oversized(engine, s)
    body = await environ["wsgi.input"].read(limit + 1 if length is None else length)
    if length is None and len(body) > limit:
        return await _refuse_oversized(engine, s)
    try:
        text = body.decode("utf-8")
        # every packet of a body within max_http_buffer_size is delivered:
        # python-engineio's count limit (16) drops them all, and the JS client
        # batches by bytes, not by count
        packets = _core.payload_split(text, len(text) + 1) if text else []
        for pkt in packets:
            await s.receive(pkt)
    except ValueError as exc:
        # malformed payload (bad UTF-8, framing, packet type)
        if engine.spec:
            engine.logger.warning("%s: invalid payload, closing: %s", s.sid, exc)
            await s.close(Reason.TRANSPORT_ERROR, abort=True)
            return bad_request(engine, "Invalid payload")
        engine.logger.exception("post request handler error")
    except Exception:
        engine.logger.exception("post request handler error")
    if jsonp_index is not None:
        return ok_text(engine.post_ok, jsonp_index=jsonp_index)
    return ok(engine.post_ok)


async def _refuse_oversized(engine, s):
    """A body over max_http_buffer_size: the session ends, the POST gets 400."""
    await s.close(Reason.SERVER_DISCONNECT)
    if s.closed:
        s.release()
    return bad_request(engine)
