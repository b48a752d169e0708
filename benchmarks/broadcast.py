"""Broadcast fan-out and echo round-trips: fastsio against python-socketio.

Both servers run under uvicorn on loopback in this same run; the clients are
raw websockets speaking Engine.IO/Socket.IO (cheap enough that the server is
what is measured). Prints one line per measurement and the fastsio/python-
socketio ratios. Bounded: a fixed number of clients and messages, on
127.0.0.1 only.

    python benchmarks/broadcast.py [--clients 200] [--messages 200]
"""
import argparse
import asyncio
import json
import os
import sys
import time

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tests.conftest import ServerProcess  # noqa: E402


async def ws_client(port):
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket", max_size=None)
    await ws.recv()                      # OPEN
    await ws.send("40")
    while not (await ws.recv()).startswith("40"):
        pass
    return ws


async def recv_loop(ws, want, done):
    got = 0
    async for msg in ws:
        if msg == "2":
            await ws.send("3")
        elif msg.startswith("42"):
            got += 1
            if got == want:
                done.set_result(time.perf_counter())
                return


async def bench_broadcast(port, clients, messages, size):
    conns = await asyncio.gather(*(ws_client(port) for _ in range(clients)))
    for i, ws in enumerate(conns):
        await ws.send(f'42{i}["join","bench"]')
        while not (await ws.recv()).startswith(f"43{i}"):
            pass
    loop = asyncio.get_running_loop()
    dones = [loop.create_future() for _ in conns]
    tasks = [asyncio.ensure_future(recv_loop(ws, messages, d)) for ws, d in zip(conns, dones)]
    start = time.perf_counter()
    await conns[0].send("42" + json.dumps(["blast", {"room": "bench", "count": messages,
                                                     "size": size}]))
    ends = await asyncio.wait_for(asyncio.gather(*dones), 300)
    elapsed = max(ends) - start
    for t in tasks:
        t.cancel()
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    return clients * messages / elapsed


async def bench_echo(port, rounds):
    ws = await ws_client(port)
    start = time.perf_counter()
    for i in range(rounds):
        await ws.send(f'42{i}["echo",{{"n":{i},"s":"hello"}}]')
        while True:
            msg = await ws.recv()
            if msg == "2":
                await ws.send("3")
            elif msg.startswith(f"43{i}["):
                break
    elapsed = time.perf_counter() - start
    await ws.close()
    return rounds / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2000)
    args = ap.parse_args()
    results = {}
    for impl in ("python-socketio", "fastsio"):
        server = ServerProcess(impl, "benchmarks.bench_app:app")
        try:
            fan = asyncio.run(bench_broadcast(server.port, args.clients, args.messages,
                                              args.size))
            echo = asyncio.run(bench_echo(server.port, args.rounds))
        finally:
            server.stop()
        results[impl] = (fan, echo)
        print(f"{impl:16s} broadcast deliveries/s {fan:12.0f}   echo round-trips/s {echo:9.0f}")
    ref, fast = results["python-socketio"], results["fastsio"]
    print(f"ratio fastsio/python-socketio: broadcast x{fast[0] / ref[0]:.2f}, "
          f"echo x{fast[1] / ref[1]:.2f}")


if __name__ == "__main__":
    main()
