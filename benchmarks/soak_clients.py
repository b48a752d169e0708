"""Load clients of the soak benchmark: raw Engine.IO v4 / Socket.IO v5 over
asyncio sockets, cheap enough that thousands fit in a couple of processes.

A Client speaks one of three transports (websocket, long-polling, polling
upgraded to websocket), connects to "/" and, for odd indexes, "/chat", joins
rooms (auth for websocket clients, the query string for polling ones), emits
"shout" and binary "bin" events with acks while the server broadcasts, and
dies in one of the death modes of DEATHS:

  clean     Socket.IO DISCONNECT + Engine.IO CLOSE (+ websocket close frame)
  fin       TCP close with no Engine.IO CLOSE
  rst       TCP reset (SO_LINGER 0)
  midframe  websocket: a frame header and part of its payload, then FIN/RST
  midpost   polling: a POST header and part of its body, then FIN/RST
  stall     stops reading right after connecting; the server must drop it
            (ping timeout or queue bound) while it keeps its socket open

The client is not a conforming one where that saves CPU: its websocket frames
use a zero masking key (the payload goes out as it is).

Run as a worker process by benchmarks/soak.py:

    python benchmarks/soak_clients.py --port P --clients N --first I ...

It talks JSON lines on stdout ({"event": "ready"|"dead"|"done", ...}) and
reads one command per line on stdin ("die", then "release"). stdout carries
nothing else. Bounded: --clients sockets to 127.0.0.1 only, each phase with a
deadline.
"""
import argparse
import asyncio
import base64
import collections
import json
import os
import random
import socket
import struct
import sys
import time

HOST = "127.0.0.1"
TIMEOUT = 30.0           # any one handshake, ack or death step
KINDS = [                # (transport, death), taken in turn by client index
    ("ws", "clean"), ("ws", "fin"), ("ws", "rst"), ("ws", "midframe"),
    ("poll", "clean"), ("ws", "stall"), ("upgrade", "clean"), ("ws", "clean"),
    ("poll", "fin"), ("ws", "fin"), ("ws", "rst"), ("poll", "rst"),
    ("ws", "midframe"), ("upgrade", "rst"), ("ws", "clean"), ("poll", "midpost"),
    ("ws", "fin"), ("ws", "rst"), ("upgrade", "fin"), ("ws", "stall"),
    ("ws", "midframe"), ("poll", "stall"),
]
COUNTS = collections.Counter()   # this process's figures, reported to soak.py
FAULTS = []                      # the first few wrong or missing acks, described


class Closed(Exception):
    """The transport ended before the step that was waiting on it."""


# ------------------------------------------------------------ transports

def _reset(writer):
    """Closes with a TCP RST: SO_LINGER 0, then close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def _end(writer, how):
    if how == "rst":
        _reset(writer)
    else:
        writer.close()


class WsTransport:
    """One websocket; inbound messages go to client.on_eio, in order."""

    def __init__(self, client):
        self.client = client
        self.reader = self.writer = None
        self.task = None

    async def connect(self, port, query):
        self.reader, self.writer = await asyncio.open_connection(HOST, port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            f"GET /socket.io/?{query} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise Closed(f"websocket refused: {head[:40]!r}")
        self.task = asyncio.ensure_future(self._read_loop())

    @staticmethod
    def frame(opcode, data, declared=None):
        """A masked client frame (zero key); declared overrides the length."""
        n = len(data) if declared is None else declared
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        return head + b"\0\0\0\0" + data

    def send(self, packets):
        if self.writer.is_closing():
            raise Closed("websocket closed")
        for p in packets:
            if isinstance(p, str):
                self.writer.write(self.frame(1, p.encode()))
            else:
                self.writer.write(self.frame(2, p))

    async def _read_loop(self):
        r = self.reader
        parts, first_op = [], 0
        try:
            while True:
                h = await r.readexactly(2)
                op, n = h[0] & 0x0F, h[1] & 0x7F
                if n == 126:
                    n = struct.unpack("!H", await r.readexactly(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", await r.readexactly(8))[0]
                if h[1] & 0x80:
                    await r.readexactly(4)          # servers do not mask
                payload = await r.readexactly(n)
                if op == 8:
                    if not self.writer.is_closing():
                        self.writer.write(self.frame(8, payload[:2]))
                    break
                if op == 9:
                    self.writer.write(self.frame(10, payload))
                    continue
                if op == 10:
                    continue
                if op != 0:
                    first_op = op
                parts.append(payload)
                if not h[0] & 0x80:
                    continue
                data = b"".join(parts)
                parts = []
                self.client.on_eio(data.decode() if first_op == 1 else data)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, Closed):
            pass
        finally:
            self.client.on_transport_closed(self)

    def pause(self):
        self.writer.transport.pause_reading()

    async def die(self, how, index):
        if how == "clean":
            self.writer.write(self.frame(8, struct.pack("!H", 1000)))
            try:
                await asyncio.wait_for(asyncio.shield(self.task), 2)
            except asyncio.TimeoutError:
                pass
            self.writer.close()
        elif how == "midframe":
            self.writer.write(self.frame(1, b'42["shout",{"room":"r0","te', declared=400))
            await asyncio.sleep(0.01)
            _end(self.writer, "rst" if index % 2 else "fin")
        else:
            _end(self.writer, how)
        self.task.cancel()


class Http:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None

    async def _open(self):
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    async def request(self, method, target, body=b""):
        """(status, body). uvicorn closes a keep-alive connection idle for 5 s,
        which may cross a request: one that got no answer at all (EOF or
        reset) is sent again once on a new connection."""
        for _ in (0, 1):
            if self.writer is None or self.writer.is_closing() or self.reader.at_eof():
                await self._open()
            self.writer.write(
                f"{method} {target} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
                f"Content-Type: text/plain;charset=UTF-8\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            try:
                status_line = await self.reader.readline()
            except ConnectionError:
                status_line = b""
            if status_line:
                break
            self.writer.close()
            self.writer = None
        else:
            raise Closed("HTTP connection closed")
        status = int(status_line.split()[1])
        length, chunked = None, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            chunks = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                chunks.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            data = b"".join(c[:-2] for c in chunks)
        else:
            data = await self.reader.readexactly(length or 0)
        return status, data

    def end(self, how):
        if self.writer is not None and not self.writer.is_closing():
            _end(self.writer, how)


class PollTransport:
    """Long-polling: one connection for the GET loop, one for POSTs."""

    def __init__(self, client, port):
        self.client = client
        self.port = port
        self.get_conn = Http(port)
        self.post_conn = Http(port)
        self.url = None
        self.outbox = []
        self.post_task = None
        self.poll_task = None
        self.stopping = False     # no new GET
        self.dead = False         # no new POST

    async def connect(self, query):
        status, body = await self.get_conn.request("GET", f"/socket.io/?{query}")
        if status != 200:
            raise Closed(f"polling handshake: {status}")
        packets = body.decode().split("\x1e")
        sid = json.loads(packets[0][1:])["sid"]
        self.url = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
        for p in packets:
            self.client.on_eio(p)
        self.poll_task = asyncio.ensure_future(self._poll_loop())
        return sid

    async def _poll_loop(self):
        try:
            while not self.stopping:
                status, body = await self.get_conn.request("GET", self.url)
                if status != 200:
                    break
                for p in body.decode().split("\x1e") if body else ():
                    self.client.on_eio(base64.b64decode(p[1:]) if p[:1] == "b" else p)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, Closed, ValueError):
            pass
        finally:
            if not self.stopping:
                self.client.on_transport_closed(self)

    def send(self, packets):
        if self.dead:
            return
        self.outbox.extend(p if isinstance(p, str) else "b" + base64.b64encode(p).decode()
                           for p in packets)
        if self.post_task is None or self.post_task.done():
            self.post_task = asyncio.ensure_future(self._post_loop())

    async def _post_loop(self):
        try:
            while self.outbox:
                body, self.outbox = "\x1e".join(self.outbox).encode(), []
                status, _ = await self.post_conn.request("POST", self.url, body)
                if status != 200:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, OSError, Closed, ValueError):
            pass

    def pause(self):
        self.stopping = True

    async def stop_polling(self):
        """Stops the GET loop after its request in flight is answered."""
        self.stopping = True
        await asyncio.wait_for(self.poll_task, TIMEOUT)

    async def die(self, how, index):
        self.stopping = True
        if how in ("clean", "midpost"):
            # what the client queued (its DISCONNECTs and CLOSE when clean)
            # goes out first; one POST at a time, as a client does
            if self.post_task is not None:
                await asyncio.wait_for(self.post_task, TIMEOUT)
        self.dead = True
        if how == "clean":
            how = "fin"
        elif how == "midpost":
            conn = self.post_conn
            if conn.writer is None or conn.writer.is_closing():
                await conn._open()
            conn.writer.write(
                f"POST {self.url} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
                f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 400\r\n\r\n"
                '42["shout",{"room":"r0","text":"cut'.encode())
            await asyncio.sleep(0.01)
            how = "rst" if index % 2 else "fin"
        for conn in (self.get_conn, self.post_conn):
            conn.end(how)
        for task in (self.poll_task, self.post_task):
            if task is not None:
                task.cancel()

    def end_all(self):
        for conn in (self.get_conn, self.post_conn):
            conn.end("rst")


# ------------------------------------------------------------ the client

def sio_header(text):
    """(type, namespace, ack id, attachments, json text) of a Socket.IO packet."""
    ptype, i, attachments = text[0], 1, 0
    if ptype in "56":
        j = text.index("-", i)
        attachments, i = int(text[i:j]), j + 1
    ns = "/"
    if text.startswith("/", i):
        j = text.find(",", i)
        ns, i = (text[i:], len(text)) if j < 0 else (text[i:j], j + 1)
    j = i
    while j < len(text) and text[j].isdigit():
        j += 1
    return ptype, ns, int(text[i:j]) if j > i else None, attachments, text[j:]


def ns_prefix(ns):
    return "" if ns == "/" else ns + ","


class Client:
    """One Socket.IO client; the transport is picked by kind."""

    def __init__(self, index, port, rooms, kind):
        self.index = index
        self.port = port
        self.transport_kind, self.death = kind
        self.namespaces = ["/", "/chat"] if index % 2 else ["/"]
        self.rooms = [f"r{index % rooms}", f"r{(index * 7 + 3) % rooms}"]
        self.transport = None
        self.opened = None
        self.joined = {}             # namespace -> future of its CONNECT answer
        self.acks = {}               # ack id -> future
        self.next_id = 0
        self.binary = None           # [attachments left, parts, on_complete]
        self.probe = None
        self.alive = False
        self.dying = False

    # -- inbound --

    def on_eio(self, pkt):
        if isinstance(pkt, bytes):
            self._attachment(pkt)
            return
        t = pkt[:1]
        if t == "4":
            self._on_sio(pkt[1:])
        elif t == "2":
            self.transport.send(["3"])
        elif t == "0":
            if self.opened is not None and not self.opened.done():
                self.opened.set_result(json.loads(pkt[1:]))
        elif t == "3" and pkt == "3probe":
            if self.probe is not None and not self.probe.done():
                self.probe.set_result(True)
        elif t == "1":
            COUNTS["server_close"] += 1

    def _on_sio(self, text):
        ptype, ns, ack, attachments, body = sio_header(text)
        if ptype == "0":
            fut = self.joined.get(ns)
            if fut is not None and not fut.done():
                fut.set_result(True)
        elif ptype == "4":
            fut = self.joined.get(ns)
            if fut is not None and not fut.done():
                fut.set_exception(Closed(f"connect refused: {body}"))
        elif ptype in "25":
            COUNTS["deliveries"] += 1
            if ptype == "5":
                COUNTS["binary_events"] += 1
                self.binary = [attachments, [], lambda parts: None]
        elif ptype in "36":
            fut = self.acks.pop(ack, None)
            value = json.loads(body)
            if ptype == "6":
                self.binary = [attachments, [], lambda parts: _resolve(fut, (value, parts))]
            else:
                _resolve(fut, (value, []))
        elif ptype == "1":
            COUNTS["ns_disconnect"] += 1

    def _attachment(self, data):
        if self.binary is None:
            COUNTS["stray_binary"] += 1
            return
        self.binary[1].append(data)
        self.binary[0] -= 1
        if self.binary[0] == 0:
            _, parts, done = self.binary
            self.binary = None
            done(parts)

    def on_transport_closed(self, transport):
        if transport is self.transport and self.alive and not self.dying:
            self.alive = False
            if self.death != "stall":
                COUNTS["dropped_early"] += 1
                COUNTS[f"dropped_early_{self.transport_kind}"] += 1
        for fut in list(self.acks.values()) + list(self.joined.values()):
            if not fut.done():
                fut.set_exception(Closed("transport closed"))
        self.acks.clear()

    # -- outbound --

    def emit(self, ns, event, data, attachment=None):
        """Sends an event with an ack; returns the future of (value, parts)."""
        ack = self.next_id
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.acks[ack] = fut
        if attachment is None:
            self.transport.send([f"42{ns_prefix(ns)}{ack}" + json.dumps([event, data])])
        else:
            head = json.dumps([event, {"_placeholder": True, "num": 0}])
            self.transport.send([f"451-{ns_prefix(ns)}{ack}{head}", attachment])
        return fut

    # -- life --

    async def start(self):
        """Handshake, namespaces, rooms. Raises on failure."""
        loop = asyncio.get_running_loop()
        self.opened = loop.create_future()
        rooms = ",".join(self.rooms)
        if self.transport_kind == "ws":
            self.transport = WsTransport(self)
            await self.transport.connect(self.port, "EIO=4&transport=websocket")
            auth = json.dumps({"rooms": self.rooms})
        else:
            self.transport = PollTransport(self, self.port)
            await self.transport.connect(f"EIO=4&transport=polling&rooms={rooms}")
            auth = ""
        await asyncio.wait_for(self.opened, TIMEOUT)
        self.alive = True
        if self.transport_kind == "upgrade":
            await self._upgrade()
        for ns in self.namespaces:
            self.joined[ns] = loop.create_future()
            self.transport.send([f"40{ns_prefix(ns)}{auth}"])
        await asyncio.wait_for(asyncio.gather(*self.joined.values()), TIMEOUT)
        COUNTS["connected"] += 1
        if self.death == "stall":
            self.transport.pause()

    async def _upgrade(self):
        poll = self.transport
        sid = self.opened.result()["sid"]
        ws = WsTransport(self)
        await ws.connect(self.port, f"EIO=4&transport=websocket&sid={sid}")
        self.probe = asyncio.get_running_loop().create_future()
        ws.send(["2probe"])
        await asyncio.wait_for(self.probe, TIMEOUT)
        await poll.stop_polling()
        if poll.post_task is not None:     # a PONG answering the last GET
            await asyncio.wait_for(poll.post_task, TIMEOUT)
        ws.send(["5"])
        self.transport = ws
        poll.end_all()
        COUNTS["upgraded"] += 1

    async def activity(self, seconds, emits, rng):
        """emits acked events spread over seconds; counts acks right/wrong/missing."""
        if self.death == "stall":
            return
        start = time.monotonic()
        for at in sorted(rng.uniform(0, seconds) for _ in range(emits)):
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            ns = rng.choice(self.namespaces)
            try:
                if rng.random() < 0.5:
                    text = "s" * rng.randint(1, 200)
                    fut = self.emit(ns, "shout", {"room": rng.choice(self.rooms), "text": text})
                    value, _ = await asyncio.wait_for(fut, TIMEOUT)
                    ok = value == [{"n": len(text)}]
                else:
                    blob = os.urandom(rng.randint(1, 1024))
                    fut = self.emit(ns, "bin", None, attachment=blob)
                    value, parts = await asyncio.wait_for(fut, TIMEOUT)
                    ok = (value and value[0].get("len") == len(blob) and parts == [blob])
                COUNTS["acks_ok" if ok else "acks_wrong"] += 1
                if not ok and len(FAULTS) < 10:
                    FAULTS.append(f"client {self.index} {self.transport_kind}: wrong ack "
                                  f"{value!r:.200}")
            except (asyncio.TimeoutError, Closed) as exc:
                COUNTS["acks_missing"] += 1
                if len(FAULTS) < 10:
                    FAULTS.append(f"client {self.index} {self.transport_kind}/{self.death}: "
                                  f"no ack ({type(exc).__name__}: {exc})")
                return

    async def die(self):
        if self.death == "stall" or self.transport is None:
            return
        self.dying = True
        if self.death == "clean" and self.alive:
            self.transport.send([f"41{ns_prefix(ns)}" for ns in self.namespaces] + ["1"])
        await self.transport.die(self.death, self.index)

    def release(self):
        """Ends a stalled client's sockets (after the server was seen to drop it)."""
        self.dying = True
        if isinstance(self.transport, PollTransport):
            self.transport.end_all()
        elif self.transport is not None:
            _reset(self.transport.writer)


def _resolve(fut, value):
    if fut is not None and not fut.done():
        fut.set_result(value)


# ------------------------------------------------------------ worker process

def report(event, **fields):
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


async def command(expected):
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if line.strip() != expected:
        raise SystemExit(f"soak worker: expected {expected!r}, got {line!r}")


async def worker(args):
    rng = random.Random(args.seed)
    kinds = [tuple(k.split(":")) for k in args.kinds.split(",")] if args.kinds else KINDS
    clients = [Client(i, args.port, args.rooms, kinds[i % len(kinds)])
               for i in range(args.first, args.first + args.clients)]
    gate = asyncio.Semaphore(args.concurrency)
    errors = collections.Counter()

    async def start(c):
        async with gate:
            try:
                await c.start()
                return True
            except Exception as exc:   # noqa: BLE001 - counted and reported
                errors[f"{type(exc).__name__}: {exc}"[:120]] += 1
                c.alive = False
                return False

    t0 = time.monotonic()
    ok = await asyncio.gather(*(start(c) for c in clients))
    live = [c for c, good in zip(clients, ok) if good]
    connect_s = time.monotonic() - t0
    before = COUNTS["deliveries"]
    t1 = time.monotonic()
    await asyncio.gather(*(c.activity(args.active, args.emits, random.Random(rng.random()))
                           for c in live))
    window = time.monotonic() - t1
    cpu = os.times()
    report("ready", connect_s=connect_s, window_s=window, cpu_s=cpu.user + cpu.system,
           window_deliveries=COUNTS["deliveries"] - before, errors=dict(errors),
           faults=FAULTS, counts=dict(COUNTS))
    await command("die")
    await asyncio.gather(*(c.die() for c in live), return_exceptions=True)
    report("dead", counts=dict(COUNTS))
    await command("release")
    for c in live:
        if c.death == "stall":
            c.release()
    await asyncio.sleep(0.2)
    cpu = os.times()
    report("done", cpu_s=cpu.user + cpu.system, counts=dict(COUNTS))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, required=True)
    ap.add_argument("--first", type=int, default=0, help="index of the first client")
    ap.add_argument("--rooms", type=int, default=20)
    ap.add_argument("--active", type=float, default=5.0, help="seconds of emits")
    ap.add_argument("--emits", type=int, default=4, help="acked emits per client")
    ap.add_argument("--concurrency", type=int, default=100, help="handshakes at once")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kinds", help="only these, e.g. ws:rst,poll:stall (default: KINDS)")
    args = ap.parse_args()
    asyncio.run(worker(args))


if __name__ == "__main__":
    main()
