"""One Engine.IO session, whatever transport carries it.

A Session owns its state flags, its ping/pong timers and the id of its
outbound queue in the C hub. Every inbound packet, from any transport, goes
through `Session.receive`; every outbound one is pushed into the hub queue,
and the session's `wake` event tells the transport's one writer to drain it.
Nothing here knows ASGI: a transport that must be closed from here (on
overflow) registers `close_transport` while it runs.

Thread: the asyncio loop; the timers are that loop's `call_later` handles.
The EngineServer (`engine`) owns the sessions table and the hub; a session
leaves both in `release`.
"""
import asyncio

from .. import _core

OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = range(7)


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
                 "ping_timer", "pong_deadline", "released", "close_transport",
                 "keep_transport", "polling", "posting", "farewell", "upgrade_ended",
                 "native", "native_upgrade")

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
        self.close_transport = None  # set by the websocket once upgraded: a
                                     # callable returning the coroutine that
                                     # closes it
        self.keep_transport = False  # client sent CLOSE with compat=python-socketio:
                                     # its websocket stays open until the client
                                     # closes it
        self.polling = False         # a GET is waiting for frames
        self.posting = False         # a POST is being read
        self.farewell = False        # closed with CLOSE queued: a GET may
                                     # still take what is queued
        self.upgrade_ended = None    # an Event while a GET waits for the
                                     # upgrade in progress to end
        self.native = None           # the NativeTransport whose C thread owns
                                     # this session's websocket (native.py):
                                     # it pings, and `wake` wakes its writer
        self.native_upgrade = None   # that transport while it upgrades this
                                     # polling session (until UPGRADED)

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
        if self.native is not None:
            self.wake.set()   # the C thread closes an overflowed connection on a wake
        self.engine.spawn(self.close(Reason.TRANSPORT_ERROR, abort=True))
        if self.close_transport is not None:
            self.engine.spawn(self.close_transport())

    # -- upgrade --

    def end_upgrade(self, upgraded):
        self.upgrading = False
        self.upgraded = upgraded
        if self.upgrade_ended is not None:
            self.upgrade_ended.set()
            self.upgrade_ended = None

    async def upgrade_outcome(self, timeout):
        """Waits until the upgrade in progress ends or timeout passes."""
        if self.upgrade_ended is None:
            self.upgrade_ended = asyncio.Event()
        try:
            await asyncio.wait_for(self.upgrade_ended.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    # -- inbound --

    async def receive(self, pkt):
        """Handles one decoded inbound packet: str text packet or bytes message.
        Packets that arrive once the session is closing are dropped."""
        if self.closing or self.closed:
            return
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
            self.keep_transport = not self.engine.spec
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
                self.farewell = True
            self.closed = True
            self.wake.set()
            native = self.native or self.native_upgrade
            if native is not None:
                native.close_conn(self.conn)
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
