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
from .http import bad_request, ok, ok_text
from .session import Reason
from .websocket import run_websocket


def http_session(engine, sid):
    """(session, None) for an HTTP request on sid, or (None, error answer)."""
    s = engine.sockets.get(sid) if sid is not None else None
    if s is None or s.released:
        engine.log_error_once(f"Invalid session {sid}", "bad-sid")
        return None, bad_request(engine, f"Invalid session {sid}")
    if s.closed:
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
    s, error = http_session(engine, sid)
    if error is not None:
        return error
    if transport != "polling" and transport != upgrade:
        engine.log_error_once(f"Invalid transport for session {sid}", "bad-transport")
        return bad_request(engine, "Invalid transport")
    connection = [c.strip() for c in environ.get("HTTP_CONNECTION", "").lower().split(",")]
    if "upgrade" in connection and upgrade == "websocket":
        if s.closed:
            return bad_request(engine)
        return await run_websocket(engine, s, environ)
    if s.upgrading or s.upgraded:
        return ok_text("6", jsonp_index=jsonp_index)
    return await poll(engine, s, None, jsonp_index)


async def poll(engine, s, headers, jsonp_index):
    """Waits for queued frames and answers them as one polling payload."""
    timeout = engine.ping_interval + engine.ping_timeout
    while True:
        drained = engine.hub.drain_payload(s.conn)
        if drained is None:         # released meanwhile
            return ok_text("", headers, jsonp_index)
        body, overflowed = drained
        if overflowed:
            s.overflow()
            return bad_request(engine)
        if body is not None:
            if s.closed:
                s.release()
            return ok_text(body, headers, jsonp_index)
        if s.closed:
            s.release()
            return ok_text("", headers, jsonp_index)
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
        packets = _core.payload_split(text, engine.max_decode_packets) if text else []
        for pkt in packets:
            await s.receive(pkt)
    except Exception:
        engine.logger.exception("post request handler error")
    return ok_text("OK", jsonp_index=jsonp_index) if jsonp_index is not None else ok()


async def _refuse_oversized(engine, s):
    """A body over max_http_buffer_size: the session ends, the POST gets 400."""
    await s.close(Reason.SERVER_DISCONNECT)
    if s.closed:
        s.release()
    return bad_request(engine)
