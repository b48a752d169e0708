"""Engine.IO v4 server over ASGI (HTTP long-polling and WebSocket).

Behaviour follows python-engineio 4.x, including its HTTP error answers. The
outbound side of every session is a queue in the C hub: whoever wants to send
pushes frames there and wakes the session; one writer per session (the
websocket writer task, or the pending polling GET) drains it.

Thread: everything here runs on the asyncio loop that serves the ASGI app.
"""
import asyncio
import base64
import gzip
import logging
import secrets
import urllib.parse
import zlib

from . import _core
from .handlers import resolve_logger

OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = range(7)

default_logger = logging.getLogger("engineio.server")


class Reason:
    SERVER_DISCONNECT = "server disconnect"
    CLIENT_DISCONNECT = "client disconnect"
    PING_TIMEOUT = "ping timeout"
    TRANSPORT_CLOSE = "transport close"
    TRANSPORT_ERROR = "transport error"


class Session:
    """One Engine.IO session: its C queue id, state flags and timers."""

    __slots__ = ("engine", "sid", "conn", "environ", "connected",
                 "upgrading", "upgraded", "closing", "closed", "session", "wake",
                 "ping_timer", "pong_deadline", "released", "ws_send", "keep_transport")

    def __init__(self, engine, sid, conn, environ):
        self.engine = engine
        self.sid = sid
        self.conn = conn
        self.environ = environ
        self.connected = False
        self.upgrading = False
        self.upgraded = False
        self.closing = False
        self.closed = False
        self.released = False
        self.session = {}
        self.wake = asyncio.Event()
        self.ping_timer = None
        self.pong_deadline = None
        self.ws_send = None     # the ASGI send of the websocket, once upgraded
        self.keep_transport = False  # client sent CLOSE: its websocket stays
                                     # open until the client closes it

    # -- pings: one timer handle per session, no task --

    def schedule_ping(self):
        loop = asyncio.get_running_loop()
        self.ping_timer = loop.call_later(self.engine.ping_interval, self._send_ping)

    def _send_ping(self):
        self.ping_timer = None
        if self.closing or self.closed:
            return
        self.push_control(PING)
        loop = asyncio.get_running_loop()
        self.pong_deadline = loop.call_later(self.engine.ping_timeout, self._pong_missed)

    def _pong_missed(self):
        self.pong_deadline = None
        if not self.closing and not self.closed:
            self.engine.logger.info("%s: Client is gone, closing socket", self.sid)
            # no CLOSE packet: python-engineio's goes unsent here, and the
            # transport closes right after the PING
            self.engine.spawn(self.close(Reason.PING_TIMEOUT, abort=True))

    def on_pong(self):
        if self.pong_deadline is not None:
            self.pong_deadline.cancel()
            self.pong_deadline = None
            self.schedule_ping()

    def cancel_timers(self):
        for handle in (self.ping_timer, self.pong_deadline):
            if handle is not None:
                handle.cancel()
        self.ping_timer = self.pong_deadline = None

    # -- outbound --

    def push_control(self, ptype, data=""):
        self._pushed(self.engine.hub.push_control(self.conn, ptype, data))

    def push(self, items):
        """Queues Socket.IO packet text (str) and attachments (bytes)."""
        self._pushed(self.engine.hub.push(self.conn, items))

    def _pushed(self, status):
        if status == 1:
            self.wake.set()
        elif status == 2:
            self.overflow()

    def overflow(self):
        """The outbound queue hit its bound: this client is too slow."""
        if self.closing or self.closed:
            return
        self.engine.logger.warning("%s: outbound queue full, closing", self.sid)
        self.engine.spawn(self.close(Reason.TRANSPORT_ERROR, abort=True))
        if self.ws_send is not None:
            self.engine.spawn(self.engine._ws_close(self.ws_send))

    # -- inbound --

    async def receive(self, pkt):
        """Handles one decoded inbound packet: str text packet or bytes message."""
        if isinstance(pkt, bytes):
            await self.engine.on_message(self, pkt)
            return
        ptype, data = _core.eio_decode(pkt)
        if ptype == MESSAGE:
            await self.engine.on_message(self, data)
        elif ptype == PONG:
            self.on_pong()
        elif ptype == UPGRADE:
            self.push_control(NOOP)
        elif ptype == CLOSE:
            self.keep_transport = True
            await self.close(Reason.CLIENT_DISCONNECT, abort=True)
        else:
            raise ValueError(f"unexpected packet type {ptype}")

    # -- closing --

    async def close(self, reason=Reason.SERVER_DISCONNECT, abort=False):
        """Runs the disconnect handler once, then sends CLOSE unless abort."""
        if self.closed or self.closing:
            return
        self.closing = True
        self.cancel_timers()
        try:
            await self.engine.on_disconnect(self, reason)
        finally:
            if not abort:
                self.push_control(CLOSE)
            self.closed = True
            self.wake.set()
            if not self.upgraded:
                # a websocket session is released by its handler once its
                # writer has flushed; a polling one once a GET took the queue
                self.engine.release_later(self)

    def release(self):
        """Drops the C queue and forgets the session. Idempotent."""
        if self.released:
            return
        self.released = True
        self.cancel_timers()
        self.engine.hub.close(self.conn)
        self.engine.by_conn.pop(self.conn, None)
        if self.engine.sockets.get(self.sid) is self:
            del self.engine.sockets[self.sid]


class HTTPResponse:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body


class EngineServer:
    """The Engine.IO layer; the Socket.IO server supplies three callbacks."""

    compression_methods = ("gzip", "deflate")
    valid_transports = ("polling", "websocket")
    max_decode_packets = 16
    WRITE_BATCH = 16        # frames a websocket writer takes from its queue at once

    def __init__(self, hub, on_connect, on_message, on_disconnect, *,
                 ping_interval=25, ping_timeout=20, max_http_buffer_size=1000000,
                 allow_upgrades=True, http_compression=True, compression_threshold=1024,
                 cookie=None, cors_allowed_origins=None, cors_credentials=True,
                 logger=False, transports=None, json_dumps=None, **_ignored):
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
        self.sequence_number = 0
        self.log_message_keys = set()
        self._tasks = set()

    # -- utilities --

    def generate_id(self):
        raw = secrets.token_bytes(12) + self.sequence_number.to_bytes(3, "big")
        self.sequence_number = (self.sequence_number + 1) & 0xFFFFFF
        return base64.b64encode(raw, b"-_").decode("ascii")

    def spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def wake_conns(self, conn_ids):
        """Wakes the writers of connections whose queue just became non-empty."""
        by_conn = self.by_conn
        for conn in conn_ids:
            s = by_conn.get(conn)
            if s is not None:
                s.wake.set()

    def overflowed(self, conn_ids):
        """Closes the sessions whose queue overflowed during a broadcast."""
        for conn in conn_ids:
            s = self.by_conn.get(conn)
            if s is not None:
                s.overflow()

    def release_later(self, s):
        """Releases a closed polling session after ping_timeout, unless a
        request for it comes first (see _http_session)."""
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

    # -- responses --

    def _bad_request(self, message=None):
        body = self.json_dumps(message if message is not None else "Bad Request")
        return HTTPResponse(400, [("Content-Type", "text/plain")], body.encode("utf-8"))

    def _ok_text(self, body, headers=None, jsonp_index=None):
        if jsonp_index is not None:
            body = "___eio[" + str(jsonp_index) + ']("' + body.replace('"', '\\"') + '");'
        return HTTPResponse(200, (headers or []) + [("Content-Type", "text/plain; charset=UTF-8")],
                            body.encode("utf-8"))

    def _ok(self):
        return HTTPResponse(200, [("Content-Type", "text/plain")], b"OK")

    def _cors_allowed_origins(self, environ):
        allowed = self.cors_allowed_origins
        if allowed is None:
            origins = []
            if "wsgi.url_scheme" in environ and "HTTP_HOST" in environ:
                origins.append(f"{environ['wsgi.url_scheme']}://{environ['HTTP_HOST']}")
                if "HTTP_X_FORWARDED_PROTO" in environ or "HTTP_X_FORWARDED_HOST" in environ:
                    scheme = environ.get("HTTP_X_FORWARDED_PROTO",
                                         environ["wsgi.url_scheme"]).split(",")[0].strip()
                    host = environ.get("HTTP_X_FORWARDED_HOST",
                                       environ["HTTP_HOST"]).split(",")[0].strip()
                    origins.append(f"{scheme}://{host}")
            return origins
        if allowed == "*":
            return None
        if isinstance(allowed, str):
            return [allowed]
        if callable(allowed):
            origin = environ.get("HTTP_ORIGIN")
            try:
                ok = allowed(origin, environ)
            except TypeError:
                ok = allowed(origin)
            return [origin] if ok else []
        if "*" in allowed:
            return None
        return allowed

    def _cors_headers(self, environ):
        if self.cors_allowed_origins == []:
            return []
        headers = []
        allowed = self._cors_allowed_origins(environ)
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and (allowed is None or origin in allowed):
            headers.append(("Access-Control-Allow-Origin", origin))
        if environ["REQUEST_METHOD"] == "OPTIONS":
            headers.append(("Access-Control-Allow-Methods", "OPTIONS, GET, POST"))
        if "HTTP_ACCESS_CONTROL_REQUEST_HEADERS" in environ:
            headers.append(("Access-Control-Allow-Headers",
                            environ["HTTP_ACCESS_CONTROL_REQUEST_HEADERS"]))
        if self.cors_credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return headers

    def _compress(self, r, environ):
        if not self.http_compression or len(r.body) < self.compression_threshold:
            return
        for enc in environ.get("HTTP_ACCEPT_ENCODING", "").split(","):
            enc = enc.split(";")[0].strip()
            if enc == "gzip":
                r.body = gzip.compress(r.body)
            elif enc == "deflate":
                r.body = zlib.compress(r.body)
            else:
                continue
            r.headers.append(("Content-Encoding", enc))
            return

    async def _respond(self, r, environ, send):
        headers = [(k.encode("utf-8"), v.encode("utf-8"))
                   for k, v in r.headers + self._cors_headers(environ)]
        if environ["asgi.scope"]["type"] == "websocket":
            if r.status == 200:
                await send({"type": "websocket.accept", "headers": headers})
            elif r.body:
                await send({"type": "websocket.close", "reason": r.body.decode("utf-8")})
            else:
                await send({"type": "websocket.close"})
            return
        await send({"type": "http.response.start", "status": r.status, "headers": headers})
        await send({"type": "http.response.body", "body": r.body})

    # -- entry point --

    async def handle_request(self, scope, receive, send):
        environ = await translate_request(scope, receive, send)
        if environ is None:
            return
        r = await self._dispatch(environ)
        if r is None:   # the websocket handler already answered
            return
        self._compress(r, environ)
        await self._respond(r, environ, send)

    async def _dispatch(self, environ):
        if self.cors_allowed_origins != []:
            origin = environ.get("HTTP_ORIGIN")
            if origin:
                allowed = self._cors_allowed_origins(environ)
                if allowed is not None and origin not in allowed:
                    self.log_error_once(origin + " is not an accepted origin.", "bad-origin")
                    return self._bad_request(origin + " is not an accepted origin.")
        method = environ["REQUEST_METHOD"]
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        sid = query["sid"][0] if "sid" in query else None
        transport = query.get("transport", ["polling"])[0]
        if transport not in self.transports:
            self.log_error_once("Invalid transport", "bad-transport")
            return self._bad_request("Invalid transport")
        if sid is None and query.get("EIO") != ["4"]:
            msg = ("The client is using an unsupported version of the Socket.IO "
                   "or Engine.IO protocols")
            self.log_error_once(msg, "bad-version")
            return self._bad_request(msg)
        jsonp_index = None
        if "j" in query:
            try:
                jsonp_index = int(query["j"][0])
            except (ValueError, KeyError, IndexError):
                self.log_error_once("Invalid JSONP index number", "bad-jsonp-index")
                return self._bad_request("Invalid JSONP index number")
        if method == "GET":
            upgrade = environ.get("HTTP_UPGRADE")
            upgrade = upgrade.lower() if upgrade is not None else None
            if sid is None:
                if transport == "polling" or transport == upgrade == "websocket":
                    return await self._handshake(environ, transport, jsonp_index)
                self.log_error_once("Invalid websocket upgrade", "bad-upgrade")
                return self._bad_request("Invalid websocket upgrade")
            return await self._get(environ, sid, transport, upgrade, jsonp_index)
        if method == "POST":
            return await self._post(environ, sid, jsonp_index)
        if method == "OPTIONS":
            return self._ok()
        self.logger.warning("Method %s not supported", method)
        return HTTPResponse(405, [("Content-Type", "text/plain")], b"Method Not Found")

    async def _handshake(self, environ, transport, jsonp_index):
        sid = self.generate_id()
        conn = self.hub.open(sid)
        s = Session(self, sid, conn, environ)
        self.sockets[sid] = s
        self.by_conn[conn] = s
        upgrades = (self.allow_upgrades and transport != "websocket"
                    and "websocket" in self.transports)
        interval_ms = int(self.ping_interval + self.ping_interval_grace_period) * 1000
        hello = _core.open_packet(sid, upgrades, int(self.ping_timeout * 1000),
                                  interval_ms, self.max_http_buffer_size)
        s.push_control(OPEN, hello[1:])
        await self.on_connect(s, environ)
        s.schedule_ping()
        if transport == "websocket":
            return await self._run_websocket(s, environ)
        s.connected = True
        headers = None
        if self.cookie:
            attrs = self.cookie if isinstance(self.cookie, dict) else {
                "name": self.cookie, "path": "/", "SameSite": "Lax"}
            headers = [("Set-Cookie", self._sid_cookie(sid, attrs))]
        return await self._poll(s, headers, jsonp_index)

    def _sid_cookie(self, sid, attrs):
        cookie = attrs.get("name", "io") + "=" + sid
        for key, value in attrs.items():
            if key == "name":
                continue
            if callable(value):
                value = value()
            cookie += "; " + key if value is True else "; " + key + "=" + value
        return cookie

    def _http_session(self, sid):
        """(session, None) for an HTTP request on sid, or (None, error answer)."""
        s = self.sockets.get(sid) if sid is not None else None
        if s is None or s.released:
            self.log_error_once(f"Invalid session {sid}", "bad-sid")
            return None, self._bad_request(f"Invalid session {sid}")
        if s.closed:
            s.release()
            self.log_error_once(f"'Session is disconnected' {sid}", "bad-sid")
            return None, self._bad_request(f"'Session is disconnected' {sid}")
        if not s.connected:
            self.log_error_once(f"Socket for session {sid} is not connected", "not-connected")
            return None, self._bad_request("Not connected")
        if s.upgraded:
            self.log_error_once(f"Unexpected HTTP request for session {sid}", "unexpected-http")
            return None, self._bad_request("Unexpected HTTP request")
        return s, None

    async def _get(self, environ, sid, transport, upgrade, jsonp_index):
        s, error = self._http_session(sid)
        if error is not None:
            return error
        if transport != "polling" and transport != upgrade:
            self.log_error_once(f"Invalid transport for session {sid}", "bad-transport")
            return self._bad_request("Invalid transport")
        connection = [c.strip() for c in environ.get("HTTP_CONNECTION", "").lower().split(",")]
        if "upgrade" in connection and upgrade == "websocket":
            if s.closed:
                return self._bad_request()
            return await self._run_websocket(s, environ)
        if s.upgrading or s.upgraded:
            return self._ok_text("6", jsonp_index=jsonp_index)
        return await self._poll(s, None, jsonp_index)

    async def _poll(self, s, headers, jsonp_index):
        """Waits for queued frames and answers them as one polling payload."""
        timeout = self.ping_interval + self.ping_timeout
        while True:
            drained = self.hub.drain_payload(s.conn)
            if drained is None:         # released meanwhile
                return self._ok_text("", headers, jsonp_index)
            body, overflowed = drained
            if overflowed:
                s.overflow()
                return self._bad_request()
            if body is not None:
                if s.closed:
                    s.release()
                return self._ok_text(body, headers, jsonp_index)
            if s.closed:
                s.release()
                return self._ok_text("", headers, jsonp_index)
            s.wake.clear()
            try:
                await asyncio.wait_for(s.wake.wait(), timeout)
            except asyncio.TimeoutError:
                await s.close(Reason.TRANSPORT_ERROR, abort=False)
                return self._bad_request()

    async def _post(self, environ, sid, jsonp_index):
        s, error = self._http_session(sid)
        if error is not None:
            return error
        try:
            length = int(environ.get("CONTENT_LENGTH", "0"))
        except ValueError:
            length = 0
        if length > self.max_http_buffer_size:
            await s.close(Reason.SERVER_DISCONNECT)
            if s.closed:
                s.release()
            return self._bad_request()
        body = await environ["wsgi.input"].read(length)
        try:
            text = body.decode("utf-8")
            packets = _core.payload_split(text, self.max_decode_packets) if text else []
            for pkt in packets:
                await s.receive(pkt)
        except Exception:
            self.logger.exception("post request handler error")
        return self._ok_text("OK", jsonp_index=jsonp_index) if jsonp_index is not None \
            else self._ok()

    # -- websocket --

    async def _run_websocket(self, s, environ):
        """Serves a websocket for session s until it ends. Returns None: the
        websocket has been answered here."""
        receive = environ["asgi.receive"]
        send = environ["asgi.send"]
        await send({"type": "websocket.accept"})
        limit = self.max_http_buffer_size

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
                self.logger.info("%s: Failed websocket upgrade, no PING packet", s.sid)
                s.upgrading = False
                await self._ws_close(send)
                return None
            await send({"type": "websocket.send", "text": "3probe"})
            s.push_control(NOOP)
            second = await next_message()
            if second is None or not isinstance(second, str) or second[:1] != "5":
                self.logger.info("%s: Failed websocket upgrade, expected UPGRADE packet, "
                                 "received %s instead.", s.sid, second)
                s.upgrading = False
                await self._ws_close(send)
                return None
            s.upgraded = True
            s.upgrading = False
        else:
            s.connected = True
            s.upgraded = True
        s.ws_send = send
        writer = asyncio.ensure_future(self._ws_writer(s, send))
        reason = Reason.TRANSPORT_CLOSE
        try:
            while not s.closed or s.keep_transport:
                data = await next_message()
                if data is None:
                    break
                try:
                    await s.receive(data)
                except ValueError as exc:
                    self.logger.warning("%s: invalid packet: %s", s.sid, exc)
                    reason = Reason.TRANSPORT_ERROR
                    break
                except Exception:
                    self.logger.exception("Unknown receive error")
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

    async def _ws_writer(self, s, send):
        """Sends queued frames in order until the session is closed and flushed."""
        drain = self.hub.drain
        conn = s.conn
        try:
            while True:
                s.wake.clear()
                drained = drain(conn, self.WRITE_BATCH)
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
        await self._ws_close(send)

    @staticmethod
    async def _ws_close(send):
        try:
            await send({"type": "websocket.close"})
        except Exception:
            pass

    async def disconnect_all(self):
        sessions = list(self.sockets.values())
        for s in sessions:
            await s.close(Reason.SERVER_DISCONNECT)


class _Body:
    """The request body, read on demand from ASGI http.request events."""

    def __init__(self, first_event, receive):
        self.event = first_event
        self.receive = receive
        self.payload = None

    async def read(self, length=None):
        if self.payload is None:
            chunks = [self.event.get("body") or b""]
            event = self.event
            size = len(chunks[0])
            while event.get("more_body"):
                event = await self.receive()
                if event["type"] != "http.request":
                    break
                if length is None or size < length:
                    chunk = event.get("body") or b""
                    chunks.append(chunk)
                    size += len(chunk)
            self.payload = b"".join(chunks)
        if length is None:
            data, self.payload = self.payload, b""
        else:
            data, self.payload = self.payload[:length], self.payload[length:]
        return data


async def translate_request(scope, receive, send):
    """A WSGI-style environ for an ASGI request, as python-engineio builds it."""
    event = await receive()
    if event["type"] not in ("http.request", "websocket.connect"):
        return None
    path = scope["path"]
    query_string = ""
    raw_uri = path
    if scope.get("query_string"):
        try:
            query_string = scope["query_string"].decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            raw_uri += "?" + query_string
    client = scope.get("client") or ("127.0.0.1", 0)
    environ = {
        "wsgi.input": _Body(event, receive),
        "wsgi.version": (1, 0),
        "wsgi.async": True,
        "SERVER_SOFTWARE": "asgi",
        "REQUEST_METHOD": scope.get("method", "GET"),
        "PATH_INFO": path,
        "QUERY_STRING": query_string,
        "RAW_URI": raw_uri,
        "SCRIPT_NAME": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "SERVER_NAME": "asgi",
        "SERVER_PORT": "0",
        "asgi.receive": receive,
        "asgi.send": send,
        "asgi.scope": scope,
    }
    for name, value in scope.get("headers", ()):
        try:
            name = name.decode("latin-1").upper()
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if name == "CONTENT-TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "CONTENT-LENGTH":
            environ["CONTENT_LENGTH"] = value
            continue
        key = "HTTP_" + name.replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    environ["wsgi.url_scheme"] = environ.get("HTTP_X_FORWARDED_PROTO", "http")
    return environ
