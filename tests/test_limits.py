"""The limits of one connection, black-box (issue 8, part 5; docs/limits.md).

Real uvicorn servers (tests/apps/limits_app.py) driven by raw websockets,
raw HTTP and python-socketio's AsyncClient as an observer that asks the
server what it saw:

- max_http_buffer_size on every transport: a websocket text or binary message,
  a polling POST with Content-Length or chunked; exactly at the limit passes,
  one byte more ends the session;
- attachments: a binary packet announcing more attachments than allowed is
  refused; ten (the most) each at the payload limit are delivered;
- pending binary packets: at most one per connection, freed on disconnect;
- the outbound byte bound: a client that stops reading is dropped with
  'transport error' while the server's RSS stays bounded;
- a 1 MB polling body of one-byte packets costs linear time.

Tests whose id has "fastsio" in it run again under ASan (scripts/test.sh).
"""
import asyncio
import base64
import json
import os
import socket
import time

import httpx
import pytest
import socketio as reference_socketio   # python-socketio's client
import websockets

from tests.conftest import SERVER_PRELOAD

APP = "tests.apps.limits_app:app"
LIMIT = 1_000_000           # the app's max_http_buffer_size
T = 10


# a server under test: (implementation, app environment)
VARIANTS = {"python-socketio": ("python-socketio", {}), "fastsio": ("fastsio", {}),
            "fastsio-compat": ("fastsio", {"APP_COMPAT": "1"})}


def accepted(r):
    """A polling POST answered as accepted ("ok" per the Engine.IO
    specification, "OK" as python-engineio writes it)."""
    return r.status_code == 200 and r.text in ("ok", "OK")


def placeholder(num):
    return {"_placeholder": True, "num": num}


def binary_header(event, count, ack_id=None, declared=None):
    """The Socket.IO text of a BINARY_EVENT whose arguments are count
    placeholders; declared overrides the count written in the header."""
    args = json.dumps([event, *(placeholder(i) for i in range(count))], separators=(",", ":"))
    n = count if declared is None else declared
    return f"5{n}-{'' if ack_id is None else ack_id}{args}"


def exact_event(event, ack_id, total):
    """'42<id>["event","xxx..."]' exactly total characters long."""
    head = f'42{ack_id}["{event}","'
    return head + "x" * (total - len(head) - 2) + '"]'


async def observer(server):
    client = reference_socketio.AsyncClient()
    await client.connect(server.url, transports=["websocket"])
    return client


# ------------------------------------------------------------ raw websocket

class RawWS:
    """An Engine.IO websocket session driven by hand, connected to '/'."""

    @classmethod
    async def open(cls, server):
        self = cls()
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket",
            max_size=None)
        assert (await self.recv()).startswith("0{")
        await self.ws.send("40")
        connected = await self.recv()
        assert connected.startswith("40{"), connected
        self.sid = json.loads(connected[2:])["sid"]
        return self

    async def recv(self):
        """The next message that is not a PING (PINGs are answered)."""
        while True:
            msg = await asyncio.wait_for(self.ws.recv(), T)
            if msg != "2":
                return msg
            await self.ws.send("3")

    async def send(self, *msgs, may_close=False):
        """Sends each message; may_close: stop quietly if the server has
        closed the websocket meanwhile."""
        try:
            for m in msgs:
                await self.ws.send(m)
        except websockets.ConnectionClosed:
            if not may_close:
                raise

    async def closed(self):
        """True once the server has closed the websocket (other messages skipped)."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), T)
        except websockets.ConnectionClosed:
            return True
        except asyncio.TimeoutError:
            return False

    async def close(self):
        await self.ws.close()


# ------------------------------------------------------------ raw polling

class RawPolling:
    """An Engine.IO long-polling session driven by hand, connected to '/'."""

    @classmethod
    async def open(cls, server, http):
        self = cls()
        self.http = http
        base = f"{server.url}/socket.io/?EIO=4&transport=polling"
        opened = await http.get(base, timeout=T)
        assert opened.text.startswith("0{"), opened.text
        self.url = f"{base}&sid={json.loads(opened.text[1:])['sid']}"
        assert accepted(await self.post("40"))
        connected = (await self.get()).text
        assert connected.startswith("40{"), connected
        self.sid = json.loads(connected[2:])["sid"]
        return self

    async def post(self, *packets, chunks=None):
        """POSTs packets (str, or bytes sent as 'b<base64>') as one payload;
        chunks=n sends the body chunked in n parts without Content-Length."""
        body = "\x1e".join(p if isinstance(p, str) else "b" + base64.b64encode(p).decode()
                           for p in packets).encode("utf-8")
        if chunks is None:
            return await self.http.post(self.url, content=body, timeout=T)
        step = -(-len(body) // chunks)

        async def parts():
            for i in range(0, len(body), step):
                yield body[i:i + step]
        r = await self.http.post(self.url, content=parts(), timeout=T)
        assert "content-length" not in r.request.headers
        return r

    async def get(self):
        return await self.http.get(self.url, timeout=T)


# ------------------------------------------------ 1. max_http_buffer_size

@pytest.mark.parametrize("kind", ["text", "binary"])
async def test_websocket_message_limit(impl, kind, start_server):
    """A websocket message of exactly max_http_buffer_size (characters for
    text, bytes for binary) is delivered; one more ends the session with
    'transport close', as python-engineio does."""
    server = start_server(impl, APP)
    watcher = await observer(server)
    try:
        for size, delivered in ((LIMIT, True), (LIMIT + 1, False)):
            c = await RawWS.open(server)
            if kind == "text":
                msg = exact_event("size", 1, size)
                assert len(msg) == size
                await c.send(msg)
                want = [["str", size - len('421["size",""]')]]
            else:
                await c.send("4" + binary_header("size", 1, ack_id=1), b"\x07" * size)
                want = [["bytes", size]]
            if delivered:
                assert await c.recv() == "431" + json.dumps([want]).replace(" ", "")
                await c.close()
            else:
                assert await c.closed()
                assert await watcher.call("reason_of", c.sid, timeout=T) == "transport close"
    finally:
        await watcher.disconnect()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_polling_body_limit_fastsio(chunked, start_server):
    """A polling POST body of exactly max_http_buffer_size bytes is delivered;
    one byte more is answered 400 and ends the session ('server disconnect').
    fastsio only: python-engineio leaves the oversized POST unanswered until
    the session's queue is polled (tests/test_http_errors.py)."""
    server = start_server("fastsio", APP)
    watcher = await observer(server)
    try:
        async with httpx.AsyncClient() as http:
            c = await RawPolling.open(server, http)
            at_limit = exact_event("size", 1, LIMIT)
            assert accepted(await c.post(at_limit, chunks=7 if chunked else None))
            assert (await c.get()).text == '431[[["str",%d]]]' % (LIMIT - len('421["size",""]'))
            r = await c.post(at_limit + " ", chunks=7 if chunked else None)
            assert r.status_code == 400
            assert (await c.get()).status_code == 400
            assert await watcher.call("reason_of", c.sid, timeout=T) == "server disconnect"
    finally:
        await watcher.disconnect()


# ------------------------------------------------ 2. attachments

async def refused_then(watcher, c, spec, ack_id):
    """After a refused packet: in fastsio's default (specification) mode the
    connection has ended with 'transport error', as the JS server ends it on
    a parse error; otherwise (python-socketio, compat="python-socketio") the
    packet was dropped and the session answers the next event."""
    if spec:
        assert await c.closed()
        assert await watcher.call("reason_of", c.sid, timeout=T) == "transport error"
        return
    await c.send(exact_event("size", ack_id, 20))
    assert await c.recv() == '43%d[[["str",%d]]]' % (ack_id, 20 - len('42%d["size",""]' % ack_id))


@pytest.mark.parametrize("variant", list(VARIANTS))
async def test_attachment_count_limit(variant, start_server):
    """Ten attachments, each at the payload limit, are delivered over
    websocket; a header announcing eleven is refused by fastsio (the limit of
    socket.io-parser >= 4.2.6; python-socketio takes it), and one whose count
    has eleven digits is refused by both. A refused packet is never
    delivered, its attachments are not kept, and nothing stays pending."""
    impl, env = VARIANTS[variant]
    server = start_server(impl, APP, env=env)
    watcher = await observer(server)
    try:
        spec = (await watcher.call("mode", timeout=T))["spec"]
        c = await RawWS.open(server)
        await c.send("4" + binary_header("up", 10), *(b"a" * LIMIT for _ in range(10)))
        await c.send(exact_event("size", 7, 20))
        assert await c.recv() == '437[[["str",6]]]'
        await c.close()
        c = await RawWS.open(server)
        await c.send("4" + binary_header("up", 11), *(b"b" for _ in range(11)), may_close=True)
        if impl == "fastsio":
            await refused_then(watcher, c, spec, 2)
        await c.close()
        c = await RawWS.open(server)
        await c.send("4" + binary_header("up", 1, declared=12345678901), b"c", may_close=True)
        await refused_then(watcher, c, spec, 3)
        await c.close()
        seen = await watcher.call("calls", timeout=T)
        eleven = [] if impl == "fastsio" else [[1] * 11]
        assert seen["sizes"] == [[LIMIT] * 10] + eleven
        assert await watcher.call("pending", timeout=T) == 0
    finally:
        await watcher.disconnect()


@pytest.mark.parametrize("variant", ["fastsio", "fastsio-compat"])
async def test_attachment_count_limit_polling(variant, start_server):
    """The same limit when the header and its attachments come in polling
    POSTs ('b<base64>' elements), in one POST or spread over several."""
    impl, env = VARIANTS[variant]
    server = start_server(impl, APP, env=env)
    watcher = await observer(server)
    try:
        spec = (await watcher.call("mode", timeout=T))["spec"]
        async with httpx.AsyncClient() as http:
            c = await RawPolling.open(server, http)
            assert accepted(await c.post("4" + binary_header("up", 10),
                                         *(b"%d" % i for i in range(10))))
            assert accepted(await c.post("4" + binary_header("up", 2)))
            assert accepted(await c.post(b"12"))
            assert accepted(await c.post(b"345"))
            for refused in (("4" + binary_header("up", 11), *(b"x" for _ in range(11))),
                            ("4" + binary_header("up", 2, declared=10 ** 10), b"y", b"z")):
                d = await RawPolling.open(server, http)
                r = await d.post(*refused)
                if spec:
                    assert await watcher.call("reason_of", d.sid, timeout=T) == "transport error"
                else:
                    assert accepted(r)
                    assert accepted(await d.post(exact_event("size", 4, 20)))
                    assert (await d.get()).text == '434[[["str",6]]]'
            seen = await watcher.call("calls", timeout=T)
            assert seen["sizes"] == [[1] * 10, [2, 3]]
            assert await watcher.call("pending", timeout=T) == 0
    finally:
        await watcher.disconnect()


@pytest.mark.parametrize("variant", ["fastsio", "fastsio-compat"])
async def test_binary_packet_with_bad_placeholder_is_dropped(variant, start_server):
    """A binary packet whose placeholder names an attachment it does not have
    is dropped once its attachments are in: not delivered, not left pending.
    With compat="python-socketio" the connection goes on (python-socketio
    itself keeps such a packet pending and takes every later message of that
    connection as one more attachment, refused: the connection hears
    nothing more)."""
    impl, env = VARIANTS[variant]
    server = start_server(impl, APP, env=env)
    watcher = await observer(server)
    try:
        spec = (await watcher.call("mode", timeout=T))["spec"]
        c = await RawWS.open(server)
        bad = '51-["up",{"_placeholder":true,"num":3}]'
        await c.send("4" + bad, b"q")
        await refused_then(watcher, c, spec, 2)
        assert await watcher.call("pending", timeout=T) == 0
        assert (await watcher.call("calls", timeout=T))["up"] == 0
        await c.close()
    finally:
        await watcher.disconnect()


# ------------------------------------------------ 3. pending binary packets

async def test_pending_binary_packets_are_bounded_and_freed(impl, start_server):
    """Connections that each leave a binary event waiting for attachments hold
    one pending packet each (a later packet header is taken as an attachment,
    python-socketio's rule), and fastsio frees all of them when they
    disconnect: websocket closed, polling CLOSE packet. python-socketio
    5.16.2 frees a pending packet only in its own disconnect(), so a client
    that goes away leaves it behind for the life of the server."""
    n_ws, n_polling = 30, 10
    server = start_server(impl, APP)
    watcher = await observer(server)
    try:
        async with httpx.AsyncClient() as http:
            sockets = [await RawWS.open(server) for _ in range(n_ws)]
            polls = [await RawPolling.open(server, http) for _ in range(n_polling)]
            header = "4" + binary_header("up", 2)
            for c in sockets:
                await c.send(header, header)      # the second header is attachment 0
            for c in polls:
                assert accepted(await c.post(header))
                assert accepted(await c.post(header))
            assert await watcher.call("pending", timeout=T) == n_ws + n_polling
            for c in sockets:
                await c.close()
            for c in polls:
                await c.post("1")
            deadline = time.monotonic() + (T if impl == "fastsio" else 2)
            while (left := await watcher.call("pending", timeout=T)) and \
                    time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert left == (0 if impl == "fastsio" else n_ws + n_polling)
            assert (await watcher.call("calls", timeout=T))["up"] == 0
    finally:
        await watcher.disconnect()


# ------------------------------------------------ 4. outbound byte bound

def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def outbound_env(bound):
    env = {"APP_MAX_QUEUE_BYTES": str(bound)}
    if SERVER_PRELOAD:
        # ASan keeps freed blocks in a quarantine (256 MB by default), which
        # would look like growth; a small one keeps RSS meaningful
        env["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=8"
    return env


async def test_outbound_byte_bound_polling_fastsio(start_server):
    """A polling client that stops polling while 64 KiB messages are sent to
    it is dropped with 'transport error' once its queue holds 1 MiB: 17
    frames, far below the frame bound (10000)."""
    server = start_server("fastsio", APP, env=outbound_env(1 << 20))
    watcher = await observer(server)
    try:
        async with httpx.AsyncClient() as http:
            c = await RawPolling.open(server, http)
            sent = await watcher.call("flood", {"to": c.sid, "count": 40, "size": 64 << 10},
                                      timeout=T)
            assert sent == 40
            assert await watcher.call("reason_of", c.sid, timeout=T) == "transport error"
            assert (await c.get()).status_code == 400
    finally:
        await watcher.disconnect()


def stalled_websocket(port):
    """A websocket that connects to '/' and then never reads again: a plain
    socket with a small receive buffer. Returns (socket, Socket.IO sid)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(T)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
               f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    assert buf.startswith(b"HTTP/1.1 101"), buf
    buf = buf.split(b"\r\n\r\n", 1)[1]

    def frame_text():
        nonlocal buf
        while True:
            if len(buf) >= 2 and len(buf) >= 2 + (buf[1] & 0x7F):   # short frames only
                n = buf[1] & 0x7F
                text, buf = buf[2:2 + n].decode(), buf[2 + n:]
                return text
            buf += s.recv(4096)

    assert frame_text().startswith("0{")
    mask = os.urandom(4)
    s.sendall(bytes([0x81, 0x80 | 2]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(b"40")))
    connected = frame_text()
    assert connected.startswith("40{"), connected
    return s, json.loads(connected[2:])["sid"]


async def test_outbound_byte_bound_stalled_websocket_fastsio(start_server):
    """A websocket client that stops reading while 120 MB of 256 KiB messages
    are sent to it: once the kernel buffers and its 4 MiB queue are full it is
    dropped with 'transport error', and the server's RSS grows by well under
    what was sent (without the byte bound, the 10000-frame bound would hold
    all of it)."""
    server = start_server("fastsio", APP, env=outbound_env(4 << 20))
    watcher = await observer(server)
    stalled, sid = stalled_websocket(server.port)
    try:
        await watcher.call("size", "warm-up", timeout=T)
        base = rss_bytes(server.proc.pid)
        peak = base
        flood = asyncio.ensure_future(
            watcher.call("flood", {"to": sid, "count": 480, "size": 256 << 10}, timeout=60))
        while not flood.done():
            peak = max(peak, rss_bytes(server.proc.pid))
            await asyncio.sleep(0.02)
        assert await flood == 480
        assert await watcher.call("reason_of", sid, timeout=T) == "transport error"
        growth = peak - base
        print(f"server RSS {base >> 20} MiB, peak {peak >> 20} MiB while 120 MB were sent")
        assert growth < 60 << 20, f"server RSS grew by {growth >> 20} MiB for 120 MB sent"
    finally:
        stalled.close()
        await watcher.disconnect()


# ------------------------------------------------ 5. tiny packets

async def test_polling_body_of_tiny_packets_is_linear_fastsio(start_server):
    """A 1 MB polling POST of 500k one-byte packets ('3', PONG) costs about
    8 times the server CPU of a 125 KB one: asserted under 24 times (a
    quadratic parse would be 64 times; ASan builds show up to 1.5 times the
    linear ratio). CPU of the server's loop thread per POST, as the app
    measures it; the best of five of each, interleaved, each POST on a fresh
    session (what such a body does to its session is not the point here: see
    docs/limits.md and the test below)."""
    server = start_server("fastsio", APP)
    watcher = await observer(server)
    big = ["3"] * 500_000
    small = ["3"] * 62_500
    assert len("\x1e".join(big)) == LIMIT - 1
    times = {len(big): [], len(small): []}
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(5):
                for body in (small, big):
                    c = await RawPolling.open(server, http)
                    await watcher.call("post_cpu", timeout=T)      # forget the handshake's
                    r = await c.post(*body)
                    assert r.status_code in (200, 400)
                    spent = await watcher.call("post_cpu", timeout=T)
                    assert len(spent) == 1
                    times[len(body)].append(spent[0])
        t_small, t_big = min(times[len(small)]), min(times[len(big)])
        print(f"POST CPU: 125 KB {t_small * 1e3:.2f} ms, 1 MB {t_big * 1e3:.2f} ms")
        assert t_big < 24 * t_small, (t_small, t_big)
    finally:
        await watcher.disconnect()


async def test_polling_post_of_many_packets_is_delivered_fastsio(start_server):
    """Forty events in one polling POST are all delivered. (python-engineio
    refuses a POST of more than 16 packets and drops every packet in it; the
    JavaScript client batches every buffered packet into one POST, bounded by
    maxPayload bytes, not by count.)"""
    server = start_server("fastsio", APP)
    watcher = await observer(server)
    try:
        async with httpx.AsyncClient() as http:
            c = await RawPolling.open(server, http)
            assert accepted(await c.post(*['42["up"]'] * 40))
            deadline = time.monotonic() + 2
            while (await watcher.call("calls", timeout=T))["up"] < 40 and \
                    time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert (await watcher.call("calls", timeout=T))["up"] == 40
    finally:
        await watcher.disconnect()


@pytest.mark.parametrize("compat", ["", "1"])
async def test_pending_connections_are_capped_fastsio(compat, start_server):
    """At most max_pending_connections connections that have joined no
    namespace: a handshake past it is answered 503 (polling) or refused
    (websocket); one joining a namespace makes room. In both modes."""
    server = start_server("fastsio", APP, env={"APP_MAX_PENDING": "3", "APP_COMPAT": compat})
    base = f"{server.url}/socket.io/?EIO=4&transport=polling"
    ws_url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    async with httpx.AsyncClient() as http:
        sids = []
        for _ in range(3):
            r = await http.get(base, timeout=T)
            assert r.status_code == 200 and r.text.startswith("0{")
            sids.append(json.loads(r.text[1:])["sid"])
        r = await http.get(base, timeout=T)
        assert (r.status_code, r.json()) == (503, "Too many pending connections")
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(ws_url)
        assert (await http.post(f"{base}&sid={sids[0]}", content="40", timeout=T)).status_code == 200
        assert "40{" in (await http.get(f"{base}&sid={sids[0]}", timeout=T)).text
        r = await http.get(base, timeout=T)
        assert r.status_code == 200 and r.text.startswith("0{")
        # the joined one still works
        r = await http.post(f"{base}&sid={sids[0]}", content='421["size","x"]', timeout=T)
        assert r.status_code == 200
        assert "431" in (await http.get(f"{base}&sid={sids[0]}", timeout=T)).text
