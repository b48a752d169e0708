"""AsyncRedisManager: python-socketio's Redis client manager, with the
receiving side in C.

Messages on the wire are python-socketio 5.16's (``emit``, ``disconnect``,
``enter_room``, ``leave_room``, ``close_room``, ``callback``, each with
``host_id``), published with the server's json module on ``channel``, so a
fleet may mix fastsio and python-socketio processes, and external
``write_only`` managers keep working. Local clients get an emit first, then it
is published.

Receiving: the C client's I/O thread reads the channel; a plain emit (no
callback, no binary, string rooms) published by another host is encoded once
and queued on the local members through the hub without the GIL; only the
other messages reach this loop.

``room_channels=True`` publishes an emit to one string room on
``<channel>#<namespace>#<room>`` (everything else on ``<channel>``) and
subscribes exactly to the room channels this process has local members for,
as Open WebUI's ``AsyncRedisRoomChannelManager`` does; joining a room (and
connecting, for the sid's own room) returns once Redis confirmed the
subscription. Both managers read each other's messages.

Publishing does not wait for Redis: commands are queued in order on the
client's connection. While Redis is unreachable they wait for it, up to
``max_pending`` publishes; past that, new publishes are dropped and logged
(once per outage) rather than growing memory without bound.
"""
import asyncio
import base64
import uuid
from functools import partial

from . import packet
from .manager import AsyncManager
from .redis_client import parse_url, shared_connection


# python-socketio / redis-py internals that a subclass may override there but
# that have no meaning here: the I/O is in C.
_UNSUPPORTED_OVERRIDES = ("_publish", "_listen", "_redis_listen_with_retries",
                          "_redis_connect", "_thread", "_get_redis_module_and_error")
SUBSCRIBE_WAIT = 10.0   # seconds a join waits for Redis to confirm a room channel


class AsyncRedisManager(AsyncManager):
    """Redis-backed client manager for several server processes.

    Same arguments as python-socketio's, plus ``room_channels`` (per-room
    channels, see the module doc) and ``max_pending``.
    """

    name = "aioredis"

    def __init__(self, url="redis://localhost:6379/0", channel="socketio", write_only=False,
                 logger=None, json=None, redis_options=None, room_channels=False,
                 max_pending=100000):
        for attr in _UNSUPPORTED_OVERRIDES:
            for klass in type(self).__mro__:
                if klass is AsyncRedisManager:
                    break
                if attr in vars(klass):
                    raise TypeError(
                        f"{type(self).__qualname__} overrides {attr}, a python-socketio/"
                        "redis-py internal that fastsio.AsyncRedisManager does not use (its "
                        "Redis I/O runs in C). For per-room channels as Open WebUI's "
                        "AsyncRedisRoomChannelManager does them, use "
                        "fastsio.AsyncRedisManager(url, room_channels=True).")
        super().__init__()
        self.redis_url = url
        self.redis_options = redis_options or {}
        self.channel = channel
        self.write_only = write_only
        self.logger = logger
        self.host_id = uuid.uuid4().hex
        self.room_channels = room_channels
        self.max_pending = max_pending
        if json is not None:
            self.json = json
        else:
            import json as stdlib_json
            self.json = stdlib_json
        self._cfg = parse_url(url, self.redis_options, default_service=channel)
        self.redis = shared_connection(self._cfg, purpose=f"pubsub:{channel}:{self.host_id}")
        self._pending = 0              # publishes queued, not yet answered
        self._dropping = False
        self._subscribed = {}          # channel -> future resolved on confirmation
        self._listening = False
        self._messages = asyncio.Queue()   # raw messages for Python, in order
        self._worker = None

    # -- set-up --

    def set_server(self, server):
        super().set_server(server)
        self.json = server.packet_class.json

    def initialize(self):
        super().initialize()
        if self.write_only:
            return
        self.redis.attach()
        self.redis.listeners.append(self)
        self.redis.client.set_fanout(self.hub, self.host_id)
        self._listening = True
        self._want(self.channel)
        self._get_logger().info(self.name + " backend initialized.")

    # -- channels --

    def _room_channel(self, namespace, room):
        return f"{self.channel}#{namespace}#{room}"

    def _want(self, channel):
        """Subscribes (once) and returns the confirmation future."""
        fut = self._subscribed.get(channel)
        if fut is None:
            fut = self._subscribed[channel] = asyncio.get_running_loop().create_future()
            self.redis.client.subscribe(channel)
        return fut

    def _drop(self, channel):
        if self._subscribed.pop(channel, None) is not None:
            self.redis.client.unsubscribe(channel)

    async def _wait_subscribed(self, channel):
        fut = self._want(channel)
        if fut.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(fut), SUBSCRIBE_WAIT)
        except asyncio.TimeoutError:
            self._get_logger().warning(
                "Redis did not confirm the subscription to %s within %.0f s; messages for "
                "it may be missed until it does", channel, SUBSCRIBE_WAIT)

    def _tracks(self, room):
        return self.room_channels and self._listening and isinstance(room, str)

    async def _room_joined(self, namespace, room):
        if self._tracks(room):
            await self._wait_subscribed(self._room_channel(namespace, room))

    def _rooms_left(self, namespace, rooms):
        for room in rooms:
            if self._tracks(room) and self.hub.room_size(namespace, self._key(room)) == 0:
                self._drop(self._room_channel(namespace, room))

    # -- listener interface (called by RedisConnection.drain, on the loop) --

    def on_wake(self, woken, overflowed):
        if woken:
            self.server.eio.wake_conns(woken)
        if overflowed:
            self.server.eio.overflowed(overflowed)

    def on_subscribed(self, channel, subscribed):
        if not subscribed:
            return
        fut = self._subscribed.get(channel.decode("utf-8", "surrogateescape"))
        if fut is not None and not fut.done():
            fut.set_result(True)

    def on_message(self, channel, data):
        """Messages are handled one at a time, in order, as python-socketio's
        listener does; the C side routes emits through here too while any
        earlier message is unfinished (message_done)."""
        self._messages.put_nowait(data)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._work())

    async def _work(self):
        while not self._messages.empty():
            data = self._messages.get_nowait()
            try:
                message = self.json.loads(data)
                if isinstance(message, dict) and "method" in message:
                    await self._handle_message(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                pass
            finally:
                self.redis.client.message_done()

    async def _handle_message(self, data):
        self._get_logger().debug("pubsub message: %s", data["method"])
        try:
            if data["method"] == "callback":
                await self._handle_callback(data)
            elif data.get("host_id") != self.host_id:
                handler = {
                    "emit": self._handle_emit,
                    "disconnect": self._handle_disconnect,
                    "enter_room": self._handle_enter_room,
                    "leave_room": self._handle_leave_room,
                    "close_room": self._handle_close_room,
                }.get(data["method"])
                if handler is not None:
                    await handler(data)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._get_logger().exception("Handler error in pubsub listening thread")

    # -- publishing --

    def _send(self, message):
        if self.room_channels and message.get("method") == "emit" \
                and isinstance(message.get("room"), str):
            channel = self._room_channel(message["namespace"], message["room"])
        else:
            channel = self.channel
        if self._pending >= self.max_pending:
            if not self._dropping:
                self._dropping = True
                self._get_logger().error(
                    "Cannot publish to redis: %d publishes are waiting for it; dropping new "
                    "ones until it answers", self._pending)
            return
        payload = self.json.dumps(message)
        self._pending += 1
        fut = asyncio.ensure_future(self.redis.execute("PUBLISH", channel, payload))
        fut.add_done_callback(self._published)

    def _published(self, fut):
        self._pending -= 1
        if self._pending < self.max_pending // 2:
            self._dropping = False
        exc = None if fut.cancelled() else fut.exception()
        if exc is not None:
            self._get_logger().error("Cannot publish to redis: %s", exc)

    # -- the manager API --

    async def emit(self, event, data, namespace=None, room=None, skip_sid=None,
                   callback=None, to=None, **kwargs):
        room = to or room
        if kwargs.get("ignore_queue"):
            return await super().emit(event, data, namespace=namespace, room=room,
                                      skip_sid=skip_sid, callback=callback)
        namespace = namespace or "/"
        if callback is not None:
            if self.server is None:
                raise RuntimeError("Callbacks can only be issued from the context of a "
                                   "server.")
            if room is None:
                raise ValueError("Cannot use callback without a room set.")
            ack_id = self._generate_ack_id(room, callback)
            callback = (room, namespace, ack_id)
        args = list(data) if isinstance(data, tuple) else [data]
        binary = packet.has_binary(args)
        if binary:
            args, attachments = packet.deconstruct_binary(args)
            args = [args, *[base64.b64encode(a).decode() for a in attachments]]
        message = {"method": "emit", "event": event, "data": args, "binary": binary,
                   "namespace": namespace, "room": room, "skip_sid": skip_sid,
                   "callback": callback, "host_id": self.host_id}
        if self.server is not None:
            if callback is None:
                await super().emit(event, data, namespace, room=room, skip_sid=skip_sid)
            else:
                await self._handle_emit(message)
        self._send(message)

    async def can_disconnect(self, sid, namespace):
        if self.is_connected(sid, namespace):
            return await super().can_disconnect(sid, namespace)
        self._send({"method": "disconnect", "sid": sid, "namespace": namespace or "/",
                    "host_id": self.host_id})

    async def connect(self, eio_sid, namespace):
        sid = await super().connect(eio_sid, namespace)
        if sid is not None:
            await self._room_joined(namespace, sid)
        return sid

    async def disconnect(self, sid, namespace, **kwargs):
        if kwargs.get("ignore_queue"):
            rooms = self.hub.rooms_of(namespace, sid) if self.room_channels else ()
            await super().disconnect(sid, namespace=namespace)
            self._rooms_left(namespace, [self._name(r) for r in rooms])
            return
        message = {"method": "disconnect", "sid": sid, "namespace": namespace or "/",
                   "host_id": self.host_id}
        await self._handle_disconnect(message)
        self._send(message)

    async def enter_room(self, sid, namespace, room, eio_sid=None):
        if self.is_connected(sid, namespace):
            await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
            await self._room_joined(namespace, room)
        else:
            self._send({"method": "enter_room", "sid": sid, "room": room,
                        "namespace": namespace or "/", "host_id": self.host_id})

    async def leave_room(self, sid, namespace, room):
        if self.is_connected(sid, namespace):
            await super().leave_room(sid, namespace, room)
            self._rooms_left(namespace, [room])
        else:
            self._send({"method": "leave_room", "sid": sid, "room": room,
                        "namespace": namespace or "/", "host_id": self.host_id})

    async def close_room(self, room, namespace=None):
        message = {"method": "close_room", "room": room, "namespace": namespace or "/",
                   "host_id": self.host_id}
        await self._handle_close_room(message)
        self._send(message)

    # -- messages from other hosts (and callbacks returning to this one) --

    async def _handle_emit(self, message):
        remote_callback = message.get("callback")
        remote_host_id = message.get("host_id")
        callback = None
        if remote_callback is not None and len(remote_callback) == 3:
            callback = partial(self._return_callback, remote_host_id, *remote_callback)
        data = message["data"]
        if message.get("binary"):
            attachments = [base64.b64decode(a) for a in data[1:]]
            data = packet.reconstruct_binary(data[0], attachments)
        if isinstance(data, list):
            data = data[0] if len(data) == 1 else tuple(data)
        if not isinstance(message.get("namespace"), str):
            return    # python-socketio delivers nothing without a namespace
        await super().emit(message["event"], data, namespace=message["namespace"],
                           room=message.get("room"), skip_sid=message.get("skip_sid"),
                           callback=callback)

    async def _handle_callback(self, message):
        if self.host_id == message.get("host_id"):
            try:
                sid, ack_id, args = message["sid"], message["id"], message["args"]
            except KeyError:
                return
            await self.trigger_callback(sid, ack_id, args)

    async def _return_callback(self, host_id, sid, namespace, callback_id, *args):
        if host_id == self.host_id:
            await self.trigger_callback(sid, callback_id, args)
        else:
            self._send({"method": "callback", "host_id": host_id, "sid": sid,
                        "namespace": namespace, "id": callback_id, "args": args})

    async def _handle_disconnect(self, message):
        await self.server.disconnect(sid=message.get("sid"),
                                     namespace=message.get("namespace"), ignore_queue=True)

    async def _handle_enter_room(self, message):
        sid, namespace = message.get("sid"), message.get("namespace")
        if self.is_connected(sid, namespace):
            await super().enter_room(sid, namespace, message.get("room"))
            await self._room_joined(namespace, message.get("room"))

    async def _handle_leave_room(self, message):
        sid, namespace = message.get("sid"), message.get("namespace")
        if self.is_connected(sid, namespace):
            await super().leave_room(sid, namespace, message.get("room"))
            self._rooms_left(namespace, [message.get("room")])

    async def _handle_close_room(self, message):
        room, namespace = message.get("room"), message.get("namespace")
        await super().close_room(room=room, namespace=namespace)
        self._rooms_left(namespace, [room])
