"""AsyncServer: python-socketio's AsyncServer API over the fastsio core.

Handlers run on the asyncio loop exactly as in python-socketio: the connect
handler inline, event handlers in their own task when async_handlers is True.
Handler exceptions are logged; they never end the connection loop.
"""
import asyncio
import inspect
import logging
import types

from . import _core, exceptions, packet
from .background import kept, spawn
from .engine import EngineServer, Reason
from .engine.server import Refused
from .handlers import invoke_handler, resolve_logger
from .manager import AsyncManager
from .namespace import AsyncNamespace
from .stream import DEFAULT_MAX_BYTES, DEFAULT_WINDOW, Stream

default_logger = logging.getLogger("socketio.server")


class AsyncServer:
    """A Socket.IO server for asyncio (ASGI), drop-in for python-socketio's.

    Takes python-socketio's arguments (client_manager, logger, serializer,
    json, async_handlers, always_connect, namespaces) and python-engineio's
    (async_mode, ping_interval, ping_timeout, max_http_buffer_size,
    allow_upgrades, http_compression, compression_threshold, cookie,
    cors_allowed_origins, cors_credentials, transports, engineio_logger).
    ``max_queue`` (frames, default 10000) and ``max_queue_bytes`` (default 64
    MiB; None for no byte bound) bound each client's outbound queue; a client
    that falls that far behind is disconnected with reason 'transport error'.
    A broadcast's packet counts in full against every queue it sits in. The
    byte default is 64 times the default max_http_buffer_size: room for a
    burst of large messages to a client that is merely slow, while one stalled
    client pins at most that much until it is dropped (docs/limits.md).

    Where python-socketio departs from the Engine.IO v4 / Socket.IO v5
    specifications, fastsio answers as the specifications (and the JS
    server) do; ``compat="python-socketio"`` keeps python-socketio's answers
    instead. ``connect_timeout`` (seconds; default 45, None with that compat)
    closes a connection that has joined no namespace by then. See
    docs/conformance.md. ``max_pending_connections`` (default 10000, None:
    no bound) caps the connections that have joined no namespace yet; past
    it a new handshake is answered 503 (docs/limits.md).
    """

    reserved_events = ["connect", "disconnect"]
    reason = Reason

    def __init__(self, client_manager=None, logger=False, serializer="default",
                 json=None, async_handlers=True, always_connect=False,
                 namespaces=None, max_queue=10000, max_queue_bytes=64 * 1024 * 1024,
                 compat=None, connect_timeout=..., max_pending_connections=10000,
                 **kwargs):
        async_mode = kwargs.pop("async_mode", None)
        if async_mode not in (None, "asgi"):
            raise ValueError("Invalid async_mode specified")
        engineio_logger = kwargs.pop("engineio_logger", None)
        if engineio_logger is not None:
            kwargs["logger"] = engineio_logger
        else:
            kwargs.pop("logger", None)
        if serializer == "default":
            self.packet_class = packet.Packet
        elif isinstance(serializer, type) and issubclass(serializer, packet.Packet):
            self.packet_class = serializer
        else:
            raise ValueError("serializer must be 'default' or a subclass of "
                             "fastsio.packet.Packet")
        if json is not None:
            self.packet_class.json = json
        self._fast_codec = (self.packet_class.encode is packet.Packet.encode
                            and self.packet_class.decode is packet.Packet.decode)
        self._dumps = packet.compact_dumps(self.packet_class.json)
        self._loads = packet.fast_loads(self.packet_class.json)
        self._hub = _core.Hub(max_queue, max_queue_bytes)
        self.eio = EngineServer(self._hub, self._on_eio_connect, self._on_eio_message,
                                self._on_eio_disconnect, json_dumps=self._dumps,
                                compat=compat, **kwargs)
        self.spec = self.eio.spec
        if connect_timeout is ...:
            connect_timeout = 45 if self.spec else None
        self.connect_timeout = connect_timeout
        self.max_pending_connections = max_pending_connections
        # eio sid -> connect_timeout timer (or None), until a namespace connects
        self._pending = {}
        self.environ = {}
        self.handlers = {}
        self.namespace_handlers = {}
        self.not_handled = object()
        self._binary_packet = {}
        self.logger = resolve_logger(logger, default_logger)
        if client_manager is not None and not isinstance(client_manager, AsyncManager):
            raise TypeError(
                f"client_manager {type(client_manager).__qualname__} is not a fastsio manager: "
                "fastsio keeps rooms in its C hub, which python-socketio's managers do not "
                "know. Use fastsio.AsyncManager() or fastsio.AsyncRedisManager(url) "
                "(room_channels=True for per-room channels).")
        self.manager = client_manager if client_manager is not None else AsyncManager()
        self.manager.set_server(self)
        self.manager_initialized = False
        self.async_handlers = async_handlers
        # the native transport dispatches plain EVENTs outside any task, each
        # handler in a task of its own (engine/native.py, _plain_event)
        self.eio.plain_event = self._plain_event if async_handlers else None
        self.always_connect = always_connect
        self.namespaces = namespaces or ["/"]
        self.async_mode = "asgi"

    def is_asyncio_based(self):
        return True

    # -- registration --

    def on(self, event, handler=None, namespace=None):
        """Registers a handler for event (decorator when handler is None)."""
        namespace = namespace or "/"

        def set_handler(handler):
            self.handlers.setdefault(namespace, {})[event] = handler
            return handler

        if handler is None:
            return set_handler
        set_handler(handler)

    def event(self, *args, **kwargs):
        """Decorator registering a handler named after the function."""
        if len(args) == 1 and not kwargs and callable(args[0]):
            return self.on(args[0].__name__)(args[0])

        def set_handler(handler):
            return self.on(handler.__name__, *args, **kwargs)(handler)
        return set_handler

    def register_namespace(self, namespace_handler):
        if not isinstance(namespace_handler, AsyncNamespace):
            raise ValueError("Not a namespace instance")
        namespace_handler._set_server(self)
        self.namespace_handlers[namespace_handler.namespace] = namespace_handler

    # -- sending --

    async def emit(self, event, data=None, to=None, room=None, skip_sid=None,
                   namespace=None, callback=None, ignore_queue=False):
        namespace = namespace or "/"
        room = to or room
        self.logger.info('emitting event "%s" to %s [%s]', event, room or "all", namespace)
        await self.manager.emit(event, data, namespace, room=room, skip_sid=skip_sid,
                                callback=callback, ignore_queue=ignore_queue)

    async def send(self, data, to=None, room=None, skip_sid=None, namespace=None,
                   callback=None, ignore_queue=False):
        await self.emit("message", data=data, to=to, room=room, skip_sid=skip_sid,
                        namespace=namespace, callback=callback, ignore_queue=ignore_queue)

    def stream(self, event, to=None, room=None, skip_sid=None, namespace=None,
               window=None, max_bytes=None):
        """A :class:`fastsio.stream.Stream` of ``event`` emits to ``to``/``room``
        whose consecutive deltas (one per LLM token) go out merged, one emit
        per ``window`` seconds (0.05 by default) at most."""
        return Stream(self, event, to=to, room=room, skip_sid=skip_sid, namespace=namespace,
                      window=DEFAULT_WINDOW if window is None else window,
                      max_bytes=DEFAULT_MAX_BYTES if max_bytes is None else max_bytes)

    async def call(self, event, data=None, to=None, sid=None, namespace=None,
                   timeout=60, ignore_queue=False):
        """Emits to one client and waits for its ack; returns the ack data."""
        if to is None and sid is None:
            raise ValueError("Cannot use call() to broadcast.")
        if not self.async_handlers:
            raise RuntimeError("Cannot use call() when async_handlers is False.")
        answered = asyncio.Event()
        answers = []

        def on_ack(*args):
            answers.append(args)
            answered.set()

        await self.emit(event, data=data, room=to or sid, namespace=namespace,
                        callback=on_ack, ignore_queue=ignore_queue)
        try:
            await asyncio.wait_for(answered.wait(), timeout)
        except asyncio.TimeoutError:
            raise exceptions.TimeoutError() from None
        args = answers[0]
        if len(args) > 1:
            return args
        return args[0] if args else None

    # -- rooms and sessions --

    async def enter_room(self, sid, room, namespace=None):
        namespace = namespace or "/"
        self.logger.info("%s is entering room %s [%s]", sid, room, namespace)
        await self.manager.enter_room(sid, namespace, room)

    async def leave_room(self, sid, room, namespace=None):
        namespace = namespace or "/"
        self.logger.info("%s is leaving room %s [%s]", sid, room, namespace)
        await self.manager.leave_room(sid, namespace, room)

    async def close_room(self, room, namespace=None):
        namespace = namespace or "/"
        self.logger.info("room %s is closing [%s]", room, namespace)
        await self.manager.close_room(room, namespace)

    def rooms(self, sid, namespace=None):
        return self.manager.get_rooms(sid, namespace or "/")

    def _eio_session(self, sid, namespace):
        eio_sid = self.manager.eio_sid_from_sid(sid, namespace)
        return self.eio._get_session(eio_sid).session

    async def get_session(self, sid, namespace=None):
        namespace = namespace or "/"
        return self._eio_session(sid, namespace).setdefault(namespace, {})

    async def save_session(self, sid, session, namespace=None):
        namespace = namespace or "/"
        self._eio_session(sid, namespace)[namespace] = session

    def session(self, sid, namespace=None):
        """``async with sio.session(sid) as session:`` saves it on exit."""
        server = self

        class _SessionContext:
            async def __aenter__(self):
                self.session = await server.get_session(sid, namespace=namespace)
                return self.session

            async def __aexit__(self, *exc):
                await server.save_session(sid, self.session, namespace=namespace)

        return _SessionContext()

    def transport(self, sid, namespace=None):
        eio_sid = self.manager.eio_sid_from_sid(sid, namespace or "/")
        return self.eio.transport_of(eio_sid)

    def get_environ(self, sid, namespace=None):
        eio_sid = self.manager.eio_sid_from_sid(sid, namespace or "/")
        return self.environ.get(eio_sid)

    async def disconnect(self, sid, namespace=None, ignore_queue=False):
        """Disconnects sid from one namespace (the connection stays open)."""
        namespace = namespace or "/"
        if ignore_queue:
            connected = self.manager.is_connected(sid, namespace)
        else:
            connected = await self.manager.can_disconnect(sid, namespace)
        if not connected:
            return
        self.logger.info("Disconnecting %s [%s]", sid, namespace)
        eio_sid = self.manager.pre_disconnect(sid, namespace=namespace)
        self._binary_packet.pop(eio_sid, None)
        self._send_items(eio_sid, self._encode(packet.DISCONNECT, namespace, None))
        await self._trigger_event("disconnect", namespace, sid, Reason.SERVER_DISCONNECT)
        await self.manager.disconnect(sid, namespace=namespace, ignore_queue=True)

    async def shutdown(self):
        """Stops background activity; call before the web server stops."""
        self.logger.info("Socket.IO is shutting down")

    async def serve_native(self, host="0.0.0.0", port=8000, path="/socket.io/",
                           ssl_cert=None, ssl_key=None, **options):
        """Serves this server on a port of its own (fastsio/standalone.py):
        handshake, long-polling and websockets at `path`, websockets on the
        native transport; TLS with ssl_cert/ssl_key. Runs until SIGINT,
        SIGTERM or cancellation."""
        from .standalone import serve_native
        await serve_native(self, host=host, port=port, path=path, ssl_cert=ssl_cert,
                           ssl_key=ssl_key, **options)

    async def handle_request(self, scope, receive, send):
        return await self.eio.handle_request(scope, receive, send)

    def start_background_task(self, target, *args, **kwargs):
        return asyncio.ensure_future(target(*args, **kwargs))

    async def sleep(self, seconds=0):
        return await asyncio.sleep(seconds)

    # -- packets --

    def _encode(self, ptype, namespace, data, ack_id=None):
        """Outbound items for one packet: its text, then binary attachments."""
        if not self._fast_codec:
            encoded = self.packet_class(ptype, data=data, namespace=namespace,
                                        id=ack_id).encode()
            return encoded if isinstance(encoded, list) else [encoded]
        attachments = ()
        if data is not None and packet.has_binary(data):
            if ptype == packet.EVENT:
                ptype = packet.BINARY_EVENT
            elif ptype == packet.ACK:
                ptype = packet.BINARY_ACK
            else:
                raise ValueError("Packet does not support binary payload.")
            data, attachments = packet.deconstruct_binary(data)
        body = None if data is None else self._dumps(data)
        return [_core.sio_encode(ptype, namespace, ack_id, len(attachments), body),
                *attachments]

    def _decode(self, data):
        """(type, namespace, id, attachment count, payload) of an inbound packet."""
        if self._fast_codec:
            if not isinstance(data, str):
                raise ValueError("unexpected binary message")
            ptype, namespace, ack_id, count, body = _core.sio_decode(data)
            return ptype, namespace, ack_id, count, self._loads(body) if body else None
        pkt = self.packet_class(encoded_packet=data)
        return (pkt.packet_type, pkt.namespace or "/", pkt.id, pkt.attachment_count,
                pkt.data)

    def _send_items(self, eio_sid, items):
        s = self.eio.session_by_sid(eio_sid)
        if s is None or s.closed:
            self.eio.logger.warning("Cannot send to sid %s", eio_sid)
            return
        s.push(items)

    # -- inbound, from the engine --

    async def _on_eio_connect(self, session, environ):
        if not self.manager_initialized:
            self.manager_initialized = True
            self.manager.initialize()
        limit = self.max_pending_connections
        if limit is not None and len(self._pending) >= limit:
            self.eio.log_error_once(f"{limit} connections have joined no namespace yet "
                                    "(max_pending_connections): refusing new ones",
                                    "pending-cap")
            raise Refused("Too many pending connections", status=503)
        self.environ[session.sid] = environ
        self._pending[session.sid] = None if self.connect_timeout is None else \
            asyncio.get_running_loop().call_later(self.connect_timeout,
                                                  self._connect_timed_out, session)

    def _connect_timed_out(self, session):
        """No namespace joined within connect_timeout: the connection closes."""
        self._pending.pop(session.sid, None)
        if not session.closing and not session.closed:
            self.logger.info("%s: no namespace connected within %ss, closing",
                             session.sid, self.connect_timeout)
            spawn(session.close(Reason.SERVER_DISCONNECT))

    def _not_pending(self, eio_sid):
        timer = self._pending.pop(eio_sid, None)
        if timer is not None:
            timer.cancel()

    async def _on_eio_message(self, session, data):
        eio_sid = session.sid
        try:
            pending = self._binary_packet.get(eio_sid)
            if pending is not None:
                # every message while a binary packet is pending is one of its
                # attachments (python-socketio's rule), so one pending packet
                # per connection at most; one that cannot be completed (bad
                # placeholder) is dropped, else it would swallow the rest
                try:
                    complete = pending.add_attachment(data)
                except Exception:
                    del self._binary_packet[eio_sid]
                    raise
                if complete:
                    del self._binary_packet[eio_sid]
                    await self._dispatch(eio_sid, pending.packet_type, pending.namespace,
                                         pending.id, pending.data)
                return
            ptype, namespace, ack_id, count, payload = self._decode(data)
            if ptype in (packet.BINARY_EVENT, packet.BINARY_ACK) and count > 0:
                if not self.manager.sid_from_eio_sid(eio_sid, namespace):
                    raise ValueError("Unexpected binary packet")
                pending = packet.Packet(packet.CONNECT, namespace=namespace, id=ack_id)
                pending.packet_type = ptype
                pending.data = payload
                pending.attachment_count = count
                self._binary_packet[eio_sid] = pending
                return
            await self._dispatch(eio_sid, ptype, namespace, ack_id, payload)
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            if not self.spec:
                self.logger.warning("%s: invalid packet ignored: %s", eio_sid, exc)
                return
            # as the JS server does: a malformed packet ends the connection
            self.eio.log_error_once(f"{eio_sid}: invalid packet, closing the connection: "
                                    f"{exc}", "invalid-packet")
            spawn(session.close(Reason.TRANSPORT_ERROR))

    def _plain_event(self, session, item, loop):
        """The native transport's short way for the commonest packet, a text
        EVENT from a connected client while handlers run in tasks of their
        own. item is a NATIVE_EVENT: (kind, conn, text, namespace, ack id,
        JSON body), the Socket.IO header decoded on the C thread. Checked
        here, its handler started in a task, with no coroutine of the
        transport's around it. Returns False, having done nothing, for
        anything else (a pending binary packet, a custom serializer, errors,
        a client not in the namespace), which then takes on_message's
        general path, the one that logs and answers those cases."""
        eio_sid = session.sid
        if not self._fast_codec or eio_sid in self._binary_packet:
            return False
        namespace, ack_id, body = item[3], item[4], item[5]
        try:
            data = self._loads(body)
        except Exception:
            return False
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            return False
        m = self._hub.member_on_conn(namespace, session.conn)
        if m is None:
            return False
        sid = m[0]
        event = data[0]
        if (sid in self.manager.pending_disconnect.get(namespace, ())
                or event in self.reserved_events):
            return False
        self.logger.info('received event "%s" from %s [%s]', event, sid, namespace)
        ns_handlers = self.handlers.get(namespace)
        handler = ns_handlers.get(event) if ns_handlers is not None else None
        if handler is not None:   # what _get_event_handler finds first
            args = (sid, *data[1:])
        else:
            handler, args = self._get_event_handler(event, namespace, (sid, *data[1:]))
        if handler is None:   # a namespace class's, or none
            spawn(self._run_event(sid, eio_sid, data, namespace, ack_id), loop)
        else:
            loop.create_task(self._run_plain(loop, handler, args, session, event,
                                             namespace, ack_id))
        return True

    async def _run_plain(self, loop, handler, args, session, event, namespace, ack_id):
        """_run_event for a handler found by _plain_event: the handler's own
        task (kept alive in `kept` while it runs), its ack queued on session."""
        task = asyncio.current_task(loop)
        kept.add(task)
        try:
            try:
                r = handler(*args)
                if type(r) is types.CoroutineType or inspect.isawaitable(r):
                    r = await r
            except asyncio.CancelledError:
                r = None
            except Exception:
                self.logger.exception('error in handler for event "%s"', event)
                return
            if ack_id is None:
                return
            if session.closed:
                self.eio.logger.warning("Cannot send to sid %s", session.sid)
                return
            args = [] if r is None else list(r) if isinstance(r, tuple) else [r]
            try:
                session.push(self._encode(packet.ACK, namespace, args, ack_id))
            except Exception:
                self.logger.exception('cannot encode the ack of event "%s"', event)
        finally:
            kept.discard(task)

    async def _dispatch(self, eio_sid, ptype, namespace, ack_id, payload):
        if ptype == packet.CONNECT:
            await self._handle_connect(eio_sid, namespace, payload)
        elif ptype == packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, namespace, Reason.CLIENT_DISCONNECT)
        elif ptype in (packet.EVENT, packet.BINARY_EVENT):
            await self._handle_event(eio_sid, namespace, ack_id, payload)
        elif ptype in (packet.ACK, packet.BINARY_ACK):
            await self._handle_ack(eio_sid, namespace, ack_id, payload)
        elif ptype == packet.CONNECT_ERROR:
            raise ValueError("Unexpected CONNECT_ERROR packet.")
        else:
            raise ValueError("Unknown packet type.")

    async def _on_eio_disconnect(self, session, reason):
        for namespace in self.manager.get_namespaces():
            await self._handle_disconnect(session.sid, namespace, reason)
        self.environ.pop(session.sid, None)
        self._binary_packet.pop(session.sid, None)
        self._not_pending(session.sid)

    def _namespace_allowed(self, namespace):
        return (namespace in self.handlers or namespace in self.namespace_handlers
                or self.namespaces == "*" or namespace in self.namespaces)

    async def _handle_connect(self, eio_sid, namespace, data):
        """Runs the connect handler and answers CONNECT or CONNECT_ERROR. Under
        the specification the answer goes out before anything the handler
        emitted to the new client: a hub hold keeps its place in the queue
        while the handler runs (python-socketio sends it after them)."""
        s = self.eio.session_by_sid(eio_sid)
        token = None
        if self.spec and not self.always_connect and s is not None and not s.closed:
            token = self._hub.hold(s.conn)
            if token < 0:           # released meanwhile
                token = None
        answer = []
        try:
            answer = await self._connect(eio_sid, namespace, data)
        finally:
            if token is not None:
                s._pushed(self._hub.unhold(s.conn, token, answer))
            elif answer:
                self._send_items(eio_sid, answer)

    async def _connect(self, eio_sid, namespace, data):
        """The connect handler's run; returns the items of the answer."""
        sid = None
        if self._namespace_allowed(namespace):
            sid = await self.manager.connect(eio_sid, namespace)
        if sid is None:
            reason = {"message": "Invalid namespace"} if self.spec else "Unable to connect"
            return self._encode(packet.CONNECT_ERROR, namespace, reason)
        if self.always_connect:
            self._send_items(eio_sid, self._encode(packet.CONNECT, namespace, {"sid": sid}))
        fail_reason = exceptions.ConnectionRefusedError().error_args
        environ = self.environ.get(eio_sid)
        try:
            if data:
                success = await self._trigger_event("connect", namespace, sid, environ, data)
            else:
                try:
                    success = await self._trigger_event("connect", namespace, sid, environ)
                except TypeError:
                    success = await self._trigger_event("connect", namespace, sid, environ,
                                                        None)
        except exceptions.ConnectionRefusedError as exc:
            fail_reason = exc.error_args
            success = False
        except ConnectionRefusedError:
            fail_reason = {"message": "Connection refused by server"}
            success = False
        except Exception:
            self.logger.exception("connect handler error")
            success = False
        if success is False:
            if self.always_connect:
                self.manager.pre_disconnect(sid, namespace)
                answer = self._encode(packet.DISCONNECT, namespace, fail_reason)
            else:
                answer = self._encode(packet.CONNECT_ERROR, namespace, fail_reason)
            await self.manager.disconnect(sid, namespace, ignore_queue=True)
            return answer
        self._not_pending(eio_sid)
        if self.always_connect:
            return []
        return self._encode(packet.CONNECT, namespace, {"sid": sid})

    async def _handle_disconnect(self, eio_sid, namespace, reason=None):
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if sid is None or not self.manager.is_connected(sid, namespace):
            return
        self.manager.pre_disconnect(sid, namespace=namespace)
        try:
            await self._trigger_event("disconnect", namespace, sid,
                                      reason or Reason.CLIENT_DISCONNECT)
        except Exception:
            self.logger.exception("disconnect handler error")
        finally:
            await self.manager.disconnect(sid, namespace, ignore_queue=True)

    async def _handle_event(self, eio_sid, namespace, ack_id, data):
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise ValueError("event packet without an event name")
        self.logger.info('received event "%s" from %s [%s]', data[0], sid, namespace)
        if sid is None or not self.manager.is_connected(sid, namespace):
            self.logger.warning("%s is not connected to namespace %s", sid, namespace)
            return
        if self.async_handlers:
            # a task of its own, as python-socketio: handler code may rely on
            # asyncio.current_task() (asyncio.timeout, wait_for on 3.12+)
            spawn(self._run_event(sid, eio_sid, data, namespace, ack_id))
        else:
            await self._run_event(sid, eio_sid, data, namespace, ack_id)

    async def _run_event(self, sid, eio_sid, data, namespace, ack_id):
        try:
            r = await self._trigger_event(data[0], namespace, sid, *data[1:])
        except Exception:
            self.logger.exception('error in handler for event "%s"', data[0])
            return
        if r is self.not_handled or ack_id is None:
            return
        if r is None:
            args = []
        elif isinstance(r, tuple):
            args = list(r)
        else:
            args = [r]
        try:
            self._send_items(eio_sid, self._encode(packet.ACK, namespace, args, ack_id))
        except Exception:
            self.logger.exception('cannot encode the ack of event "%s"', data[0])

    async def _handle_ack(self, eio_sid, namespace, ack_id, data):
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        self.logger.info("received ack from %s [%s]", sid, namespace)
        if sid is None or ack_id is None:
            return
        if not isinstance(data, list):
            data = [] if data is None else [data]
        try:
            await self.manager.trigger_callback(sid, ack_id, data)
        except Exception:
            self.logger.exception("ack callback error")

    def _get_event_handler(self, event, namespace, args):
        handler = None
        ns_handlers = self.handlers.get(namespace)
        if ns_handlers is not None:
            if event in ns_handlers:
                handler = ns_handlers[event]
            elif event not in self.reserved_events and "*" in ns_handlers:
                handler = ns_handlers["*"]
                args = (event, *args)
        if handler is None and "*" in self.handlers:
            any_ns = self.handlers["*"]
            if event in any_ns:
                handler = any_ns[event]
                args = (namespace, *args)
            elif event not in self.reserved_events and "*" in any_ns:
                handler = any_ns["*"]
                args = (event, namespace, *args)
        return handler, args

    def _get_namespace_handler(self, namespace, args):
        handler = self.namespace_handlers.get(namespace)
        if handler is None and "*" in self.namespace_handlers:
            handler = self.namespace_handlers["*"]
            args = (namespace, *args)
        return handler, args

    async def _trigger_event(self, event, namespace, *args):
        handler, args = self._get_event_handler(event, namespace, args)
        if handler is not None:
            return await invoke_handler(handler, event, args)
        handler, args = self._get_namespace_handler(namespace, args)
        if handler is not None:
            return await handler.trigger_event(event, *args)
        return self.not_handled
