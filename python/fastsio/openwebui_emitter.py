"""Open WebUI's event emitter with streamed deltas merged (fastsio.stream).

Installed with the other Open WebUI patches (fastsio.openwebui) when
``open_webui.socket.main`` is imported, unless FASTSIO_OPENWEBUI_MERGE=0
(or FASTSIO_OPENWEBUI_PATCH=0). ``get_event_emitter`` stays Open WebUI's own
function: its emitter still decides what to emit, to which rooms, and what
to write to the database. fastsio only wraps it:

- every emitter of one message (Open WebUI makes several per request: the
  stream, then ``chat:completion`` done, ``chat:tasks:cancel``, ...) shares
  one set of streams, keyed by (user_id, chat_id, message_id), so what they
  emit keeps its order;
- while that emitter runs, its ``sio.emit('events', ...)`` calls go through
  the stream of their destination instead of straight out: one stream for
  the ``user:<id>`` room, one for the shared ``chat:<id>`` room (minus the
  requesting session). Nothing else is redirected (callbacks, other events,
  other namespaces, channel emitters, code outside the emitter).

One stream per destination, not one for both: Open WebUI's frontend drops
``shared`` events of its own user (except ``chat:messages``, which never
goes to the user room), so the sessions that act on the user room's deltas
and those that act on the shared snapshots are disjoint; each room keeps
its own order, and neither room's emits cut the other's windows short.

Database writes the emitter owns: for a ``message`` event (a tool, action
or pipe appending text to the message) Open WebUI's emitter reads the
message and writes it back with the text appended, once per event. Here a
message's ``message`` texts are appended in one read and one write per
window (the emit itself goes through the stream as above, from an emitter
made with update_db=False); any other event of the message first writes
what is buffered, so the database sees the same sequence of contents,
coarser. This needs ``Chats`` with ``get_message_by_id_and_message_id`` and
``upsert_message_to_chat_by_id_and_message_id`` and ``is_saved_chat_id`` in
the module; without them ``message`` events go to Open WebUI's emitter as
they are. (The response-resume buffer is written by Open WebUI's
middleware, not the emitter: fastsio.openwebui_resume coalesces it.)

The window is FASTSIO_MERGE_WINDOW_MS (default 50). Checked first: if the
module has no ``get_event_emitter(request_info, update_db=True)`` or its
``sio`` is not a fastsio server, nothing is wrapped and one warning says why.
"""
import asyncio
import contextvars
import functools
import inspect
import logging
import os
import weakref

from .background import spawn
from .server import AsyncServer
from .stream import DEFAULT_WINDOW, Stream

logger = logging.getLogger("fastsio.openwebui")

EVENT = "events"
# the _MessageStreams the running emitter's emits go through (None outside)
_current = contextvars.ContextVar("fastsio_openwebui_stream", default=None)


def window_from_env():
    raw = os.environ.get("FASTSIO_MERGE_WINDOW_MS")
    if not raw:
        return DEFAULT_WINDOW
    try:
        ms = float(raw)
    except ValueError:
        ms = -1
    if not ms > 0:
        raise ValueError(f"FASTSIO_MERGE_WINDOW_MS={raw!r}: expected a positive number")
    return ms / 1000.0


def shape_problem(module):
    original = getattr(module, "get_event_emitter", None)
    if not inspect.iscoroutinefunction(original):
        return "get_event_emitter is missing or not async"
    params = list(inspect.signature(original).parameters)
    if params != ["request_info", "update_db"]:
        return f"get_event_emitter({', '.join(params)}) is not (request_info, update_db)"
    if not isinstance(getattr(module, "sio", None), AsyncServer):
        return "its sio is not a fastsio.AsyncServer (is the socketio swap off?)"
    return None


def _redirecting_emit(server):
    """server.emit, sending the running emitter's 'events' through its streams."""
    plain = server.emit

    @functools.wraps(plain)
    async def emit(event, data=None, to=None, room=None, skip_sid=None, namespace=None,
                   callback=None, ignore_queue=False):
        streams = _current.get()
        if (streams is not None and event == EVENT and callback is None and not ignore_queue
                and namespace in (None, "/")):
            return await streams.emit(data, to=to, room=room, skip_sid=skip_sid)
        return await plain(event, data, to=to, room=room, skip_sid=skip_sid,
                           namespace=namespace, callback=callback, ignore_queue=ignore_queue)
    return emit


def _db_problem(module):
    chats = getattr(module, "Chats", None)
    for name in ("get_message_by_id_and_message_id", "upsert_message_to_chat_by_id_and_message_id"):
        if not inspect.iscoroutinefunction(getattr(chats, name, None)):
            return f"Chats.{name} is missing or not async"
    if not callable(getattr(module, "is_saved_chat_id", None)):
        return "is_saved_chat_id is missing"
    return None


def _appended_text(event_data):
    """The text a `message` event appends, or None for any other event."""
    if not isinstance(event_data, dict) or event_data.get("type") != "message":
        return None
    data = event_data.get("data")
    content = data.get("content") if isinstance(data, dict) else None
    return content if isinstance(content, str) else None


class _MessageStreams:
    """The streams of one message, one per destination, and its buffered
    `message` appends. Each stream and the append timer hold the owner, so
    it lives while anything is pending or any emitter of the message lives.
    Loop thread only; db_lock orders the database writes."""

    def __init__(self, server, window, emit, module, chat_id, message_id):
        self.server = server
        self.window = window
        self.plain_emit = emit
        self.by_dest = {}
        self.module = module
        self.chat_id = chat_id
        self.message_id = message_id
        self.appends = []           # texts not yet written, in order
        self.append_timer = None
        self.db_lock = asyncio.Lock()
        self.db_writes = 0          # database writes of appends (for tests)

    def buffer_append(self, text):
        self.appends.append(text)
        if self.append_timer is None:
            loop = asyncio.get_running_loop()
            self.append_timer = loop.call_later(self.window, self._on_append_timer)

    def _on_append_timer(self):
        self.append_timer = None
        spawn(self._write_logged())

    async def _write_logged(self):
        try:
            await self.write_appends()
        except Exception:
            logger.exception("fastsio: writing the appended text of message %s failed",
                             self.message_id)

    async def write_appends(self):
        """Appends the buffered texts to the stored message: what Open
        WebUI's emitter does per `message` event, once for all of them."""
        async with self.db_lock:
            if self.append_timer is not None:
                self.append_timer.cancel()
                self.append_timer = None
            if not self.appends:
                return
            parts, self.appends = self.appends, []
            chats = self.module.Chats
            message = await chats.get_message_by_id_and_message_id(self.chat_id, self.message_id)
            if message:
                self.db_writes += 1
                await chats.upsert_message_to_chat_by_id_and_message_id(
                    self.chat_id, self.message_id,
                    {"content": message.get("content", "") + "".join(parts)})

    async def emit(self, data, to=None, room=None, skip_sid=None):
        target = to or room
        skip = tuple(skip_sid) if isinstance(skip_sid, (list, tuple, set)) else skip_sid
        stream = self.by_dest.get((target, skip))
        if stream is None:
            stream = Stream(self.server, EVENT, room=target, skip_sid=skip_sid,
                            window=self.window, emit=self.plain_emit)
            stream.owner = self
            self.by_dest[(target, skip)] = stream
        await stream.emit(data)


def wrap(module):
    """Wraps module.get_event_emitter; True when done."""
    problem = shape_problem(module)
    if problem:
        logger.warning("fastsio: open_webui.socket.main: streamed events not merged: %s", problem)
        return False
    window = window_from_env()
    server = module.sio
    plain_emit = server.emit       # the streams send with it, never redirected
    server.emit = _redirecting_emit(server)
    messages = weakref.WeakValueDictionary()    # message key -> _MessageStreams
    original = module.get_event_emitter
    db_problem = _db_problem(module)
    if db_problem:
        logger.warning("fastsio: open_webui.socket.main: `message` appends written per event "
                       "as Open WebUI does: %s", db_problem)

    @functools.wraps(original)
    async def get_event_emitter(request_info, update_db=True):
        inner = await original(request_info, update_db)
        chat_id = request_info.get("chat_id") or ""
        if inner is None or chat_id.startswith("channel:"):
            return inner
        message_id = request_info.get("message_id")
        key = (request_info.get("user_id"), chat_id, message_id)
        # Open WebUI's own condition for the emitter's database writes
        coalesce = (db_problem is None and update_db and message_id
                    and module.is_saved_chat_id(chat_id))
        streams = None
        inner_no_db = None

        @functools.wraps(inner)
        async def __event_emitter__(event_data):
            nonlocal streams, inner_no_db
            if streams is None:
                streams = messages.get(key)
                if streams is None:
                    streams = messages[key] = _MessageStreams(server, window, plain_emit, module,
                                                              chat_id, message_id)
            appended = _appended_text(event_data) if coalesce else None
            if appended is None:
                if streams.appends or streams.db_lock.locked():
                    await streams.write_appends()   # the database keeps the order
                emitter = inner
            else:
                if inner_no_db is None:
                    inner_no_db = await original(request_info, False)
                emitter = inner_no_db
            token = _current.set(streams)
            try:
                result = await emitter(event_data)
            finally:
                _current.reset(token)
            if appended is not None:
                streams.buffer_append(appended)
            return result
        return __event_emitter__

    get_event_emitter.fastsio_messages = messages
    module.get_event_emitter = get_event_emitter
    logger.info("fastsio: open_webui.socket.main: streamed events merged (window %d ms)",
                round(window * 1000))
    return True
