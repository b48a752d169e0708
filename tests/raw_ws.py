"""A raw websocket client that records what it sends and receives into a
transcript, for the byte-for-byte tests (tests/test_wire.py,
tests/test_engineio_api.py). A transcript is any list with
`add(*entry)`; entries are (name, "send"|"recv"|"unexpected"|"closed", ...).
"""
import asyncio

import websockets

T = 5   # seconds any single expected frame may take


class RawWS:
    """One raw websocket connection logging into transcript `t` as `name`."""

    path = "/socket.io/"

    def __init__(self, t, name, ws):
        self.t, self.name, self.ws = t, name, ws

    @classmethod
    async def open(cls, t, port, name="ws", query="", path=None):
        url = (f"ws://127.0.0.1:{port}{path or cls.path}?EIO=4&transport=websocket"
               f"{query}")
        return cls(t, name, await websockets.connect(url))

    async def send(self, frame):
        self.t.add(self.name, "send", frame)
        await self.ws.send(frame)

    async def expect(self, n=1):
        """Receives exactly n frames (failing after T seconds each)."""
        frames = []
        for _ in range(n):
            try:
                f = await asyncio.wait_for(self.ws.recv(), T)
            except asyncio.TimeoutError:
                self.t.add(self.name, "timeout")
                raise AssertionError(f"{self.name}: expected {n} frames, got {frames}\n"
                                     f"transcript so far: {self.t}") from None
            self.t.add(self.name, "recv", f)
            frames.append(f)
        return frames

    async def quiet(self, seconds=0.3):
        """Records anything that arrives in the next `seconds` (should be nothing)."""
        try:
            while True:
                f = await asyncio.wait_for(self.ws.recv(), seconds)
                self.t.add(self.name, "unexpected", f)
        except asyncio.TimeoutError:
            pass

    async def until_closed(self, timeout=T, code=True):
        """Records frames until the server closes, then the close code
        (None: no close frame; code=False records only that it closed)."""
        try:
            while True:
                f = await asyncio.wait_for(self.ws.recv(), timeout)
                self.t.add(self.name, "recv", f)
        except websockets.ConnectionClosed:
            rcvd = self.ws.protocol.close_rcvd
            self.t.add(self.name, "closed", rcvd.code if rcvd and code else None)
        except asyncio.TimeoutError:
            self.t.add(self.name, f"still open after {timeout}s")

    async def close(self):
        await self.ws.close()


def native_closes(transcript, timeout=1.0):
    """The transcript the native transport gives where python-engineio's is
    `transcript`: it closes the websocket on a client CLOSE (status 1000)
    where python-engineio leaves it open (docs/conformance.md)."""
    out = []
    for entry in transcript:
        if len(entry) == 2 and entry[1] == f"still open after {timeout}s":
            entry = (entry[0], "closed", 1000)
        out.append(entry)
    return out
