"""Open WebUI's response-resume buffer written once per window, not per token.

With Redis, Open WebUI keeps a copy of each reply being streamed under
``<prefix>:tasks:response_streams:<task_id>`` so that a reloaded or shared
chat can show it: ``save_response_stream`` SETs a snapshot line, then
``append_response_stream`` runs one EVAL per model token that appends the
token's JSON line if the stored length is still the one the caller expects.

Installed with the other Open WebUI patches when ``open_webui.tasks`` is
imported (FASTSIO_OPENWEBUI_MERGE=0 leaves it alone), this wraps the three
functions of that module:

- ``append_response_stream(redis, task_id, delta, size)`` buffers the line
  and answers True at once when it continues the task's buffered lines
  (``size`` is where the previous one ended); the lines go to Redis as ONE
  call of Open WebUI's own function (same script, same length check, same
  TTL) per window (FASTSIO_MERGE_WINDOW_MS, default 50), or at once past
  64 KiB. A line that does not continue the buffer first writes it.
- When a buffered write finds the stored value changed (Open WebUI's check
  fails), the task's next append answers False, which makes Open WebUI write
  a fresh snapshot, as it does after a failed append.
- ``save_response_stream`` / ``clear_response_stream`` first drop the task's
  buffered lines (the snapshot supersedes them; a cleared stream needs
  none) and wait for a write in flight, so Redis sees the task's writes in
  order.

A reader of the buffer (Open WebUI's shared-chat view) sees the reply at
most one window behind. Shape-checked: if the three functions are not
coroutines with these parameters, nothing is wrapped and one warning says why.
"""
import asyncio
import functools
import inspect
import logging

from .background import spawn

logger = logging.getLogger("fastsio.openwebui")

MAX_BUFFERED = 64 * 1024
EXPECTED = {
    "append_response_stream": ["redis", "task_id", "delta", "size"],
    "save_response_stream": ["redis", "task_id", "chat_id", "message_id", "output"],
    "clear_response_stream": ["redis", "task_id"],
}


def shape_problem(module):
    for name, params in EXPECTED.items():
        fn = getattr(module, name, None)
        if not inspect.iscoroutinefunction(fn):
            return f"{name} is missing or not async"
        got = list(inspect.signature(fn).parameters)
        if got != params:
            return f"{name}({', '.join(got)}) is not ({', '.join(params)})"
    return None


class _TaskBuffer:
    """Lines of one task not yet in Redis. Loop thread only; `lock` orders
    the task's writes (a buffered write, a snapshot, a clear)."""

    def __init__(self, redis, task_id, size, append, window):
        self.redis = redis
        self.task_id = task_id
        self.start = size        # stored length the first buffered line follows
        self.end = size          # length once every buffered line is stored
        self.lines = []
        self.buffered = 0
        self.failed = False
        self.timer = None
        self.lock = asyncio.Lock()
        self._append = append
        self._window = window

    def add(self, line):
        self.lines.append(line)
        self.buffered += len(line)
        self.end += len(line)
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(self._window, self._on_timer)

    def _on_timer(self):
        self.timer = None
        spawn(self.write())

    def drop(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.lines, self.buffered = [], 0

    async def write(self):
        async with self.lock:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if not self.lines:
                return
            data, start = b"".join(self.lines), self.start
            self.lines, self.buffered = [], 0
            self.start = start + len(data)
            try:
                ok = await self._append(self.redis, self.task_id, data, start)
            except Exception:
                logger.exception("fastsio: response stream %s: buffered append failed",
                                 self.task_id)
                ok = False
            if not ok:
                self.failed = True


def wrap(module, window):
    """Wraps the module's three functions; True when done."""
    problem = shape_problem(module)
    if problem:
        logger.warning("fastsio: open_webui.tasks: response-resume writes not coalesced: %s",
                       problem)
        return False
    original_append = module.append_response_stream
    original_save = module.save_response_stream
    original_clear = module.clear_response_stream
    buffers = {}    # task_id -> _TaskBuffer

    async def settle(task_id):
        buf = buffers.pop(task_id, None)
        if buf is not None:
            buf.drop()
            async with buf.lock:     # a write in flight lands before what follows
                buf.drop()

    @functools.wraps(original_append)
    async def append_response_stream(redis, task_id, delta, size):
        buf = buffers.get(task_id)
        if buf is not None and buf.failed:
            await settle(task_id)
            return False
        if buf is not None and (buf.end != size or buf.redis is not redis):
            await buf.write()
            if buf.failed:
                await settle(task_id)
                return False
            buffers.pop(task_id, None)
            buf = None
        if buf is None:
            buf = buffers[task_id] = _TaskBuffer(redis, task_id, size, original_append, window)
        buf.add(delta)
        if buf.buffered >= MAX_BUFFERED:
            await buf.write()
        return True

    @functools.wraps(original_save)
    async def save_response_stream(redis, task_id, chat_id, message_id, output):
        if task_id in buffers:
            await settle(task_id)
        return await original_save(redis, task_id, chat_id, message_id, output)

    @functools.wraps(original_clear)
    async def clear_response_stream(redis, task_id):
        if task_id in buffers:
            await settle(task_id)
        return await original_clear(redis, task_id)

    append_response_stream.fastsio_buffers = buffers
    module.append_response_stream = append_response_stream
    module.save_response_stream = save_response_stream
    module.clear_response_stream = clear_response_stream
    logger.info("fastsio: open_webui.tasks: response-resume appends written once per %d ms",
                round(window * 1000))
    return True
