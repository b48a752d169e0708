"""The native transport: websockets owned by the C libwebsockets thread.

A websocket request reaches the engine with the ASGI extension
"fastsio.adopt" when the server runs `fastsio.uvicorn:WebSocketProtocol`. The
engine handshakes it as on the ASGI path (origin check, session, OPEN queued,
on_connect), then `adopt` hands the socket to the C thread
(`_core.NativeServer`), which completes the websocket handshake, writes the
hub queue (the OPEN first), and answers pings, probes and closes without
Python. The session stays an ordinary `Session` in the engine's tables; its
`wake` wakes the C writer instead of an asyncio writer. A websocket that
upgrades a polling session is adopted too (`adopt_upgrade`): the C thread
answers the probe and tells the loop (PROBED: the pending poll gets NOOP),
and on the client's UPGRADE takes the session's queue over (UPGRADED); until
then the polling side keeps it, and a websocket that ends earlier was a failed
upgrade (the session goes on over polling).

Inbound: the C thread posts Engine.IO MESSAGE payloads and closes to an
inbox; one reader on its eventfd takes them in batches and hands each
message to `engine.on_message`. A plain EVENT's dispatch runs inline (its
handler gets a task of its own, as python-socketio gives it): one whose
Socket.IO header the C thread decoded (NATIVE_EVENT) first through the
server's `plain_event` (checks, the handler's task, no coroutine around
them), else through on_message, in a coroutine that becomes a task
only if it suspends; whatever runs application code directly (connect
and disconnect handlers, ack callbacks) runs in a task. A connection with an
item in a task keeps its later items waiting (per-connection order, no
head-of-line blocking across connections). The taken backlog is bounded:
past MAX_BACKLOG the reader stops until it is worked off, and the C inbox
then stops the thread reading sockets (ws_inbox.h).

Threads: everything here runs on the asyncio loop that serves the app; the C
thread never calls Python. `shutdown_all` (atexit, or the server's shutdown)
closes every native connection with websocket status 1001.
"""
import asyncio
import atexit
import collections
import logging
import os
import weakref

from .. import _core
from ..background import resume, spawn
from .session import NOOP, Reason

MAX_BACKLOG = 8192
# the C thread's reasons that python-socketio has no name for
REASONS = {"server shutdown": Reason.SERVER_DISCONNECT,
           "handshake failed": Reason.TRANSPORT_ERROR}
_transports = weakref.WeakSet()
logger = logging.getLogger("fastsio.native")


class NativeWake:
    """`Session.wake` of a native session: setting it wakes the C writer
    (at the end of the loop's current batch of callbacks, see
    NativeTransport.wake)."""

    __slots__ = ("transport", "conn")

    def __init__(self, transport, conn):
        self.transport = transport
        self.conn = conn

    def set(self):
        self.transport.wake(self.conn)

    def clear(self):
        pass

    def is_set(self):
        return False


class NativeTransport:
    """One engine's C websocket thread and the loop side of its inbox."""

    def __init__(self, engine, deflate=False):
        """deflate: offer permessage-deflate (uvicorn's --ws-per-message-deflate,
        on by default); frames of compression_threshold bytes and more then
        leave compressed, a broadcast's once for all its recipients."""
        self.engine = engine
        # the real period: in compat mode the OPEN packet (made by the
        # engine) shows it truncated to whole seconds, as python-engineio's
        interval = engine.ping_interval + engine.ping_interval_grace_period
        self.server = _core.NativeServer(
            engine.hub, ping_interval_ms=max(round(interval * 1000), 1),
            ping_timeout_ms=max(round(engine.ping_timeout * 1000), 1),
            max_payload=engine.max_http_buffer_size,
            compress_threshold=max(int(engine.compression_threshold), 1) if deflate else 0,
            # the C thread's event loop: libev where it loads, else poll
            # (docs/native-event-loop.md); "poll" forces lws's own
            event_loop=os.environ.get("FASTSIO_LWS_LOOP", "default"))
        self.loop = asyncio.get_running_loop()
        self.fd = self.server.fileno()
        self.backlog = collections.deque()
        self.busy = {}          # conn -> deque of items waiting for its running task
        self.upgrading = {}     # conn -> polling Session whose websocket is adopted
        self.refused = set()    # conns of websockets adopted only to be closed
        self.reading = True
        self.closed = False     # shut down: its thread is gone (the inbox stays)
        self.wakes = []         # conns to wake when the loop's current batch ends
        # plain EVENTs are dispatched inline (see _inline): the Socket.IO
        # server sets engine.plain_event when it spawns its handlers
        self.plain_event = getattr(engine, "plain_event", None)
        self.loop.add_reader(self.fd, self._readable)
        _transports.add(self)

    # -- inbound --

    def _readable(self):
        items = self.server.take()
        if not items:
            return
        self.backlog.extend(items)
        self._work()
        if self.reading and len(self.backlog) > MAX_BACKLOG:
            self.loop.remove_reader(self.fd)
            self.reading = False

    def _work(self):
        backlog, busy, by_conn = self.backlog, self.busy, self.engine.by_conn
        plain, loop, EVENT = self.plain_event, self.loop, _core.NATIVE_EVENT
        while backlog:
            item = backlog.popleft()
            conn = item[1]
            waiting = busy.get(conn)
            if waiting is not None:
                waiting.append(item)
                continue
            if item[0] == EVENT and plain is not None:
                # the server's short way (see the module docstring)
                s = by_conn.get(conn)
                if (s is not None and s.native is self and not s.closing and not s.closed
                        and plain(s, item, loop)):
                    continue
            self._run(item)
        if not self.reading and not self.closed:
            self.reading = True
            self.loop.add_reader(self.fd, self._readable)

    def _run(self, item):
        """Handles one item: inline when no application code runs outside a
        task of its own (see _inline), becoming a task only if it suspends;
        otherwise as a task, as it would run in the websocket's task on the
        ASGI path. A connection whose item is in a task owns it until done:
        its later items wait in busy[conn]."""
        conn = item[1]
        if self._inline(item):
            coro = self._handle(item)
            try:
                fut = coro.send(None)
            except StopIteration:
                return
            except Exception:
                logger.exception("native transport: handler error")
                return
            first = resume(coro, fut)
        else:
            first = self._handle(item)
        self.busy[conn] = collections.deque()
        spawn(self._finish(conn, first))

    def _inline(self, item):
        """A plain EVENT while the server spawns a task per handler
        (async_handlers): its dispatch runs no application code, so it needs
        no task. CONNECT and DISCONNECT handlers, ack callbacks, binary
        packets and closes run in a task: application code may rely on
        asyncio.current_task() (asyncio.timeout; wait_for on 3.12+)."""
        kind, value = item[0], item[2]
        return self.plain_event is not None and (
            kind == _core.NATIVE_EVENT
            or (kind == _core.NATIVE_MESSAGE and isinstance(value, str) and value[:1] == "2"))

    async def _finish(self, conn, first):
        try:
            await first
            waiting = self.busy.get(conn)
            while waiting:
                await self._handle(waiting.popleft())
        except Exception:
            logger.exception("native transport: handler error")
        finally:
            waiting = self.busy.pop(conn, None)
            if waiting:
                self.backlog.extendleft(reversed(waiting))
                self._work()

    async def _handle(self, item):
        kind, conn, value = item[0], item[1], item[2]
        if kind == _core.NATIVE_EVENT:
            kind = _core.NATIVE_MESSAGE   # its text, the general way
        s = self.engine.by_conn.get(conn)
        if s is not None and s.native_upgrade is self:
            self._upgrade_step(s, kind)
            return
        if s is None or s.native is not self:
            if kind == _core.NATIVE_CLOSE and conn in self.refused:
                self.refused.discard(conn)
                self.engine.hub.close(conn)
            return
        if kind == _core.NATIVE_MESSAGE:
            if s.closing or s.closed:
                return
            if value is None:
                await self._drop(s, "undecodable text frame")
                return
            try:
                await self.engine.on_message(s, value)
            except ValueError as exc:
                await self._drop(s, exc)
        elif kind == _core.NATIVE_CLOSE:
            await s.close(REASONS.get(value, value), abort=True)
            s.release()

    def _upgrade_step(self, s, kind):
        """PROBED, UPGRADED or CLOSE of a polling session's adopted websocket."""
        if kind == _core.NATIVE_PROBED:
            if not s.closed and (s.polling or not self.engine.spec):
                # ends the pending GET; python-engineio queues it even with no
                # GET pending, and it then goes out on the websocket
                s.push_control(NOOP)
        elif kind == _core.NATIVE_UPGRADED:
            if s.closing or s.closed:
                return   # its close is on its way: the CLOSE item follows
            s.native_upgrade = None
            s.cancel_timers()   # the C thread pings from now on
            s.native = self
            s.wake = NativeWake(self, s.conn)
            s.end_upgrade(True)
            self.wake(s.conn)
        elif kind == _core.NATIVE_CLOSE:
            s.native_upgrade = None
            if s.upgrading:
                self.engine.logger.info("%s: Failed websocket upgrade", s.sid)
                s.end_upgrade(False)

    async def _drop(self, s, why):
        self.engine.logger.warning("%s: invalid packet: %s", s.sid, why)
        await s.close(Reason.TRANSPORT_ERROR, abort=True)

    # -- sessions --

    def adopt(self, s, handoff, upgrade=False):
        """Hands the session's socket to the C thread. Raises on failure
        (the socket is closed; the session is the caller's to end)."""
        fd, head = handoff.take()
        # the request's ASGI callables are dead from here on; keeping them in
        # the environ would keep the whole hand-over alive per session
        s.environ["asgi.receive"] = _disconnected
        s.environ["asgi.send"] = _ignored
        body = s.environ.get("wsgi.input")
        if body is not None and body.receive is not None:
            body.receive = _disconnected
        if upgrade:
            s.native_upgrade = self
        else:
            s.native = self
            s.wake = NativeWake(self, s.conn)
            s.connected = True
            s.upgraded = True
        try:
            self.server.adopt(fd, head, s.sid, s.conn, upgrade=upgrade)
        except Exception:
            s.native_upgrade = None
            raise

    def close_conn(self, conn):
        self.server.close_conn(conn)   # ignored once shut down

    def wake(self, conn):
        """Wakes conn's C writer once the loop's current batch of callbacks
        has run: every wake of a batch (a burst of acks, say) reaches the C
        thread in one call, which signals it once, instead of waking it (and
        being preempted by it) per packet. Order does not matter: the C thread
        drains whatever is queued when it gets to a connection."""
        if not self.wakes:
            self.loop.call_soon(self._flush_wakes)
        self.wakes.append(conn)

    def wake_many(self, conns):
        if not self.wakes:
            self.loop.call_soon(self._flush_wakes)
        self.wakes.extend(conns)

    def _flush_wakes(self):
        wakes, self.wakes = self.wakes, []
        self.server.wake_many(wakes)   # ignored once shut down

    def stats(self):
        return self.server.stats()

    def shutdown(self):
        """Closes every connection (1001) and stops the thread; the CLOSE
        items are handled if the loop still runs."""
        if self.closed:
            return
        self.closed = True
        self.server.close()
        if not self.loop.is_closed():
            try:
                self._readable()
                self.loop.remove_reader(self.fd)
            except RuntimeError:
                pass


async def _disconnected():
    return {"type": "websocket.disconnect", "code": 1006}


async def _ignored(message):
    return None


def handoff_of(environ):
    """The "fastsio.adopt" extension of the request, or None."""
    return (environ["asgi.scope"].get("extensions") or {}).get("fastsio.adopt")


def transport_of(engine, handoff):
    """The engine's NativeTransport, made (and its thread started) on first
    use."""
    transport = engine.native
    if transport is None or transport.closed:
        # permessage-deflate as uvicorn's --ws-per-message-deflate says, for
        # the transport's life (the first adoption's server decides)
        transport = engine.native = NativeTransport(
            engine, deflate=bool(getattr(handoff, "per_message_deflate", False)))
    return transport


async def adopt_websocket(engine, s, handoff):
    """The native end of a websocket handshake: the session s exists (OPEN
    queued, on_connect done). Returns None: nothing more to answer here."""
    try:
        transport_of(engine, handoff).adopt(s, handoff)
    except Exception as exc:
        engine.logger.warning("%s: websocket not adopted: %s", s.sid, exc)
        await s.close(Reason.TRANSPORT_ERROR, abort=True)
        s.release()
    return None


def adopt_upgrade(engine, s, handoff):
    """The websocket of an upgrade from polling, handed to the C thread.
    Returns None: nothing more to answer here."""
    s.upgrading = True
    try:
        transport_of(engine, handoff).adopt(s, handoff, upgrade=True)
    except Exception as exc:
        engine.logger.warning("%s: websocket upgrade not adopted: %s", s.sid, exc)
        s.end_upgrade(False)
    return None


def refuse(engine, handoff):
    """Accepts a websocket and closes it at once (a second one for a
    session), on a throwaway hub connection."""
    transport = transport_of(engine, handoff)
    sid = "refused-" + engine.generate_id()
    conn = engine.hub.open(sid)
    try:
        fd, head = handoff.take()
        transport.server.adopt(fd, head, sid, conn)
    except Exception as exc:
        engine.logger.info("second websocket not adopted: %s", exc)
        engine.hub.close(conn)
        return
    transport.refused.add(conn)
    transport.server.close_conn(conn)


def shutdown_all():
    adopted = 0
    for t in list(_transports):
        stats = t.stats()
        adopted += stats["adopted"] if stats else 0
        t.shutdown()
    report = os.environ.get("FASTSIO_NATIVE_REPORT")
    if report:   # the test suite counts adoptions across its servers
        with open(report, "a") as f:
            f.write(f"{adopted}\n")


atexit.register(shutdown_all)
