"""EngineServer: the Engine.IO v4 server over ASGI.

Behaviour follows python-engineio 4.x, including its HTTP error answers. The
outbound side of every session is a queue in the C hub: whoever wants to send
pushes frames there and wakes the session; one writer per session (the
websocket writer task, or the pending polling GET) drains it.

The EngineServer owns the sessions table (by sid and by hub connection id),
the session ids, the hub wake/overflow hooks and the handshake; it routes each
request to its transport (polling.py, websocket.py) and sends the HTTP answer
(http.py). The Socket.IO server supplies on_connect, on_message and
on_disconnect, awaited on the loop.

Thread: everything here runs on the asyncio loop that serves the ASGI app.
"""
import asyncio
import base64
import logging
import secrets
import urllib.parse

from .. import _core
from ..background import spawn
from ..handlers import resolve_logger
from . import polling
from .environ import translate_request
from .http import HTTPResponse, bad_request, compress, cookie_headers, method_not_found, \
    ok, origin_error, respond
from .session import OPEN, Reason, Session
from . import native
from .websocket import run_websocket

default_logger = logging.getLogger("engineio.server")


class Refused(Exception):
    """An on_connect refusal; `value` is what on_connect returned (or the
    answer's body), `status` the HTTP status of the answer."""

    def __init__(self, value, status=401):
        super().__init__(value)
        self.value = value
        self.status = status


class EngineServer:
    """The Engine.IO layer; the Socket.IO server supplies three callbacks."""

    compression_methods = ("gzip", "deflate")
    valid_transports = ("polling", "websocket")
    max_poll_packets = 16   # python-engineio's client refuses longer payloads
    WRITE_BATCH = 16        # frames a websocket writer takes from its queue at once

    def __init__(self, hub, on_connect, on_message, on_disconnect, *,
                 ping_interval=25, ping_timeout=20, max_http_buffer_size=1000000,
                 allow_upgrades=True, http_compression=True, compression_threshold=1024,
                 cookie=None, cors_allowed_origins=None, cors_credentials=True,
                 logger=False, transports=None, json_dumps=None, compat=None, **_ignored):
        if compat not in (None, "python-socketio"):
            raise ValueError("compat must be None (the Engine.IO v4 specification) "
                             "or 'python-socketio'")
        # spec: answers as the protocol specification and the JS server give
        # them; False keeps python-engineio's (see docs/conformance.md)
        self.spec = compat is None
        self.post_ok = "ok" if self.spec else "OK"
        self.hub = hub
        self.on_connect = on_connect
        self.on_message = on_message
        self.on_disconnect = on_disconnect
        if isinstance(ping_interval, tuple):
            self.ping_interval, grace = ping_interval
        else:
            self.ping_interval, grace = ping_interval, 0
        self.ping_interval_grace_period = grace
        self.ping_timeout = ping_timeout
        self.max_http_buffer_size = max_http_buffer_size
        self.allow_upgrades = allow_upgrades
        self.http_compression = http_compression
        self.compression_threshold = compression_threshold
        self.cookie = cookie
        self.cors_allowed_origins = cors_allowed_origins
        self.cors_credentials = cors_credentials
        self.json_dumps = json_dumps
        if transports is not None:
            if isinstance(transports, str):
                transports = [transports]
            transports = [t for t in transports if t in self.valid_transports]
            if not transports:
                raise ValueError("No valid transports provided")
        self.transports = list(transports or self.valid_transports)
        self.logger = resolve_logger(logger, default_logger)
        self.sockets = {}           # eio sid -> Session
        self.by_conn = {}           # hub connection id -> Session
        self.native = None          # NativeTransport (native.transport_of), made
                                    # on the first adoption
        self.sequence_number = 0
        self.log_message_keys = set()

    # -- utilities --

    def generate_id(self):
        raw = secrets.token_bytes(12) + self.sequence_number.to_bytes(3, "big")
        self.sequence_number = (self.sequence_number + 1) & 0xFFFFFF
        return base64.b64encode(raw, b"-_").decode("ascii")

    def spawn(self, coro):
        return spawn(coro)

    def wake_conns(self, conn_ids):
        """Wakes the writers of connections whose queue just became non-empty
        (native ones in one call to their C thread)."""
        by_conn = self.by_conn
        native = None
        for conn in conn_ids:
            s = by_conn.get(conn)
            if s is None:
                continue
            if s.native is None:
                s.wake.set()
            elif native is None:
                native = [conn]
            else:
                native.append(conn)
        if native is not None:
            self.native.wake_many(native)

    def overflowed(self, conn_ids):
        """Closes the sessions whose queue overflowed during a broadcast."""
        for conn in conn_ids:
            s = self.by_conn.get(conn)
            if s is not None:
                s.overflow()

    def release_later(self, s):
        """Releases a closed polling session after ping_timeout, unless a
        request for it comes first (see polling.http_session)."""
        asyncio.get_running_loop().call_later(max(self.ping_timeout, 1), s.release)

    def log_error_once(self, message, key):
        if key not in self.log_message_keys:
            self.logger.error(message + " (further occurrences of this error "
                              "will be logged with level INFO)")
            self.log_message_keys.add(key)
        else:
            self.logger.info(message)

    def transport_of(self, sid):
        s = self._get_session(sid)
        return "websocket" if s.upgraded else "polling"

    def _get_session(self, sid):
        s = self.sockets.get(sid)
        if s is None:
            raise KeyError("Session not found")
        if s.closed:
            raise KeyError("Session is disconnected")
        return s

    def session_by_sid(self, sid):
        return self.sockets.get(sid)

    # -- entry point --

    async def handle_request(self, scope, receive, send):
        environ = await translate_request(scope, receive, send)
        if environ is None:
            return
        r = await self._dispatch(environ)
        if r is None:   # the websocket handler already answered
            return
        compress(self, r, environ)
        await respond(self, r, environ, send)

    async def _dispatch(self, environ):
        error = origin_error(self, environ)
        if error is not None:
            return error
        method = environ["REQUEST_METHOD"]
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        sid = query["sid"][0] if "sid" in query else None
        transport = query.get("transport", [None if self.spec else "polling"])[0]
        if transport not in self.transports:
            self.log_error_once("Invalid transport", "bad-transport")
            return bad_request(self, "Invalid transport")
        if sid is None and query.get("EIO") != ["4"]:
            msg = ("The client is using an unsupported version of the Socket.IO "
                   "or Engine.IO protocols")
            self.log_error_once(msg, "bad-version")
            return bad_request(self, msg)
        jsonp_index = None
        if "j" in query:
            try:
                jsonp_index = int(query["j"][0])
            except (ValueError, KeyError, IndexError):
                self.log_error_once("Invalid JSONP index number", "bad-jsonp-index")
                return bad_request(self, "Invalid JSONP index number")
        if method == "GET":
            upgrade = environ.get("HTTP_UPGRADE")
            upgrade = upgrade.lower() if upgrade is not None else None
            if sid is None:
                if transport == "polling" or transport == upgrade == "websocket":
                    return await self._handshake(environ, transport, jsonp_index)
                self.log_error_once("Invalid websocket upgrade", "bad-upgrade")
                return bad_request(self, "Invalid websocket upgrade")
            return await polling.get(self, environ, sid, transport, upgrade, jsonp_index)
        if method == "POST":
            return await polling.post(self, environ, sid, jsonp_index)
        if method == "OPTIONS":
            return ok()
        self.logger.warning("Method %s not supported", method)
        return bad_request(self, "Method not allowed") if self.spec else method_not_found()

    async def open_session(self, environ, transport, native=False):
        """A new session: registered, OPEN queued, on_connect awaited, pings
        scheduled (by the C thread when native). The caller's transport then
        serves it.

        on_connect returning anything but None or True refuses the
        connection: the session is released (no on_disconnect) and
        Refused(that value) is raised."""
        sid = self.generate_id()
        conn = self.hub.open(sid)
        s = Session(self, sid, conn, environ)
        self.sockets[sid] = s
        self.by_conn[conn] = s
        upgrades = (self.allow_upgrades and transport != "websocket"
                    and "websocket" in self.transports)
        interval = self.ping_interval + self.ping_interval_grace_period
        # python-engineio truncates to whole seconds (300 ms -> 0)
        interval_ms = round(interval * 1000) if self.spec else int(interval) * 1000
        hello = _core.open_packet(sid, upgrades, int(self.ping_timeout * 1000),
                                  interval_ms, self.max_http_buffer_size)
        s.push_control(OPEN, hello[1:])
        try:
            verdict = await self.on_connect(s, environ)
        except Refused:
            s.release()
            raise
        if verdict is not None and verdict is not True:
            s.release()
            raise Refused(verdict)
        if not native:
            s.schedule_ping()
        return s

    async def _handshake(self, environ, transport, jsonp_index):
        handoff = native.handoff_of(environ) if transport == "websocket" else None
        try:
            s = await self.open_session(environ, transport, native=handoff is not None)
        except Refused as refused:
            # python-engineio's answer: 401, the refusal value (or
            # "Unauthorized" when it is falsy) as JSON
            self.logger.warning("Application rejected connection")
            body = self.json_dumps(refused.value or "Unauthorized")
            return HTTPResponse(refused.status, [("Content-Type", "application/json")],
                                body.encode("utf-8"))
        if handoff is not None:
            return await native.adopt_websocket(self, s, handoff)
        if transport == "websocket":
            return await run_websocket(self, s, environ)
        s.connected = True
        return await polling.poll(self, s, cookie_headers(self, s.sid), jsonp_index)

    def native_stats(self):
        """The native transport's counters, or None when nothing was adopted."""
        return self.native.stats() if self.native is not None else None

    async def disconnect_all(self):
        sessions = list(self.sockets.values())
        for s in sessions:
            await s.close(Reason.SERVER_DISCONNECT)
