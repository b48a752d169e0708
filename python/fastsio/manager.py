"""Client manager: namespaces, rooms and ack callbacks, kept in the C hub.

``AsyncManager`` has python-socketio's manager API. Room membership lives in
the C hub, so ``emit`` encodes a packet once and the hub queues that one frame
for every recipient; Python touches only connections whose queue was empty.
Rooms are normally str; other hashable room names are mapped to private keys.
"""
import asyncio
import inspect
import itertools
import logging
from collections.abc import Mapping

from . import packet

default_logger = logging.getLogger("socketio")
_KEY_TAG = "\x00"


class AsyncManager:
    def __init__(self):
        self.server = None
        self.hub = None
        self.logger = None
        self.callbacks = {}            # sid -> {0: id counter, id: callback}
        self.pending_disconnect = {}   # namespace -> set of sids
        self._room_objects = {}        # private key -> non-str room name

    def set_server(self, server):
        self.server = server
        self.hub = server._hub

    def initialize(self):
        """Called once, on the first connection."""

    # -- room names --

    def _key(self, room):
        if isinstance(room, str):
            return room
        key = f"{_KEY_TAG}{type(room).__qualname__}:{room!r}"
        self._room_objects.setdefault(key, room)
        return key

    def _name(self, key):
        return self._room_objects.get(key, key) if key[:1] == _KEY_TAG else key

    def _selector(self, room):
        """None, a key, or a list of keys, as the hub takes rooms."""
        if room is None:
            return None
        if isinstance(room, (list, tuple, set, frozenset)):
            return [self._key(r) for r in room]
        return self._key(room)

    @property
    def rooms(self):
        """Read-only view: rooms[namespace][room][sid] -> eio_sid."""
        return _RoomsView(self)

    # -- queries --

    def get_namespaces(self):
        return self.hub.namespaces()

    def get_participants(self, namespace, room):
        """Yields (sid, eio_sid) for the room, the union of a list of rooms,
        or the whole namespace when room is None."""
        yield from self.hub.members(namespace, self._selector(room))

    def is_connected(self, sid, namespace):
        if sid in self.pending_disconnect.get(namespace, ()):
            return False
        return self.hub.member(namespace, sid) is not None

    def sid_from_eio_sid(self, eio_sid, namespace):
        s = self.server.eio.session_by_sid(eio_sid)
        if s is None:
            return None
        m = self.hub.member_on_conn(namespace, s.conn)
        return m[0] if m else None

    def eio_sid_from_sid(self, sid, namespace):
        m = self.hub.member(namespace, sid)
        return m[2] if m else None

    def get_rooms(self, sid, namespace):
        return [self._name(r) for r in self.hub.rooms_of(namespace, sid)]

    # -- membership --

    async def connect(self, eio_sid, namespace):
        """Registers a new member; returns its sid, or None if that
        connection is already in the namespace."""
        s = self.server.eio.session_by_sid(eio_sid)
        if s is None:
            return None
        sid = self.server.eio.generate_id()
        return sid if self.hub.connect(namespace, sid, s.conn) else None

    async def can_disconnect(self, sid, namespace):
        return self.is_connected(sid, namespace)

    def pre_disconnect(self, sid, namespace):
        """Marks the member as leaving; it stays in its rooms until
        disconnect(). Returns its eio sid."""
        self.pending_disconnect.setdefault(namespace, set()).add(sid)
        return self.eio_sid_from_sid(sid, namespace)

    def basic_disconnect(self, sid, namespace, **kwargs):
        self.hub.disconnect(namespace, sid)
        self.callbacks.pop(sid, None)
        pending = self.pending_disconnect.get(namespace)
        if pending is not None:
            pending.discard(sid)
            if not pending:
                del self.pending_disconnect[namespace]

    async def disconnect(self, sid, namespace, **kwargs):
        self.basic_disconnect(sid, namespace, **kwargs)

    def basic_enter_room(self, sid, namespace, room, eio_sid=None):
        if not self.hub.enter(namespace, sid, self._key(room)):
            raise ValueError("sid is not connected to requested namespace")

    async def enter_room(self, sid, namespace, room, eio_sid=None):
        self.basic_enter_room(sid, namespace, room, eio_sid=eio_sid)

    def basic_leave_room(self, sid, namespace, room):
        self.hub.leave(namespace, sid, self._key(room))

    async def leave_room(self, sid, namespace, room):
        self.basic_leave_room(sid, namespace, room)

    def basic_close_room(self, room, namespace):
        self.hub.close_room(namespace, self._key(room))

    async def close_room(self, room, namespace):
        self.basic_close_room(room, namespace)

    # -- sending --

    async def emit(self, event, data, namespace, room=None, skip_sid=None,
                   callback=None, to=None, **kwargs):
        """Sends an event to one sid, a room, a list of rooms or the whole
        namespace. Without a callback the packet is encoded once."""
        room = to or room
        if isinstance(data, tuple):
            args = list(data)
        elif data is not None:
            args = [data]
        else:
            args = []
        if isinstance(skip_sid, (list, tuple, set)):
            skip = [s for s in skip_sid if isinstance(s, str)]
        else:
            skip = skip_sid if isinstance(skip_sid, str) else None
        server = self.server
        if not callback:
            items = server._encode(packet.EVENT, namespace, [event] + args)
            _, woken, overflowed = self.hub.emit(namespace, self._selector(room), skip,
                                                 items)
            if woken:
                server.eio.wake_conns(woken)
            if overflowed:
                server.eio.overflowed(overflowed)
            return
        skipped = set(skip) if isinstance(skip, list) else {skip}
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skipped:
                continue
            ack_id = self._generate_ack_id(sid, callback)
            items = server._encode(packet.EVENT, namespace, [event] + args, ack_id)
            server._send_items(eio_sid, items)

    def _generate_ack_id(self, sid, callback):
        table = self.callbacks.get(sid)
        if table is None:
            table = self.callbacks[sid] = {0: itertools.count(1)}
        ack_id = next(table[0])
        table[ack_id] = callback
        return ack_id

    async def trigger_callback(self, sid, id, data):
        callback = self.callbacks.get(sid, {}).pop(id, None) if id != 0 else None
        if callback is None:
            self._get_logger().warning("Unknown callback received, ignoring.")
            return
        ret = callback(*data)
        if inspect.isawaitable(ret):
            try:
                await ret
            except asyncio.CancelledError:
                pass

    def _get_logger(self):
        if self.logger:
            return self.logger
        if self.server:
            return self.server.logger
        return default_logger


class _RoomsView(Mapping):
    """rooms[namespace] -> mapping of room name (None: everyone) -> members."""

    def __init__(self, manager):
        self._m = manager

    def __getitem__(self, namespace):
        if namespace not in self._m.hub.namespaces():
            raise KeyError(namespace)
        return _NamespaceRooms(self._m, namespace)

    def __iter__(self):
        return iter(self._m.hub.namespaces())

    def __len__(self):
        return len(self._m.hub.namespaces())


class _NamespaceRooms(Mapping):
    """Rooms of one namespace; each value is a {sid: eio_sid} snapshot."""

    def __init__(self, manager, namespace):
        self._m = manager
        self._ns = namespace

    def __getitem__(self, room):
        members = self._m.hub.members(self._ns, None if room is None else self._m._key(room))
        if not members:
            raise KeyError(room)
        return dict(members)

    def __iter__(self):
        names = self._m.hub.room_names(self._ns)
        if names:
            yield None
        for key in names:
            yield self._m._name(key)

    def __len__(self):
        names = self._m.hub.room_names(self._ns)
        return len(names) + 1 if names else 0
