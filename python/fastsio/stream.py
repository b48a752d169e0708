"""Merged event streams: ``sio.stream(...)`` for token-by-token LLM output.

A model streamed to a browser is usually emitted one message per token: a
few hundred emits per second per chat, each one a packet for every client in
the room and, with a Redis manager, a publish. A ``Stream`` takes the same
emits and sends consecutive deltas of one message as one emit per window
(50 ms by default), in the C merger of csrc/merge (its header states the
rules exactly). Clients that apply the events as Open WebUI's frontend does
(concatenate deltas; a snapshot or a replace overwrites) end with the same
text, sooner in CPU and with a fraction of the packets.

Shapes merged (the JSON of the one emitted argument)::

    {..., "data": {"type": "response:completion",
                   "data": {"type": "response.<...>.delta", "item_id": ..,
                            "output_index": .., "content_index": ..,
                            "delta": "text"}}}        # deltas concatenated
    {..., "data": {"type": "message" | "chat:message:delta",
                   "data": {"content": "text"}}}      # contents concatenated
    {..., "data": {"type": "chat:completion",
                   "data": {"content" | "output": ..}}}  # newest snapshot kept

Everything else (other shapes, several arguments, binary data, callbacks)
first sends what is pending, then goes out at once: the order of one stream
is always the order of its emits. A change of destination (``to``/``room``/
``skip_sid``) also sends what is pending first. Emits that do not go through
the stream may overtake its pending text (at most one window): send the
events of one message through one stream.

Contract: used on the server's event loop only. No data is lost: a stream
that is garbage-collected with text pending still sends it when its timer
fires; ``close()`` (or leaving ``async with``) sends it at once.
"""
import asyncio
import collections
import time

from . import _core
from .background import spawn

DEFAULT_WINDOW = _core.MERGE_WINDOW_MS / 1000.0
DEFAULT_MAX_BYTES = _core.MERGE_MAX_BYTES


class Stream:
    """One ordered stream of ``event`` emits with consecutive deltas merged.

    ``to``/``room``/``skip_sid``/``namespace`` are the defaults of every
    ``emit``; ``window`` (seconds) is the longest a delta waits, ``max_bytes``
    the largest merged text (a longer one is sent at once). ``emit`` is the
    coroutine function the stream sends with (default: ``server.emit``).
    """

    def __init__(self, server, event, to=None, room=None, skip_sid=None, namespace=None,
                 window=DEFAULT_WINDOW, max_bytes=DEFAULT_MAX_BYTES, *, emit=None):
        if window is None or not window > 0:
            raise ValueError("window must be a positive number of seconds")
        self.server = server
        self._send = emit or server.emit
        self.event = event
        self.namespace = namespace or "/"
        self.window = float(window)
        self._default = (to or room, skip_sid)
        self._merger = _core.Merger(max_bytes)
        self._pending_dest = None     # destination of the pending text
        # (data, merged text?, (room, skip_sid)) in order: a merged text is
        # decoded before sending, the app's own objects never are
        self._outbox = collections.deque()
        self._timer = None
        self._timer_since = None      # pending_since the timer was set for
        self._closed = False
        self.emits_in = 0             # emits received
        self.emits_out = 0            # emits sent

    # -- public API --

    async def emit(self, data, to=None, room=None, skip_sid=None):
        """Emits ``data`` (one argument) through the stream."""
        if self._closed:
            raise RuntimeError("emit on a closed stream")
        self.emits_in += 1
        target = to or room
        dest = (target if target is not None else self._default[0],
                skip_sid if skip_sid is not None else self._default[1])
        if self._pending_dest is not None and dest != self._pending_dest:
            self._take_pending()
        text = self._text_of(data)
        if text is None:
            self._take_pending()
            self._outbox.append((data, False, dest))
        else:
            now = time.monotonic_ns()
            for out in self._merger.push(text, now):
                if out is text:
                    self._outbox.append((data, False, dest))
                else:
                    self._outbox.append((out, True, dest))
            since = self._merger.pending_since()
            if since is not None:
                self._pending_dest = dest
                self._arm(since, now)
            else:
                self._pending_dest = None
                self._disarm()
        await self._drain()

    async def flush(self):
        """Sends what is pending now."""
        self._take_pending()
        await self._drain()

    async def close(self):
        """Sends what is pending; later emits raise RuntimeError."""
        self._closed = True
        await self.flush()

    aclose = close

    @property
    def pending(self):
        """True while a merged text waits for its window."""
        return self._pending_dest is not None

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    # -- internals --

    def _text_of(self, data):
        """The JSON text the merger sees, or None for what is never merged."""
        if not isinstance(data, dict):
            return None
        try:
            # bytes anywhere inside make json refuse the object: binary
            # events go out unmerged, as attachments
            return self.server._dumps(data)
        except (TypeError, ValueError, OverflowError):
            return None

    def _take_pending(self):
        """Moves the pending text, if any, to the outbox (in order)."""
        self._disarm()
        if self._pending_dest is None:
            return
        text = self._merger.flush()
        dest, self._pending_dest = self._pending_dest, None
        if text is not None:
            self._outbox.append((text, True, dest))

    def _arm(self, since, now):
        """Sets the timer for the window of the pending text begun at `since`
        (a new pending text, begun by a push that sent the previous one, gets
        its own window)."""
        if self._timer is not None:
            if since == self._timer_since:
                return
            self._timer.cancel()
        self._timer_since = since
        delay = self.window - (now - since) / 1e9
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(delay, 0.0), self._on_timer)

    def _disarm(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self):
        self._timer = None
        self._take_pending()
        if self._outbox:
            spawn(self._drain())

    async def _drain(self):
        """Sends the outbox in order. A merged text (str/bytes from the
        merger) is decoded back to the object the server emits, so every
        manager (Redis included) sends it as it sends any emit."""
        while self._outbox:
            data, merged, (target, skip) = self._outbox.popleft()
            self.emits_out += 1
            try:
                if merged:
                    data = self.server._loads(data)
                await self._send(self.event, data, room=target, skip_sid=skip,
                                       namespace=self.namespace)
            except Exception:
                self.server.logger.exception("stream %r: emit failed", self.event)
