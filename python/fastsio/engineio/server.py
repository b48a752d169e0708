"""AsyncServer: python-engineio 4.x's AsyncServer API over fastsio.engine.

The Engine.IO protocol (handshake, transports, pings, upgrades, HTTP answers)
is fastsio.engine.EngineServer's, shared with fastsio's Socket.IO server; this
class supplies its three callbacks and python-engineio's methods. Messages go
out through the session's C hub queue: `send(sid, "hi")` is the frame `4hi`
(a text frame on websocket, a payload packet on polling), bytes a binary
message (`b<base64>` on polling).

Behaviour follows python-engineio 4.x:
- connect(sid, environ) runs before the handshake is answered; returning
  anything but None or True (or raising) refuses it with 401 and the value
  as JSON ("Unauthorized" for False); nothing sent in it reaches the client.
- message(sid, data): bytes as received; a text message is JSON-decoded when
  it parses (not when it starts with a digit), else given as str. Run in its
  own task when async_handlers is True.
- disconnect(sid, reason), or the older disconnect(sid), runs once per
  session, with one of AsyncServer.reason's values.
- send(sid, data): str and bytes as they are, dict and list as compact JSON,
  other values as str(data).

Differences: json= applies to this server only (python-engineio sets it
process-wide); async_mode must be "asgi" (or None); max_queue (fastsio)
bounds each client's outbound queue in frames; `sockets` maps sids to
fastsio.engine.Session objects.

Thread: the asyncio loop that serves the ASGI app.
"""
import asyncio
import json as stdlib_json

from .. import _core
from ..background import spawn
from ..engine import EngineServer, Reason
from ..handlers import invoke_handler


class _DefaultJson:
    """python-engineio's default: the standard json module, with integers
    longer than 100 digits refused by loads."""

    dumps = staticmethod(stdlib_json.dumps)

    @staticmethod
    def _safe_int(s):
        if len(s) > 100:
            raise ValueError("Integer is too large")
        return int(s)

    @classmethod
    def loads(cls, s, **kwargs):
        kwargs.setdefault("parse_int", cls._safe_int)
        return stdlib_json.loads(s, **kwargs)


class AsyncServer:
    """An Engine.IO server for asyncio (ASGI), drop-in for python-engineio's.

    Takes python-engineio's arguments: async_mode ("asgi"), ping_interval
    (seconds, or (interval, grace period)), ping_timeout,
    max_http_buffer_size, allow_upgrades, http_compression,
    compression_threshold, cookie, cors_allowed_origins, cors_credentials,
    logger, json, async_handlers, monitor_clients (accepted; every session
    has its own ping timers), transports. Other keyword arguments are
    ignored, as python-engineio does. ``compat="python-engineio"`` keeps
    python-engineio's HTTP answers where they depart from the Engine.IO v4
    specification (the default follows the specification, as fastsio's
    Socket.IO server does).
    """

    event_names = ["connect", "disconnect", "message"]
    reason = Reason

    def __init__(self, async_mode=None, json=None, async_handlers=True, max_queue=10000,
                 compat=None, **kwargs):
        if async_mode not in (None, "asgi"):
            raise ValueError("Invalid async_mode specified")
        if compat == "python-engineio":
            compat = "python-socketio"      # the engine's name for the same answers
        if compat is not None:
            kwargs["compat"] = compat
        self.json = json if json is not None else _DefaultJson
        self.async_handlers = async_handlers
        self.handlers = {}
        self.eio = EngineServer(_core.Hub(max_queue), self._on_connect, self._on_message,
                                self._on_disconnect, json_dumps=self.json.dumps, **kwargs)
        self.async_mode = "asgi"
        self.logger.info("Server initialized for %s.", self.async_mode)

    # python-engineio's option attributes, read from the engine
    logger = property(lambda self: self.eio.logger)
    sockets = property(lambda self: self.eio.sockets)
    transports = property(lambda self: self.eio.transports)
    ping_interval = property(lambda self: self.eio.ping_interval)
    ping_timeout = property(lambda self: self.eio.ping_timeout)
    max_http_buffer_size = property(lambda self: self.eio.max_http_buffer_size)

    def is_asyncio_based(self):
        return True

    def async_modes(self):
        return ["asgi"]

    # -- registration --

    def on(self, event, handler=None):
        """Registers the handler of 'connect', 'message' or 'disconnect'
        (decorator when handler is None)."""
        if event not in self.event_names:
            raise ValueError("Invalid event")

        def set_handler(handler):
            self.handlers[event] = handler
            return handler

        if handler is None:
            return set_handler
        set_handler(handler)

    # -- sending --

    async def send(self, sid, data):
        """Queues one MESSAGE for sid; an unknown or closed sid is logged."""
        s = self.eio.session_by_sid(sid)
        if s is None or s.closed:
            self.logger.warning("Cannot send to sid %s", sid)
            return
        s.push([self._message_item(data)])

    def _message_item(self, data):
        """The hub item of one outbound message: str (text) or bytes (binary),
        encoded as python-engineio's Packet.encode does."""
        if isinstance(data, (bytes, bytearray)):
            return bytes(data)
        if isinstance(data, str):
            return data
        if isinstance(data, (dict, list)):
            return self.json.dumps(data, separators=(",", ":"))
        return "" if data is None else str(data)

    async def disconnect(self, sid=None):
        """Closes sid's session (CLOSE sent, disconnect handler run with
        'server disconnect'), or every session when sid is None."""
        if sid is None:
            await self.eio.disconnect_all()
            return
        s = self.eio.session_by_sid(sid)
        if s is not None and not s.closed:
            await s.close(Reason.SERVER_DISCONNECT)

    # -- sessions --

    def transport(self, sid):
        """'polling' or 'websocket'; KeyError for an unknown or closed sid."""
        return self.eio.transport_of(sid)

    async def get_session(self, sid):
        return self.eio._get_session(sid).session

    async def save_session(self, sid, session):
        self.eio._get_session(sid).session = session

    def session(self, sid):
        """``async with eio.session(sid) as session:`` saves it on exit."""
        server = self

        class _SessionContext:
            async def __aenter__(self):
                self.session = await server.get_session(sid)
                return self.session

            async def __aexit__(self, *exc):
                await server.save_session(sid, self.session)

        return _SessionContext()

    # -- serving --

    async def handle_request(self, scope, receive, send):
        """The ASGI entry point (fastsio.engineio.ASGIApp calls it)."""
        return await self.eio.handle_request(scope, receive, send)

    async def shutdown(self):
        self.logger.info("Engine.IO is shutting down")

    def start_background_task(self, target, *args, **kwargs):
        return asyncio.ensure_future(target(*args, **kwargs))

    async def sleep(self, seconds=0):
        return await asyncio.sleep(seconds)

    def create_queue(self, *args, **kwargs):
        return asyncio.Queue(*args, **kwargs)

    def get_queue_empty_exception(self):
        return asyncio.QueueEmpty

    def create_event(self, *args, **kwargs):
        return asyncio.Event(*args, **kwargs)

    # -- callbacks of the engine --

    async def _on_connect(self, session, environ):
        """None accepts; any other value refuses (see EngineServer.open_session)."""
        handler = self.handlers.get("connect")
        if handler is None:
            return None
        try:
            return await invoke_handler(handler, "connect", (session.sid, environ))
        except Exception:
            self.logger.exception("connect handler error")
            return False

    async def _on_message(self, session, data):
        handler = self.handlers.get("message")
        if handler is None:
            return
        if isinstance(data, str):
            data = self._decode_text(data)
        if self.async_handlers:
            spawn(self._run_message(handler, session.sid, data))
        else:
            await self._run_message(handler, session.sid, data)

    def _decode_text(self, data):
        """python-engineio's Packet.decode: JSON when the text parses and does
        not start with a digit, else the text itself."""
        if not data or data[0].isnumeric():
            return data
        try:
            return self.json.loads(data)
        except ValueError:
            return data

    async def _run_message(self, handler, sid, data):
        try:
            await invoke_handler(handler, "message", (sid, data))
        except Exception:
            self.logger.exception("message handler error")

    async def _on_disconnect(self, session, reason):
        handler = self.handlers.get("disconnect")
        if handler is None:
            return
        try:
            await invoke_handler(handler, "disconnect", (session.sid, reason))
        except Exception:
            self.logger.exception("disconnect handler error")

