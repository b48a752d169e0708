"""fastsio.RedisDict against Open WebUI 0.12.4's way: a synchronous redis-py
client used from a coroutine (hget + json.loads to read, json.dumps + hset to
write), both on the same redis-server started here, in this same run.

Three workloads over a hash of 1000 fields holding Open WebUI-like session
dicts: reads of existing fields, writes, and 90/10 reads/writes (the same
key sequence for both). The workload is one coroutine that yields to the
event loop after every operation, as a request handler would; a ticker task
sleeps 1 ms at a time and records how late it wakes up. The lateness is the
event-loop stall: a synchronous Redis round-trip holds the loop for its whole
duration. fastsio writes end with d.flush(), inside the timed section, so
queued writes count only once Redis has them (the flush wait is printed
apart and is not part of the stall figures).

Prints, per workload and implementation (median of --rounds, run
interleaved): operations/s, the fastsio/redis-py ratio, the largest and the
p99 stall, this process's CPU per operation (all threads, fastsio's I/O
thread included) and redis-server's. Loopback only; bounded by --ops.

    python benchmarks/redis_dict.py [--ops 20000] [--rounds 3]
"""
import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "python"))
import redis  # noqa: E402

import fastsio  # noqa: E402
from fastsio import redis_client  # noqa: E402
from benchmarks.cpu import machine_cpu, proc_cpu, self_cpu  # noqa: E402
from tests.conftest import RedisServer  # noqa: E402

FIELDS = 1000
TICK = 0.001            # the ticker's sleep; lateness beyond it is the stall
IMPLS = ("fastsio", "redis-py")
WORKLOADS = ("read", "write", "mixed 90/10")


def session(i, rng):
    return {"id": f"{uuid.UUID(int=rng.getrandbits(128))}", "name": f"User {i}",
            "email": f"user{i}@example.com", "role": "user",
            "chat_ids": [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(8)],
            "last_seen_at": 1700000000.0 + i * 0.25}


class OpenWebUIRedisDict:
    """The measured part of Open WebUI 0.12.4's RedisDict
    (open_webui/socket/utils.py): a sync client from a coroutine."""

    def __init__(self, name, redis_url):
        self.name = name
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True)

    def __getitem__(self, key):
        value = self.redis.hget(self.name, key)
        if value is None:
            raise KeyError(key)
        return json.loads(value)

    def __setitem__(self, key, value):
        self.redis.hset(self.name, key, json.dumps(value))

    def flush(self):
        pass


def plans(ops, seed=7):
    """workload -> list of (is_write, key), the same for both implementations."""
    rng = random.Random(seed)
    keys = [f"s{i:04d}" for i in range(FIELDS)]
    return {
        "read": [(False, rng.choice(keys)) for _ in range(ops)],
        "write": [(True, rng.choice(keys)) for _ in range(ops)],
        "mixed 90/10": [(rng.random() < 0.1, rng.choice(keys)) for _ in range(ops)],
    }


async def run_one(impl, url, name, plan, values, redis_pid):
    if impl == "fastsio":
        d = fastsio.RedisDict(name, redis_url=url)
    else:
        d = OpenWebUIRedisDict(name, url)
    t0 = time.perf_counter()
    d[plan[0][1]]                       # connect; fastsio loads its copy here
    first_read = time.perf_counter() - t0

    gaps = []
    running = True

    async def ticker():
        last = time.perf_counter()
        while running:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick_task = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.02)
    gaps.clear()
    cpu0, rcpu0, mcpu0 = self_cpu(), proc_cpu(redis_pid), machine_cpu()
    start = time.perf_counter()
    for is_write, key in plan:
        if is_write:
            value = values[key]
            value["last_seen_at"] += 1.0
            d[key] = value
        else:
            d[key]
        await asyncio.sleep(0)
    ops_end = time.perf_counter()
    n_gaps = len(gaps)                  # the flush below blocks the ticker: not a stall
    d.flush()                           # fastsio: until Redis has every write
    end = time.perf_counter()
    stalls = [g - TICK for g in gaps[:n_gaps]]
    cpu, rcpu = self_cpu() - cpu0, proc_cpu(redis_pid) - rcpu0
    others = max(0.0, machine_cpu() - mcpu0 - cpu - rcpu)
    running = False
    await tick_task
    if impl == "fastsio":
        redis_client.close_all()
    else:
        d.redis.close()
    stalls.sort()
    n = len(plan)
    return {
        "ops_s": n / (end - start),
        "stall_max": stalls[-1] * 1000 if stalls else 0.0,
        "stall_p99": stalls[int(len(stalls) * 0.99)] * 1000 if stalls else 0.0,
        "cpu_op": cpu / n * 1e6,
        "redis_op": rcpu / n * 1e6,
        "flush": (end - ops_end) * 1000,
        "first_read": first_read * 1000,
        "others": others / (end - start),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"{FIELDS} fields, {args.ops} ops per run, {args.rounds} rounds, ticker {TICK * 1000:.0f} ms")
    server = RedisServer()
    try:
        rng = random.Random(1)
        sessions = {f"s{i:04d}": session(i, rng) for i in range(FIELDS)}
        r = server.client()
        for impl in IMPLS:
            r.delete(f"bench:{impl}")
            r.hset(f"bench:{impl}", mapping={k: json.dumps(v) for k, v in sessions.items()})
        r.close()
        work = plans(args.ops)
        results = {(w, i): [] for w in WORKLOADS for i in IMPLS}
        for rnd in range(args.rounds):
            for w in WORKLOADS:
                for impl in IMPLS:
                    values = json.loads(json.dumps(sessions))
                    res = asyncio.run(run_one(impl, server.url, f"bench:{impl}", work[w], values,
                                              server.proc.pid))
                    results[(w, impl)].append(res)
                    print(f"  round {rnd + 1} {w:12s} {impl:9s} {res['ops_s']:10.0f} ops/s  "
                          f"stall max {res['stall_max']:7.2f} ms  flush {res['flush']:7.1f} ms  "
                          f"first read {res['first_read']:6.1f} ms  "
                          f"rest of machine {res['others']:.2f} cores", flush=True)
    finally:
        server.stop()

    def med(w, impl, key):
        return statistics.median(x[key] for x in results[(w, impl)])

    print()
    print(f"{'workload':12s} {'impl':9s} {'ops/s':>10s} {'ratio':>7s} {'stall max':>10s} "
          f"{'stall p99':>10s} {'CPU us/op':>10s} {'redis us/op':>12s} {'flush ms':>9s}")
    for w in WORKLOADS:
        for impl in IMPLS:
            ratio = med(w, impl, "ops_s") / med(w, "redis-py", "ops_s")
            print(f"{w:12s} {impl:9s} {med(w, impl, 'ops_s'):10.0f} {ratio:6.1f}x "
                  f"{med(w, impl, 'stall_max'):8.2f}ms {med(w, impl, 'stall_p99'):8.3f}ms "
                  f"{med(w, impl, 'cpu_op'):10.1f} {med(w, impl, 'redis_op'):12.1f} "
                  f"{med(w, impl, 'flush'):9.1f}")
    print("(medians; ratio = ops/s against redis-py; stall = ticker lateness beyond its "
          f"{TICK * 1000:.0f} ms sleep; CPU = this process, all threads)")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
