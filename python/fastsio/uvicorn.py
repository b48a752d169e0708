"""uvicorn websocket protocol that hands fastsio's websockets to its C thread.

    uvicorn app:app --ws fastsio.uvicorn:WebSocketProtocol
    python -m fastsio serve app:app          (sets it unless --ws is given)

uvicorn creates one instance per websocket upgrade request, calls
connection_made(transport), then data_received(head) with the request head it
rebuilt, then makes the instance the transport's protocol. That first
data_received decides, once:

- claimed: FASTSIO_NATIVE is not "0", the connection is plain TCP (no TLS:
  a TLS connection stays on uvicorn, which holds the TLS state), the head is a
  valid websocket upgrade (GET, Upgrade: websocket, a key, version 13), its
  query has transport=websocket (a new session, or with sid the upgrade of a
  polling session), and a live fastsio ASGIApp routes its path to its engine
  (fastsio.asgi.claims_websocket). The app runs with a websocket scope built
  as uvicorn builds it, plus scope["extensions"]["fastsio.adopt"], whose
  take() gives the socket away (see Adoption). Until take(), the app may
  refuse over HTTP (websocket.close -> 403, or websocket.http.response.*);
  websocket.accept cannot be served here and is answered 500.
- anything else: uvicorn's own websocket protocol (what `--ws auto` picks, or
  FASTSIO_WS_FALLBACK=websockets|websockets-sansio|wsproto) gets the
  connection and every later callback, as if uvicorn had created it.

uvicorn's --ws-* options (max size, pings) apply to the fallback only; an
adopted socket follows the engine's own limits, except --ws-per-message-deflate,
which the native transport follows (it offers permessage-deflate then). Bytes a
client sends in the same read as its head are dropped by uvicorn's HTTP
parser before any websocket protocol sees them (for its own protocols too);
a websocket client waits for the 101, so none are expected. take() works
with asyncio's selector transports and with uvloop's (abort closes only the
transport's own descriptor; tests/test_native_uvicorn.py runs both, uvloop in
Open WebUI's own environment).

Thread: every method runs on uvicorn's event loop.
"""
import asyncio
import email.utils
import http
import logging
import os
import socket
from urllib.parse import parse_qs, unquote

from uvicorn.config import WS_PROTOCOLS
from uvicorn.importer import import_from_string
from uvicorn.protocols.utils import (
    ClientDisconnected,
    get_client_addr,
    get_local_addr,
    get_path_with_query_string,
    get_remote_addr,
    is_ssl,
)

from . import asgi
from .engine import shared

logger = logging.getLogger("uvicorn.error")

ADOPT_EXTENSION = "fastsio.adopt"
# bytes a claimed client may send after its head before take(): a websocket
# client waits for the 101, so anything near this is not one
MAX_EARLY_BYTES = 64 * 1024
FALLBACKS = ("auto", "websockets", "websockets-sansio", "wsproto")


def _load_fallback():
    name = os.environ.get("FASTSIO_WS_FALLBACK", "auto")
    if name not in FALLBACKS:
        raise ValueError(f"FASTSIO_WS_FALLBACK={name!r}: expected one of {', '.join(FALLBACKS)}")
    cls = import_from_string(WS_PROTOCOLS[name])
    if cls is None:
        raise ImportError("fastsio.uvicorn: no websocket implementation for uvicorn "
                          "is installed (pip install websockets)")
    return cls


# resolved when uvicorn loads this class, so a bad value stops the server at start
FALLBACK_CLASS = _load_fallback()


def _status_phrase(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


_ASGI_INFO = {}


def _asgi_info(version):
    """scope["asgi"]: one dict per ASGI version, shared by every claimed
    connection's scope (the scope lives as long as its session)."""
    info = _ASGI_INFO.get(version)
    if info is None:
        info = _ASGI_INFO[version] = {"version": version, "spec_version": "2.4"}
    return info


def _parse_head(head):
    """(method, target, headers) of a request head as uvicorn rebuilds it
    (names already lowercase), or None when it does not parse."""
    lines = head.split(b"\r\n")
    if len(lines) < 3 or lines[-1] != b"" or lines[-2] != b"":
        return None
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        return None
    headers = []
    for line in lines[1:-2]:
        name, sep, value = line.partition(b":")
        if not sep or not name:
            return None
        headers.append(shared.header(name, value.strip(b" \t")))
    return parts[0], parts[1], headers


def _tokens(headers, name):
    return [t.strip().lower() for n, v in headers if n == name for t in v.split(b",")]


def claimable(transport, head, root_path):
    """The parsed request when this upgrade goes to fastsio (module docstring),
    else None."""
    if os.environ.get("FASTSIO_NATIVE") == "0":
        return None
    if transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    request = _parse_head(head)
    if request is None:
        return None
    method, target, headers = request
    if method != b"GET" or b"websocket" not in _tokens(headers, b"upgrade") \
            or b"upgrade" not in _tokens(headers, b"connection") \
            or _tokens(headers, b"sec-websocket-version") != [b"13"] \
            or not any(n == b"sec-websocket-key" and v for n, v in headers):
        return None
    raw_path, _, query = target.partition(b"?")
    if not raw_path.startswith(b"/"):
        return None
    try:
        path = root_path + unquote(raw_path.decode("ascii"))
        params = parse_qs(query.decode("ascii"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None
    if params.get("transport") != ["websocket"]:
        return None
    if not asgi.claims_websocket(path):
        return None
    return request


class WebSocketProtocol(asyncio.Protocol):
    """The class given to uvicorn's --ws. Decides at the first data_received
    and from then on every callback goes to the chosen protocol."""

    def __init__(self, config, server_state, app_state, _loop=None):
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop
        self.transport = None
        self.impl = None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.impl is not None:
            self.impl.data_received(data)
            return
        request = claimable(self.transport, data, self.config.root_path)
        if request is None:
            kw = {} if self.loop is None else {"_loop": self.loop}
            impl = FALLBACK_CLASS(config=self.config, server_state=self.server_state,
                                  app_state=self.app_state, **kw)
            impl.connection_made(self.transport)
        else:
            impl = ClaimedConnection(self.config, self.server_state, self.app_state,
                                     self.transport, data, request,
                                     self.loop or asyncio.get_event_loop())
        self.impl = impl
        # later callbacks go straight to impl (the transport looks them up
        # on this object at every call)
        for name in ("data_received", "eof_received", "connection_lost",
                     "pause_writing", "resume_writing", "shutdown"):
            method = getattr(impl, name, None)
            if method is not None:
                setattr(self, name, method)
        if request is None:
            impl.data_received(data)

    def eof_received(self):
        return None

    def connection_lost(self, exc):
        pass

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass

    def shutdown(self):
        pass

    def __getattr__(self, name):
        impl = self.__dict__.get("impl")
        if impl is None:
            raise AttributeError(name)
        return getattr(impl, name)


class Adoption:
    """scope["extensions"]["fastsio.adopt"] of a claimed request.
    per_message_deflate: uvicorn's --ws-per-message-deflate (on by default),
    which the native transport follows when it offers permessage-deflate."""

    __slots__ = ("_conn", "per_message_deflate")

    def __init__(self, conn):
        self._conn = conn       # dropped by take(): the scope outlives the hand-over
        self.per_message_deflate = bool(getattr(conn.config, "ws_per_message_deflate", False))

    def take(self):
        """-> (fd, head). fd: a new descriptor of the connection's socket,
        owned by the caller from here on (it closes it); head: the request
        head uvicorn passed to data_received, followed by any bytes the client
        sent after it (normally none). The asyncio side then lets go without
        writing anything: it stops reading and closes only its own descriptor,
        so the client sees nothing until the fd's new owner writes. Later
        sends from the app are ignored, receive() answers websocket.disconnect.
        RuntimeError when the connection is lost or closing, already answered
        over HTTP, or already taken."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("fastsio.adopt: take() was already called")
        fd_head = conn.take()
        self._conn = None
        return fd_head


class ClaimedConnection:
    """One claimed upgrade: runs the app until it takes the socket or answers
    over HTTP. In server_state.connections (uvicorn's shutdown answers it 500)
    and its task in server_state.tasks until take(), never after."""

    def __init__(self, config, server_state, app_state, transport, head, request, loop):
        self.config = config
        self.transport = transport
        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self.head = bytes(head)
        self.early = bytearray()
        self.connect_sent = False
        self.taken = False
        self.lost = False
        self.answered = False       # an HTTP answer was written (or refused accept)
        self.response = None        # (status, headers, body) of websocket.http.response.*
        self.gone = asyncio.Event()  # lost, answered and closed, or taken
        _, target, headers = request
        raw_path, _, query = target.partition(b"?")
        root_path = config.root_path
        subprotocols = [t.strip() for n, v in headers if n == b"sec-websocket-protocol"
                        for t in v.decode("latin-1").split(",")]
        self.scope = {
            "type": "websocket",
            "asgi": _asgi_info(config.asgi_version),
            "http_version": "1.1",
            "scheme": "wss" if is_ssl(transport) else "ws",
            "server": shared.address(get_local_addr(transport)),
            "client": shared.address(get_remote_addr(transport)),
            "root_path": root_path,
            "path": root_path + unquote(raw_path.decode("ascii")),
            "raw_path": root_path.encode("ascii") + raw_path,
            "query_string": query,
            "headers": headers,
            "subprotocols": subprotocols,
            "state": app_state.copy(),
            "extensions": {"websocket.http.response": {}, ADOPT_EXTENSION: Adoption(self)},
        }
        self.connections.add(self)
        self.task = loop.create_task(self.run_asgi(config.loaded_app))
        self.task.add_done_callback(self.tasks.discard)
        self.tasks.add(self.task)

    # asyncio protocol callbacks (forwarded by WebSocketProtocol)

    def data_received(self, data):
        if self.taken or self.answered:
            return
        self.early += data
        if len(self.early) > MAX_EARLY_BYTES:
            logger.warning("%s - fastsio: %d bytes sent before the websocket handshake; "
                           "closing", get_client_addr(self.scope), len(self.early))
            self.transport.abort()

    def eof_received(self):
        return None

    def connection_lost(self, exc):
        if self.taken:
            return
        self.lost = True
        self.connections.discard(self)
        self.gone.set()
        if exc is None:
            self.transport.close()

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass

    def shutdown(self):
        if not self.answered and self.response is None:
            self.answer(500, [], b"Internal Server Error")
        self.transport.close()

    # the hand-over

    def take(self):
        if self.taken:
            raise RuntimeError("fastsio.adopt: take() was already called")
        if self.lost or self.transport.is_closing():
            raise RuntimeError("fastsio.adopt: the connection is lost")
        if self.answered or self.response is not None:
            raise RuntimeError("fastsio.adopt: the request was answered over HTTP")
        fd = os.dup(self.transport.get_extra_info("socket").fileno())
        self.taken = True
        # a selector transport's abort unregisters the fd, drops nothing (it
        # wrote nothing) and then closes only its own descriptor: no FIN, no RST
        self.transport.pause_reading()
        self.transport.abort()
        self.connections.discard(self)
        self.tasks.discard(self.task)
        NativeShutdown.watch(self.connections)
        self.gone.set()
        logger.info('%s - "WebSocket %s" [adopted]', get_client_addr(self.scope),
                    get_path_with_query_string(self.scope))
        head = self.head + bytes(self.early)
        self.early = bytearray()
        return fd, head

    # ASGI

    async def receive(self):
        if not self.connect_sent:
            self.connect_sent = True
            return {"type": "websocket.connect"}
        await self.gone.wait()
        return {"type": "websocket.disconnect", "code": 1006}

    async def send(self, message):
        if self.taken:
            return
        if self.lost:
            raise ClientDisconnected()
        kind = message["type"]
        if self.answered:
            raise RuntimeError(f"Unexpected ASGI message '{kind}', after sending "
                               "'websocket.close' or response already completed.")
        if self.response is not None:
            if kind != "websocket.http.response.body":
                raise RuntimeError("Expected ASGI message 'websocket.http.response.body' "
                                   f"but got '{kind}'.")
            status, headers, body = self.response
            self.response = (status, headers, body + message.get("body", b""))
            if not message.get("more_body", False):
                self.answer(*self.response)
                self.transport.close()
            return
        if kind == "websocket.accept":
            logger.error("fastsio.uvicorn: %s - the app accepted the websocket %s, which "
                         "is handed to fastsio's native transport and cannot be served by "
                         "uvicorn; answered 500", get_client_addr(self.scope),
                         get_path_with_query_string(self.scope))
            self.answer(500, [], b"Internal Server Error")
            self.transport.close()
            raise ClientDisconnected()
        if kind == "websocket.close":
            logger.info('%s - "WebSocket %s" 403', get_client_addr(self.scope),
                        get_path_with_query_string(self.scope))
            self.answer(403, [], b"")
            self.transport.close()
        elif kind == "websocket.http.response.start":
            status = message["status"]
            if not 100 <= status < 600:
                raise RuntimeError("Invalid HTTP status code '%d' in response." % status)
            logger.info('%s - "WebSocket %s" %d', get_client_addr(self.scope),
                        get_path_with_query_string(self.scope), status)
            self.response = (status, list(message.get("headers", [])), b"")
        else:
            raise RuntimeError("Expected ASGI message 'websocket.accept', 'websocket.close' "
                               f"or 'websocket.http.response.start' but got '{kind}'.")

    def answer(self, status, headers, body):
        """Writes one HTTP response as uvicorn's websocket protocol writes its
        refusals (the app's headers, then Date, Connection, Content-Length,
        Content-Type unless given)."""
        self.answered = True
        self.gone.set()
        have = {name.lower() for name, _ in headers}
        out = [f"HTTP/1.1 {status} {_status_phrase(status)}\r\n".encode("ascii")]
        out += [name + b": " + value + b"\r\n" for name, value in headers]
        for name, value in ((b"Date", email.utils.formatdate(usegmt=True).encode("ascii")),
                            (b"Connection", b"close"),
                            (b"Content-Length", str(len(body)).encode("ascii")),
                            (b"Content-Type", b"text/plain; charset=utf-8")):
            if name.lower() not in have:
                out.append(name + b": " + value + b"\r\n")
        out.append(b"\r\n")
        out.append(body)
        self.transport.write(b"".join(out))

    async def run_asgi(self, app):
        try:
            result = await app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            logger.exception("Exception in ASGI application\n")
            if not self.taken and not self.answered and not self.lost:
                self.answer(500, [], b"Internal Server Error")
        else:
            if not self.taken and not self.answered and not self.lost \
                    and self.response is None:
                logger.error("ASGI callable returned without completing handshake.")
                self.answer(500, [], b"Internal Server Error")
            elif result is not None:
                logger.error("ASGI callable should return None, but returned '%s'.", result)
        if not self.taken:
            self.transport.close()


class NativeShutdown:
    """Stands in uvicorn's connections set once a websocket was adopted:
    uvicorn's shutdown calls shutdown() on every connection before it waits
    for them, and this one closes every native connection (status 1001, their
    disconnect handlers run on the loop) and leaves the set. uvicorn exits by
    re-raising the signal it caught, so atexit would come too late."""

    _current = None   # the one in a connections set (one uvicorn server a process)

    def __init__(self, connections):
        self.connections = connections

    @classmethod
    def watch(cls, connections):
        current = cls._current
        if current is not None and current.connections is connections \
                and current in connections:
            return
        cls._current = cls(connections)
        connections.add(cls._current)

    def shutdown(self):
        from .engine import native
        self.connections.discard(self)
        native.shutdown_all()
