"""Cross-process broadcast through Redis: fastsio.AsyncRedisManager against
python-socketio's socketio.AsyncRedisManager, in this same run.

Per implementation: two uvicorn processes (benchmarks/bench_app.py with REDIS_URL)
sharing one redis-server started here. --clients websocket clients connect
to server B and join room "bench"; one client on server A asks A to `blast`
--messages events to the room, which A publishes and B delivers. Measured:
deliveries/s at B's clients, from the blast request to the last delivery
(every delivery must arrive within --timeout seconds; missing ones are
reported), and the CPU seconds spent in that window by server A, server B,
redis-server and this load generator (/proc/<pid>/stat and getrusage), so
that one can see the generator is not what limits the figure.

The clients are minimal websocket clients on asyncio.Protocol that only
count the incoming "42" frames (no JSON decoding, no task wake-up per
message); what a delivery still costs the generator is mostly the event
loop and the socket reads, shown in its CPU column. Rounds run
interleaved (fastsio, python-socketio, ...); medians are printed with the
fastsio/python-socketio ratio. Loopback only, bounded counts.

    python benchmarks/redis_broadcast.py [--clients 200] [--messages 200] [--rounds 3]
"""
import argparse
import asyncio
import base64
import collections
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import redis  # noqa: E402

from benchmarks.cpu import machine_cpu, proc_cpu, self_cpu  # noqa: E402
from tests.conftest import RedisServer, ServerProcess  # noqa: E402

APP = "benchmarks.bench_app:app"
IMPLS = ("fastsio", "python-socketio")


class WsClient(asyncio.Protocol):
    """An Engine.IO/Socket.IO websocket client that counts "42" frames.
    Server frames are unmasked, unfragmented text (what the servers send);
    other text frames go to self.control, Engine.IO pings are answered."""

    def __init__(self, loop):
        self.loop = loop
        self.transport = None
        self.buf = bytearray()
        self.upgraded = False
        self.upgrade = loop.create_future()
        self.control = asyncio.Queue()
        self.events = 0                       # "42" frames received
        self.stages = collections.deque()     # (events count, future of the time)

    @classmethod
    async def connect(cls, port):
        loop = asyncio.get_running_loop()
        _, self = await loop.create_connection(lambda: cls(loop), "127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
             f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        await asyncio.wait_for(self.upgrade, 10)
        assert (await self.recv()).startswith("0")          # Engine.IO OPEN
        self.send("40")
        while not (await self.recv()).startswith("40"):
            pass
        return self

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        if not self.upgrade.done():
            self.upgrade.set_exception(ConnectionError("closed during the handshake"))
        self.control.put_nowait(None)

    def data_received(self, data):
        buf = self.buf
        buf += data
        if not self.upgraded:
            head, sep, _ = bytes(buf).partition(b"\r\n\r\n")
            if not sep:
                return
            if b" 101 " not in head.split(b"\r\n", 1)[0] + b" ":
                self.upgrade.set_exception(ConnectionError(head.decode("latin-1")))
                return
            del buf[:len(head) + 4]
            self.upgraded = True
            self.upgrade.set_result(True)
        pos, n = 0, len(buf)
        while n - pos >= 2:
            length, hdr = buf[pos + 1] & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, hdr = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, hdr = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if n - pos < hdr + length:
                break
            opcode, start = buf[pos] & 0x0F, pos + hdr
            pos = start + length
            if opcode == 1:
                if length >= 2 and buf[start] == 0x34 and buf[start + 1] == 0x32:   # "42"
                    self.events += 1
                    stages = self.stages
                    while stages and self.events >= stages[0][0]:
                        fut = stages.popleft()[1]
                        if not fut.done():
                            fut.set_result(time.perf_counter())
                elif length == 1 and buf[start] == 0x32:                          # "2"
                    self.send("3")
                else:
                    self.control.put_nowait(buf[start:pos].decode())
            elif opcode == 9:
                self._frame(0x8A, bytes(buf[start:pos]))                          # pong
            elif opcode == 8:
                self.transport.close()
        del buf[:pos]

    def _frame(self, first, payload):
        n = len(payload)
        if n < 126:
            head = bytes((first, 0x80 | n))
        elif n < 65536:
            head = bytes((first, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            head = bytes((first, 0x80 | 127)) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        full = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(full, "big")).to_bytes(n, "big")
        self.transport.write(head + mask + masked)

    def send(self, text):
        self._frame(0x81, text.encode())

    async def recv(self, timeout=10):
        msg = await asyncio.wait_for(self.control.get(), timeout)
        if msg is None:
            raise ConnectionError("connection closed")
        return msg

    async def ask(self, ack_id, event, data, timeout=10):
        self.send(f"42{ack_id}" + json.dumps([event, data]))
        while not (msg := await self.recv(timeout)).startswith(f"43{ack_id}"):
            pass
        return msg

    def until(self, count):
        """A future of the perf_counter time when `count` events have arrived."""
        fut = self.loop.create_future()
        if self.events >= count:
            fut.set_result(time.perf_counter())
        else:
            self.stages.append((count, fut))
        return fut

    def close(self):
        if self.transport is not None:
            self.transport.close()


async def wait_subscribers(redis_url, want, timeout=10.0):
    """Until `want` connections are subscribed to the "socketio" channel."""
    r = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dict(r.pubsub_numsub("socketio")).get(b"socketio", 0) >= want:
                return True
            await asyncio.sleep(0.05)
        return False
    finally:
        r.close()


async def measure(a, b, redis_srv, clients, messages, size, timeout):
    conns = await asyncio.gather(*(WsClient.connect(b.port) for _ in range(clients)))
    await asyncio.gather(*(ws.ask(1, "join", "bench") for ws in conns))
    sender = await WsClient.connect(a.port)
    subscribed = await wait_subscribers(redis_srv.url, 2)
    # warm-up: one event through the whole path (subscriptions, code paths)
    warm = [ws.until(1) for ws in conns]
    await sender.ask(1, "blast", {"room": "bench", "count": 1, "size": size})
    done, _ = await asyncio.wait(warm, timeout=10)
    if len(done) < len(warm):
        raise RuntimeError(f"warm-up: {len(warm) - len(done)} of {len(warm)} clients got "
                           f"nothing (subscribed: {subscribed})")
    ends = [ws.until(1 + messages) for ws in conns]
    pids = (a.proc.pid, b.proc.pid, redis_srv.proc.pid)
    cpu0 = [proc_cpu(p) for p in pids] + [self_cpu(), machine_cpu()]
    start = time.perf_counter()
    sender.send("422" + json.dumps(["blast", {"room": "bench", "count": messages,
                                              "size": size}]))

    async def ack_time():
        msg = await sender.recv(timeout)
        return time.perf_counter() - start if msg.startswith("432") else None

    acked = asyncio.ensure_future(ack_time())
    done, _ = await asyncio.wait(ends, timeout=timeout)
    now = time.perf_counter()
    cpu1 = [proc_cpu(p) for p in pids] + [self_cpu(), machine_cpu()]
    delivered = sum(min(ws.events - 1, messages) for ws in conns)
    last = max(f.result() for f in done) if len(done) == len(ends) else now
    try:
        ack_s = await asyncio.wait_for(acked, 5)
    except (asyncio.TimeoutError, ConnectionError):
        ack_s = None
    for ws in conns + [sender]:
        ws.close()
    elapsed = last - start
    return {
        "rate": delivered / elapsed,
        "delivered": delivered,
        "expected": clients * messages,
        "elapsed": elapsed,
        "cpu": [c1 - c0 for c0, c1 in zip(cpu0, cpu1)][:4],
        # CPU used meanwhile by the rest of the machine (noise from other work)
        "other": max(0.0, (cpu1[4] - cpu0[4]) - sum(c1 - c0 for c0, c1 in zip(cpu0[:4], cpu1))),
        "ack": ack_s,
        "subscribed": subscribed,
    }


def log_problems(server):
    lines = server.output().splitlines()
    return [ln for ln in lines if "Traceback" in ln or "ERROR" in ln or "Error" in ln]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds to wait for every delivery of one blast")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"{args.clients} clients on B x {args.messages} events of {args.size} bytes "
          f"blasted from A; {args.rounds} rounds")
    redis_srv = RedisServer()
    results = {impl: [] for impl in IMPLS}
    problems = []
    try:
        for rnd in range(args.rounds):
            for impl in IMPLS:
                env = {"REDIS_URL": redis_srv.url}
                a = ServerProcess(impl, APP, env=env)
                try:
                    b = ServerProcess(impl, APP, env=env)
                    try:
                        res = asyncio.run(measure(a, b, redis_srv, args.clients, args.messages,
                                                  args.size, args.timeout))
                    finally:
                        b.stop()
                finally:
                    a.stop()
                for name, srv in (("A", a), ("B", b)):
                    for line in log_problems(srv):
                        problems.append(f"{impl} server {name} ({srv.log_path}): {line}")
                results[impl].append(res)
                cpu_a, cpu_b, cpu_r, cpu_g = res["cpu"]
                missing = res["expected"] - res["delivered"]
                ack = f"{res['ack']:.3f} s" if res["ack"] is not None else "none"
                print(f"  round {rnd + 1} {impl:16s} {res['rate']:10.0f} deliveries/s in "
                      f"{res['elapsed']:.3f} s (A acked the blast after {ack})  CPU s: "
                      f"A {cpu_a:.2f}  B {cpu_b:.2f}  redis {cpu_r:.2f}  generator {cpu_g:.2f}  "
                      f"rest of machine {res['other']:.2f}"
                      + (f"  MISSING {missing} of {res['expected']}" if missing else ""),
                      flush=True)
    finally:
        redis_srv.stop()

    print()
    print(f"{'impl':16s} {'deliveries/s':>12s} {'elapsed s':>10s} {'CPU s: A':>9s} {'B':>6s} "
          f"{'redis':>6s} {'generator':>9s} {'others':>7s}")
    med = {}
    for impl in IMPLS:
        rs = results[impl]
        med[impl] = statistics.median(r["rate"] for r in rs)
        cpus = [statistics.median(r["cpu"][i] for r in rs) for i in range(4)]
        print(f"{impl:16s} {med[impl]:12.0f} {statistics.median(r['elapsed'] for r in rs):10.3f} "
              f"{cpus[0]:9.2f} {cpus[1]:6.2f} {cpus[2]:6.2f} {cpus[3]:9.2f} "
              f"{statistics.median(r['other'] for r in rs):7.2f}")
    print(f"ratio fastsio/python-socketio: deliveries/s x{med['fastsio'] / med['python-socketio']:.2f}"
          "  (medians; CPU seconds within the timed window; others = the rest of the machine)")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    missing = sum(r["expected"] - r["delivered"] for rs in results.values() for r in rs)
    if missing:
        print(f"WARNING: {missing} deliveries missing in total")
    for line in problems:
        print("server log:", line)


if __name__ == "__main__":
    main()
