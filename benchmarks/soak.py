"""Soak: waves of clients connect, talk and die abruptly; the server must give
back what they took.

One uvicorn process serves benchmarks/soak_app.py (tests/conftest.py's
ServerProcess, so FASTSIO_PACKAGE_DIR / FASTSIO_SERVER_PRELOAD run it on the
ASan build). Each wave starts client worker processes
(benchmarks/soak_clients.py) whose clients connect over websocket, polling and
polling upgraded to websocket, join rooms in "/" and "/chat", emit acked text
and binary events while the server broadcasts a tick every few ms, and then
die: clean, TCP close without Engine.IO CLOSE, RST, in the middle of a
websocket frame or of a polling POST body, or by no longer reading.

Per wave, after the clients are gone, the server's own counts (GET
/soak/stats: sessions, hub connections, rooms, tasks) must be back to their
idle values and its fd count (/proc/<pid>/fd) back to the baseline. RSS
(/proc/<pid>/status VmRSS) is sampled all along; the baseline is taken after
a warm-up wave has left, since allocators keep their arenas.

    python benchmarks/soak.py            # 5 waves x 2000 clients, a few minutes
    python benchmarks/soak.py --ci       # 2 waves x 160 clients, well under a minute

Exits non-zero if RSS after the last wave is more than --rss-slack above the
baseline (not in --ci: ASan keeps freed memory in quarantine), if any count or
fd stays above idle, if the stalled clients were not dropped, if the server
died, stopped answering, or logged a traceback or a sanitizer report.
tests/test_soak.py runs the --ci configuration. Bounded: loopback only, every
wait has a deadline.
"""
import argparse
import asyncio
import json
import os
import queue
import random
import resource
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
from benchmarks import soak_clients  # noqa: E402
from tests.conftest import ServerProcess  # noqa: E402

FULL = dict(waves=5, clients=2000, warmup=2000, workers=2, active=10.0, emits=2,
            ping=5.0, tick_ms=5, rooms=50, max_queue=1000, wait_stall_drop=True,
            check_rss=True)
CI = dict(waves=2, clients=160, warmup=160, workers=2, active=2.0, emits=3,
          ping=1.0, tick_ms=5, rooms=20, max_queue=1000, wait_stall_drop=False,
          check_rss=False)
LOG_PATTERNS = ("Traceback (most recent call last)", "AddressSanitizer", "LeakSanitizer",
                "UndefinedBehaviorSanitizer", "runtime error:", "Fatal Python error",
                "ERROR:", "Exception in ASGI application")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------ the server's side

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Sampler(threading.Thread):
    """Samples the server's RSS every 50 ms; peak() gives and resets the max."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.max = 0
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(0.05):
            try:
                value = rss_kib(self.pid)
            except OSError:
                return
            with self.lock:
                self.max = max(self.max, value)

    def peak(self):
        with self.lock:
            value, self.max = self.max, 0
        return value


class Server:
    """The soak app in a uvicorn process (ServerProcess), its RSS sampled."""

    def __init__(self, cfg, impl, ws):
        env = {"SOAK_PING": str(cfg["ping"]), "SOAK_TICK_MS": str(cfg["tick_ms"]),
               "SOAK_NATIVE": "1" if ws and ws.startswith("fastsio.uvicorn") else "",
               "SOAK_ROOMS": str(cfg["rooms"]), "SOAK_MAX_QUEUE": str(cfg["max_queue"])}
        self.proc = ServerProcess(impl, "benchmarks.soak_app:app", env=env, ws=ws)
        self.pid = self.proc.proc.pid
        self.sampler = Sampler(self.pid)
        self.sampler.start()

    def stats(self, reset_lag=False, collect=False):
        query = "&".join(q for q, on in (("reset_lag", reset_lag), ("gc", collect)) if on)
        url = self.proc.url + "/soak/stats" + ("?" + query if query else "")
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())

    def settled_fds(self):
        """The fd count once the stats request's own socket is gone: the
        least of a few samples."""
        samples = []
        for _ in range(5):
            time.sleep(0.05)
            samples.append(fd_count(self.pid))
        return min(samples)

    def alive(self):
        return self.proc.proc.poll() is None

    def wait_for(self, check, deadline):
        """Polls stats until check(stats) holds; (seconds, last stats, held)."""
        t0 = time.monotonic()
        while True:
            st = self.stats()
            if check(st):
                return time.monotonic() - t0, st, True
            if time.monotonic() - t0 > deadline or not self.alive():
                return time.monotonic() - t0, st, False
            time.sleep(0.1)

    def stop(self):
        self.sampler.stopped.set()
        self.proc.stop()
        return self.proc.output()


def log_problems(text):
    """The log lines that show a bug; a traceback is given by its last line."""
    lines = text.splitlines()
    found = []
    for i, line in enumerate(lines):
        if not any(p in line for p in LOG_PATTERNS):
            continue
        if line.startswith("Traceback"):
            end = next((ln for ln in lines[i + 1:] if ln and not ln[0].isspace()), "?")
            line = f"Traceback ... {end}"
        found.append(line.strip())
    return found[:20]


# ------------------------------------------------------------ client workers

class Worker:
    """One soak_clients.py process; its JSON lines are read by a thread."""

    def __init__(self, port, cfg, first, count, seed):
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "soak_clients.py"), "--port", str(port),
             "--clients", str(count), "--first", str(first), "--rooms", str(cfg["rooms"]),
             "--active", str(cfg["active"]), "--emits", str(cfg["emits"]),
             "--seed", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, cwd=ROOT)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def expect(self, event, timeout):
        try:
            msg = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"client worker: no {event!r} in {timeout} s") from None
        if msg is None or msg.get("event") != event:
            raise RuntimeError(f"client worker: expected {event!r}, got {msg!r}")
        return msg

    def tell(self, command):
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def end(self):
        """Waits for the worker; one still waiting for a command reads EOF
        and exits."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------ one wave

def idle(st, base):
    """Nothing of any client is left in the server (tasks: not more than after
    the warm-up, which may start some for good)."""
    return (st["sessions"] == 0 and st["conns"] == 0 and st["rooms"] == 0
            and st["callbacks"] == 0 and st.get("pending_binary", 0) == 0
            and st.get("environs", 0) == 0
            and (base["tasks"] is None or st["tasks"] <= base["tasks"]))


def run_wave(server, cfg, clients, base, seed):
    """Runs one wave; returns its row of figures (and 'problems')."""
    row = {"clients": clients, "problems": []}
    t0 = time.monotonic()
    cpu0 = cpu_s(server.pid)
    server.sampler.peak()
    reasons0 = server.stats(reset_lag=True)["reasons"]
    workers, first = [], 0
    share = -(-clients // cfg["workers"])
    for i in range(cfg["workers"]):
        count = min(share, clients - first)
        if count > 0:
            workers.append(Worker(server.proc.port, cfg, first, count, seed * 100 + i))
        first += count
    try:
        ready = [w.expect("ready", 120 + cfg["active"]) for w in workers]
        active_s = time.monotonic() - t0
        row["server_cpu"] = (cpu_s(server.pid) - cpu0) / active_s
        row["client_cpu"] = sum(r["cpu_s"] for r in ready) / active_s
        counts = [r["counts"] for r in ready]
        row["connected"] = sum(c.get("connected", 0) for c in counts)
        row["acks_ok"] = sum(c.get("acks_ok", 0) for c in counts)
        row["acks_wrong"] = sum(c.get("acks_wrong", 0) for c in counts)
        row["acks_missing"] = sum(c.get("acks_missing", 0) for c in counts)
        row["faults"] = [f for r in ready for f in r["faults"]]
        if row["acks_wrong"]:
            row["problems"].append(f"{row['acks_wrong']} wrong acks: {row['faults'][:3]}")
        row["dropped_early"] = sum(c.get("dropped_early", 0) for c in counts)
        window = max(r["window_s"] for r in ready)
        row["deliveries_s"] = sum(r["window_deliveries"] for r in ready) / window
        row["connect_errors"] = {}
        for r in ready:
            for k, v in r["errors"].items():
                row["connect_errors"][k] = row["connect_errors"].get(k, 0) + v
        at_peak = server.stats()
        row["sessions_peak"] = at_peak["sessions"]
        row["lag_ms"] = at_peak["lag_ms"]
        row["fds_peak"] = fd_count(server.pid)
        for w in workers:
            w.tell("die")
        for w in workers:
            w.expect("dead", 120)
        t_die = time.monotonic()
        # every session closed: the dead by EOF or ping timeout, the stalled
        # ones by ping timeout (or the queue bound) while they keep their sockets
        limit = 3 * cfg["ping"] + 15
        row["leave_s"], st, ok = server.wait_for(lambda s: s["open"] == 0, limit)
        if not ok:
            row["problems"].append(f"sessions still open {limit:.0f} s after the clients "
                                   f"died: {st}")
        if cfg["wait_stall_drop"]:
            # the transport of a stalled client is closed by the server too
            _, st, ok = server.wait_for(lambda s: s["conns"] == 0, 90)
            row["stall_drop_s"] = time.monotonic() - t_die
            if not ok:
                row["problems"].append(f"stalled clients not dropped in 90 s: {st}")
        for w in workers:
            w.tell("release")
        for w in workers:
            w.expect("done", 60)
    finally:
        for w in workers:
            w.end()
    _, st, ok = server.wait_for(lambda s: idle(s, base), 30)
    row["after"] = st = server.stats(collect=True)
    row["reasons"] = {k: v - reasons0.get(k, 0) for k, v in st["reasons"].items()
                      if v - reasons0.get(k, 0)}
    row["malloc_after"] = st.get("malloc")
    if not ok:
        row["problems"].append(f"server not idle 30 s after the wave: {st}")
    row["fds_after"] = server.settled_fds()
    deadline = time.monotonic() + 10
    while row["fds_after"] > base["fds"] and time.monotonic() < deadline:
        row["fds_after"] = server.settled_fds()
    if row["fds_after"] > base["fds"]:
        row["problems"].append(f"server fds {row['fds_after']} > baseline {base['fds']}")
    time.sleep(1.0)        # let the allocator settle before the after-RSS
    row["rss_peak"] = server.sampler.peak()
    row["rss_after"] = rss_kib(server.pid)
    row["seconds"] = time.monotonic() - t0
    return row


def probe(port):
    """A websocket and a polling client connect, get acks and leave cleanly."""
    async def one(index, kind):
        c = soak_clients.Client(index, port, 20, kind)
        await c.start()
        await c.activity(0.1, 2, random.Random(index))
        await c.die()
    before = dict(soak_clients.COUNTS)

    async def both():
        await asyncio.wait_for(asyncio.gather(one(0, ("ws", "clean")),
                                              one(1, ("poll", "clean"))), 30)
    try:
        asyncio.run(both())
    except Exception as exc:  # noqa: BLE001 - reported as a problem
        return f"{type(exc).__name__}: {exc}"
    acks = soak_clients.COUNTS["acks_ok"] - before.get("acks_ok", 0)
    return None if acks == 4 else f"{acks} of 4 acks right"


# ------------------------------------------------------------ the run

def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run(cfg, impl="fastsio", ws="websockets", out=None):
    """Runs the soak; returns a report dict whose 'problems' list is empty
    when the server gave everything back (RSS judged by the caller). out
    takes each line of the table as it is made."""
    out = out or (lambda line: print(line, flush=True))
    raise_fd_limit()
    server = Server(cfg, impl, ws)
    report = {"config": cfg, "impl": impl, "rows": [], "problems": []}
    try:
        time.sleep(0.5)
        tasks = server.stats()["tasks"]   # first: it makes the native transport
        report["initial"] = {"rss": rss_kib(server.pid), "fds": server.settled_fds(),
                             "tasks": tasks}
        # with the native transport, the app made it (and its fds: the
        # inbox's eventfd, lws's cancel pipe, libev's epoll fd) at the first
        # stats request, so the initial count holds them
        base = {"tasks": None, "fds": report["initial"]["fds"]}
        out(header())
        warm = run_wave(server, cfg, cfg["warmup"], base, seed=0)
        out(format_row("warm-up", warm))
        report["warmup"] = warm
        report["problems"] += [f"warm-up: {p}" for p in warm["problems"]]
        report["baseline"] = {"rss": warm["rss_after"], "fds": warm["fds_after"]}
        base["fds"] = max(base["fds"], warm["fds_after"])
        base["tasks"] = warm["after"]["tasks"]
        for wave in range(1, cfg["waves"] + 1):
            row = run_wave(server, cfg, cfg["clients"], base, seed=wave)
            report["rows"].append(row)
            out(format_row(str(wave), row))
            report["problems"] += [f"wave {wave}: {p}" for p in row["problems"]]
        report["probe"] = probe(server.proc.port)
        if report["probe"]:
            report["problems"].append(f"server not answering after the waves: "
                                      f"{report['probe']}")
    except Exception as exc:  # noqa: BLE001 - the log below tells why
        report["problems"].append(f"soak stopped: {type(exc).__name__}: {exc}")
    finally:
        alive = server.alive()
        log = server.stop()
    if not alive:
        report["problems"].append("server process died")
    report["log_problems"] = log_problems(log)
    if report["log_problems"]:
        report["problems"].append("server log: " + " | ".join(report["log_problems"][:5]))
    report["log_path"] = server.proc.log_path
    if report["rows"]:
        last = report["rows"][-1]["rss_after"]
        report["rss_growth"] = last / report["baseline"]["rss"] - 1
    return report


COLUMNS = [  # (title, width, cell of a row)
    ("wave", 7, None),
    ("clients", 7, lambda r: f"{r['clients']}"),
    ("conn", 5, lambda r: f"{r['connected']}"),
    ("early", 5, lambda r: f"{r['dropped_early']}"),
    ("acks ok/bad/miss", 16,
     lambda r: f"{r['acks_ok']}/{r['acks_wrong']}/{r['acks_missing']}"),
    ("deliv/s", 7, lambda r: f"{r['deliveries_s']:.0f}"),
    ("lag ms", 6, lambda r: f"{r['lag_ms']:.0f}"),
    ("srv CPU", 7, lambda r: f"{100 * r['server_cpu']:.0f}%"),
    ("cli CPU", 7, lambda r: f"{100 * r['client_cpu']:.0f}%"),
    ("RSS peak", 8, lambda r: f"{r['rss_peak'] / 1024:.1f}M"),
    ("RSS after", 9, lambda r: f"{r['rss_after'] / 1024:.1f}M"),
    ("malloc", 6, lambda r: "-" if r["malloc_after"] is None
     else f"{r['malloc_after'] / 2**20:.1f}M"),
    ("fds pk/after", 12, lambda r: f"{r['fds_peak']}/{r['fds_after']}"),
    ("leave s", 7, lambda r: f"{r['leave_s']:.1f}"),
    ("drop s", 6, lambda r: f"{r['stall_drop_s']:.1f}" if "stall_drop_s" in r else "-"),
    ("wave s", 6, lambda r: f"{r['seconds']:.0f}"),
]
LEGEND = """\
conn: clients connected; early: dropped by the server before they died; acks:
right/wrong/missing; deliv/s: broadcast events received per second while the
clients emitted; lag: worst event-loop lag of the server then; CPU: server and
client processes over connect + emit phase (100% = one core); RSS peak/after
the wave; malloc: bytes in use by malloc after the wave (glibc; C and large
Python objects); fds: server fds with every client connected / after; leave: seconds
until every server session was closed after the clients died; drop: seconds
until the server had closed the sockets of the stalled clients too."""


def header():
    return " ".join(f"{title:>{width}}" for title, width, _ in COLUMNS)


def format_row(name, r):
    cells = [name] + [cell(r) for _, _, cell in COLUMNS[1:]]
    return " ".join(f"{c:>{w}}" for c, (_, w, _) in zip(cells, COLUMNS))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ci", action="store_true", help="the short configuration")
    ap.add_argument("--waves", type=int)
    ap.add_argument("--clients", type=int, help="clients per wave (and warm-up)")
    ap.add_argument("--workers", type=int, help="client processes")
    ap.add_argument("--active", type=float, help="seconds of emits per wave")
    ap.add_argument("--ping", type=float, help="server ping_interval = ping_timeout")
    ap.add_argument("--impl", default="fastsio", choices=["fastsio", "python-socketio"])
    ap.add_argument("--ws", default="websockets", help="uvicorn --ws implementation")
    ap.add_argument("--rss-slack", type=float, default=0.10,
                    help="allowed RSS growth over the baseline (fraction)")
    ap.add_argument("--json", help="also write the report to this file")
    args = ap.parse_args()
    cfg = dict(CI if args.ci else FULL)
    for key in ("waves", "clients", "workers", "active", "ping"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.clients is not None:
        cfg["warmup"] = args.clients
    print(f"soak: {args.impl}, {cfg['waves']} waves x {cfg['clients']} clients "
          f"(+ warm-up {cfg['warmup']}), {cfg['workers']} client processes, "
          f"ping {cfg['ping']} s, tick every {cfg['tick_ms']} ms to {cfg['rooms']} rooms x 2 "
          f"namespaces")
    report = run(cfg, args.impl, args.ws)
    print(LEGEND)
    for name, row in [("warm-up", report.get("warmup"))] + list(enumerate(report["rows"], 1)):
        if row:
            after = row["after"]
            print(f"after wave {name}: gc objects {after['objects']}, Python blocks "
                  f"{after['blocks']}; disconnect reasons {row['reasons']}")
    init, base = report.get("initial"), report.get("baseline")
    if init and base:
        print(f"RSS: initial {init['rss'] / 1024:.1f} MB, baseline (after warm-up) "
              f"{base['rss'] / 1024:.1f} MB; server fds: initial {init['fds']}, "
              f"baseline {base['fds']}")
    if "rss_growth" in report:
        print(f"RSS after the last wave: {100 * report['rss_growth']:+.1f}% over the baseline "
              f"(limit {100 * args.rss_slack:+.0f}%{'' if cfg['check_rss'] else ', not checked'})")
        if cfg["check_rss"] and report["rss_growth"] > args.rss_slack:
            report["problems"].append(
                f"RSS after the last wave {100 * report['rss_growth']:+.1f}% over the baseline")
    print(f"server log: {report['log_path']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
    for p in report["problems"]:
        print("PROBLEM:", p)
    print("soak: FAILED" if report["problems"] else "soak: ok")
    sys.exit(1 if report["problems"] else 0)


if __name__ == "__main__":
    main()
