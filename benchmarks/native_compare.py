"""Socket.IO servers side by side under the C load generator (benchmarks/loadgen):
python-socketio under uvicorn, fastsio's ASGI app under uvicorn (websockets
on uvicorn's implementation, or adopted by the native transport), fastsio's
own listener (sio.serve_native) and the Node `socket.io` 4 server, in one
run; the figures issue 7 (native transport) is measured against. Another
server is one entry in SERVER_KINDS.

    python benchmarks/native_compare.py [--reps 3] [--kinds a,b,...] [--quick]
                                        [--wait-quiet S]   # shared machine: wait for idle
    python benchmarks/native_compare.py --build-only     # just build the load generator

Servers: python-socketio and fastsio run benchmarks/bench_app.py (picked by
FASTSIO_TEST_IMPL), Node runs benchmarks/node/server.mjs (same events: join,
blast, echo); both Python servers under `uvicorn --ws websockets`, as
tests/conftest.py's ServerProcess starts them. One server at a time; the
repetitions are interleaved (A B C, A B C, ...) and each figure is the median
over them. The server is pinned to one core (--server-cpu, taskset) and the
load generator to the other (--loadgen-cpu).

Per server start, in order:
  warm-up    echo (10 clients, 0.5 s) and broadcast (10 clients, 0.5 s);
  idle       RSS of the server (/proc/<pid>/status VmRSS) before, then
             --idle-clients websocket clients connected and held; 1 s after
             the last one is in, RSS again: (after - before) / clients;
  connect    --connect-clients connections, 100 being set up at once, each
             through Socket.IO CONNECT and held: connects/s;
  broadcast  --broadcast-clients clients in one room, one more client asking
             for `blast`s of 20 events of 100 bytes (bounded in flight):
             deliveries/s over --duration;
  echo       --echo-clients clients each with one echo -> ack in flight for
             --duration: round trips/s, p50 and p99 latency.
For each measured window, the server's CPU (utime + stime of its process,
/proc/<pid>/stat) and the load generator's, as % of one core, plus what the
rest of the machine used ("other": other processes, and kernel softirq time
for the loopback traffic, which no process is charged for): a server near
100 % is the bottleneck, a load generator near 100 % means the figure is the
client's, a large "other" means the machine was shared. The server's CPU time
per delivery / round trip / connect is reported too: it holds up much better
than the rates on a busy machine. Prints a table of
medians with ratios to python-socketio and to Node, then one line
`json: {...}` with every run's figures (also written to
build/native-compare/results.json).

Needs gcc, taskset, node and npm (`npm ci` in benchmarks/node runs here when
node_modules is missing). Loopback only; every count and time is bounded;
every process started here is stopped on exit.
"""
import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.cpu import machine_cpu, proc_cpu  # noqa: E402

LOADGEN_DIR = os.path.join(ROOT, "benchmarks", "loadgen")
LOADGEN_SOURCES = ["loadgen.c", "conn.c", "modes.c", "ws.c", "sio.c", "report.c", "selftest.c"]
LOADGEN = os.path.join(ROOT, "build", "loadgen", "loadgen")
NODE_DIR = os.path.join(ROOT, "benchmarks", "node")
OUT_DIR = os.path.join(ROOT, "build", "native-compare")
PY_APP = "benchmarks.bench_app:app"


def build_loadgen(out=LOADGEN):
    """Compiles benchmarks/loadgen with plain gcc -O2 (libc, pthreads, libm);
    returns the path of the binary. Raises CalledProcessError with gcc's
    messages on failure."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cmd = ["gcc", "-O2", "-g", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-pthread",
           "-o", out, *[os.path.join(LOADGEN_DIR, s) for s in LOADGEN_SOURCES], "-lm"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def maps_core(pid):
    """Whether fastsio's C extension is mapped into process `pid`."""
    with open(f"/proc/{pid}/maps") as f:
        return "_core.cpython" in f.read()


# ------------------------------------------------------------------ servers

def python_env(impl):
    """Extra env of a Python server process: bench_app's library, and this
    checkout's fastsio on the path."""
    return {"FASTSIO_TEST_IMPL": impl,
            "PYTHONPATH": os.pathsep.join([ROOT, os.path.join(ROOT, "python"),
                                           os.environ.get("PYTHONPATH", "")])}


def uvicorn_server(impl, ws="websockets"):
    def argv(port):
        return ([sys.executable, "-m", "uvicorn", PY_APP, "--host", "127.0.0.1",
                 "--port", str(port), "--ws", ws, "--log-level", "warning"], python_env(impl))
    return argv


def standalone_server(port):
    return ([sys.executable, "-m", "fastsio", "serve-native", "benchmarks.bench_app:sio",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            python_env("fastsio"))


def node_server(port):
    return ["node", os.path.join(NODE_DIR, "server.mjs"), "--port", str(port)], {}


class Kind:
    """One kind of server: argv(port) -> (argv, extra env); fastsio_core says
    whether fastsio's _core must (True) or must not (False) be mapped into
    the server process (None: not checked)."""

    def __init__(self, name, label, argv, fastsio_core=None):
        self.name, self.label, self.argv, self.fastsio_core = name, label, argv, fastsio_core


# The servers measured, in table order. Ratios are to REF and NODE.
SERVER_KINDS = [
    Kind("python-socketio", "python-socketio 5 (uvicorn, --ws websockets)",
         uvicorn_server("python-socketio"), fastsio_core=False),
    Kind("fastsio-asgi", "fastsio ASGIApp (uvicorn, --ws websockets)",
         uvicorn_server("fastsio"), fastsio_core=True),
    Kind("fastsio-adopted", "fastsio ASGIApp (uvicorn; the libwebsockets thread adopts each "
         "websocket: --ws fastsio.uvicorn:WebSocketProtocol)",
         uvicorn_server("fastsio", "fastsio.uvicorn:WebSocketProtocol"), fastsio_core=True),
    Kind("fastsio-standalone", "fastsio sio.serve_native (python -m fastsio serve-native: "
         "its own port, websockets adopted as above)", standalone_server, fastsio_core=True),
    Kind("node", "Node socket.io 4 (npm)", node_server),
]
# Kinds named but not measurable yet, with why (none now).
PENDING_KINDS = {}
REF, NODE = "python-socketio", "node"


class Server:
    """A server process pinned to `cpu` (or not, with cpu None), on a free
    loopback port; stop() ends it."""

    def __init__(self, kind, cpu, tag):
        self.kind = kind
        self.port = free_port()
        argv, extra = kind.argv(self.port)
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu), *argv]
        env = dict(os.environ)
        env.update(extra)
        os.makedirs(OUT_DIR, exist_ok=True)
        self.log_path = os.path.join(OUT_DIR, f"{kind.name}-{tag}.log")
        self.log = open(self.log_path, "wb")
        # taskset execs the server: the pid is the server's own
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid
        try:
            self._wait_ready()
            if kind.fastsio_core is not None and maps_core(self.pid) != kind.fastsio_core:
                raise RuntimeError(f"{kind.name}: fastsio's _core is "
                                   f"{'not ' if kind.fastsio_core else ''}mapped in the server")
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind.name} exited at start:\n{self.output()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind.name} did not start:\n{self.output()}")

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")[-4000:]

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


# ------------------------------------------------------------------ load runs

class LoadRun:
    """One load generator run against `server`. run() returns the result JSON
    with window figures added: server_cpu, loadgen_cpu, other_cpu (% of one
    core over the window between the "start"/"ready" line and the result)
    and, for idle, the server RSS figures."""

    def __init__(self, args, server, mode, extra):
        self.args, self.server, self.mode, self.extra = args, server, mode, extra

    def run(self):
        argv = [LOADGEN, self.mode, "--port", str(self.server.port), *self.extra]
        if self.args.loadgen_cpu is not None:
            argv = ["taskset", "-c", str(self.args.loadgen_cpu), *argv]
        idle = self.mode == "idle"
        rss0 = rss_kib(self.server.pid) if idle else None
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if idle else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        before = result = rss1 = None
        try:
            for line in proc.stdout:
                msg = json.loads(line)
                if msg["event"] in ("start", "ready"):
                    before = self._sample(proc.pid)
                    if idle:
                        time.sleep(1.0)
                        rss1 = rss_kib(self.server.pid)
                        proc.stdin.write("\n")
                        proc.stdin.flush()
                elif msg["event"] == "result":
                    after = self._sample(proc.pid)
                    result = msg
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err = proc.stderr.read()
        if result is None or before is None:
            raise RuntimeError(f"loadgen {self.mode} against {self.server.kind.name}: exit "
                               f"{proc.returncode}, no result\n{err[-2000:]}\nserver log:\n"
                               f"{self.server.output()}")
        if not result.get("ok"):
            raise RuntimeError(f"loadgen {self.mode} against {self.server.kind.name} failed: "
                               f"{json.dumps(result)}\nserver log:\n{self.server.output()}")
        wall = after["t"] - before["t"]
        if idle:
            wall -= 1.0   # the hold before the release is not load
        result["wall"] = wall
        for key in ("server", "loadgen"):
            used = after[key] - before[key]
            result[f"{key}_cpu_s"] = used
            result[f"{key}_cpu"] = 100 * used / wall if wall > 0 else None
        ops = result.get(OPS.get(self.mode, ""))
        if ops:
            result["server_us_per_op"] = 1e6 * result["server_cpu_s"] / ops
        other = (after["machine"] - before["machine"]) - (after["server"] - before["server"]) \
            - (after["loadgen"] - before["loadgen"])
        result["other_cpu"] = 100 * other / wall if wall > 0 else None
        if idle:
            n = result["connected"]
            result["rss_before_kib"], result["rss_after_kib"] = rss0, rss1
            result["rss_per_conn_kib"] = (rss1 - rss0) / n if n else None
        return result

    def _sample(self, lg_pid):
        return {"t": time.monotonic(), "server": proc_cpu(self.server.pid),
                "loadgen": proc_cpu(lg_pid), "machine": machine_cpu()}


def wait_quiet(max_wait, busy=0.3):
    """Waits (at most max_wait s) until the machine used less than `busy`
    cores over one second; returns the cores it used in the last second."""
    deadline = time.monotonic() + max_wait
    while True:
        m0 = machine_cpu()
        time.sleep(1.0)
        used = machine_cpu() - m0
        if used < busy or time.monotonic() >= deadline:
            return used


def measure(args, kind, rep):
    """Starts `kind`, runs the chosen modes (args.modes) against it, stops
    it; returns {mode: result}."""
    out = {}
    if args.wait_quiet:
        out["busy_before"] = wait_quiet(args.wait_quiet)
    server = Server(kind, args.server_cpu, f"rep{rep}")
    modes = args.modes
    try:
        d = str(args.duration)
        LoadRun(args, server, "echo", ["-n", "10", "-d", "0.5"]).run()
        LoadRun(args, server, "broadcast", ["-n", "10", "-d", "0.5"]).run()
        time.sleep(0.5)
        if "idle" in modes:
            out["idle"] = LoadRun(args, server, "idle", [
                "-n", str(args.idle_clients), "-c", "100", "-d", "300", "--hold-stdin"]).run()
            time.sleep(1.0)   # the server lets go of the idle clients
        if "connect" in modes:
            out["connect"] = LoadRun(args, server, "connect", [
                "-n", str(args.connect_clients), "-c", "100"]).run()
            time.sleep(1.0)
        if "broadcast" in modes:
            out["broadcast"] = LoadRun(args, server, "broadcast", [
                "-n", str(args.broadcast_clients), "-c", "100", "-d", d, "--count", "20",
                "--size", "100"]).run()
            time.sleep(0.5)
        if "echo" in modes:
            out["echo"] = LoadRun(args, server, "echo", [
                "-n", str(args.echo_clients), "-d", d, "--size", "100"]).run()
    finally:
        server.stop()
    return out


# ------------------------------------------------------------------ table

# What one operation of a mode is (a result field counting them), for the
# server's CPU per operation.
OPS = {"broadcast": "deliveries", "echo": "acked", "connect": "connected"}
MODES = ("idle", "connect", "broadcast", "echo")

# (key, title, mode, result field, higher is better, cpu columns). Rates and
# latencies are what a client sees, and move with whatever else the machine
# runs; the server's CPU time per operation moves much less (a contended
# server mostly gets fewer cycles, not costlier operations), so those rows
# still compare servers on a busy machine.
METRICS = [
    ("broadcast", "broadcast deliveries/s ({broadcast_clients} clients, one room)", "broadcast",
     "deliveries_per_s", True, True),
    ("broadcast_cost", "server CPU per broadcast delivery, us", "broadcast",
     "server_us_per_op", False, False),
    ("echo", "echo round trips/s ({echo_clients} clients, one ack in flight each)", "echo",
     "round_trips_per_s", True, True),
    ("echo_cost", "server CPU per echo round trip, us", "echo", "server_us_per_op", False, False),
    ("echo_p50", "echo latency p50, ms", "echo", "p50_ms", False, False),
    ("echo_p99", "echo latency p99, ms", "echo", "p99_ms", False, False),
    ("connect", "connects/s ({connect_clients} connections, 100 at once)", "connect",
     "connects_per_s", True, True),
    ("connect_cost", "server CPU per connect, us", "connect", "server_us_per_op", False, False),
    ("rss", "server RSS per idle connection, KiB ({idle_clients} clients)", "idle",
     "rss_per_conn_kib", False, False),
]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, digits=None):
    if v is None:
        return "-"
    if digits is None:
        digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2
    return f"{v:,.{digits}f}"


def table(args, kinds, runs):
    """runs: {kind: [ {mode: result}, ... ]} -> (text, summary dict)."""
    lines, summary = [], {}
    width = max(len(k.name) for k in kinds) + 2
    for key, title, mode, field, higher, cpu in METRICS:
        if mode not in args.modes:
            continue
        medians = {k.name: med([r[mode][field] for r in runs[k.name]]) for k in kinds}
        summary[key] = medians
        lines.append("")
        lines.append(f"{title.format(**vars(args))}   "
                     f"({'higher' if higher else 'lower'} is better)")
        head = f"  {'server':{width}}{'median':>12}  {'x py':>6}  {'x node':>6}"
        if cpu:
            head += f"  {'srv cpu':>7}  {'lg cpu':>6}  {'other':>5}"
        head += "   runs"
        lines.append(head)
        ref, node = medians.get(REF), medians.get(NODE)
        for k in kinds:
            v = medians[k.name]
            rel = lambda base: fmt(v / base, 2) if v is not None and base else "-"  # noqa: E731
            row = f"  {k.name:{width}}{fmt(v):>12}  {rel(ref):>6}  {rel(node):>6}"
            if cpu:
                rs = runs[k.name]
                row += (f"  {fmt(med([r[mode]['server_cpu'] for r in rs]), 0):>6}%"
                        f"  {fmt(med([r[mode]['loadgen_cpu'] for r in rs]), 0):>5}%"
                        f"  {fmt(med([r[mode]['other_cpu'] for r in rs]), 0):>4}%")
            row += "   " + " ".join(fmt(r[mode][field]) for r in runs[k.name])
            lines.append(row)
    return "\n".join(lines), summary


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"platform": platform.platform(), "cpu": model, "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "node": subprocess.run(["node", "--version"], capture_output=True,
                                   text=True).stdout.strip()}


def ensure_node():
    if os.path.isdir(os.path.join(NODE_DIR, "node_modules", "socket.io")):
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=NODE_DIR, check=True, timeout=600)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--kinds", default=",".join(k.name for k in SERVER_KINDS),
                    help="comma-separated, in table order; known: "
                         + ", ".join(k.name for k in SERVER_KINDS))
    ap.add_argument("--duration", type=float, default=5.0, help="broadcast / echo window, s")
    ap.add_argument("--broadcast-clients", type=int, default=1000)
    ap.add_argument("--echo-clients", type=int, default=50)
    ap.add_argument("--connect-clients", type=int, default=1000)
    ap.add_argument("--idle-clients", type=int, default=2000)
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--loadgen-cpu", type=int, default=1)
    ap.add_argument("--no-pin", action="store_true", help="run without taskset")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="before each server start, wait up to S s for the machine to be "
                         "nearly idle (a shared machine)")
    ap.add_argument("--quick", action="store_true",
                    help="1 rep, 1 s windows, 100-200 clients: checks the harness, not the servers")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma-separated subset of " + ", ".join(MODES))
    ap.add_argument("--build-only", action="store_true")
    args = ap.parse_args()
    args.modes = args.modes.split(",")
    if not set(args.modes) <= set(MODES):
        sys.exit(f"unknown mode in {args.modes}; known: {', '.join(MODES)}")
    build_loadgen()
    if args.build_only:
        print(LOADGEN)
        return
    if args.quick:
        args.reps, args.duration = 1, 1.0
        args.broadcast_clients, args.echo_clients = 100, 20
        args.connect_clients, args.idle_clients = 100, 200
    if args.no_pin:
        args.server_cpu = args.loadgen_cpu = None
    by_name = {k.name: k for k in SERVER_KINDS}
    kinds = []
    for name in args.kinds.split(","):
        if name in PENDING_KINDS:
            sys.exit(f"{name} is not available yet (issue 7): {PENDING_KINDS[name]}")
        if name not in by_name:
            sys.exit(f"unknown server kind {name!r}; known: {', '.join(by_name)}")
        kinds.append(by_name[name])
    if any(k.name == NODE for k in kinds):
        ensure_node()

    runs = {k.name: [] for k in kinds}
    started = time.time()
    for rep in range(args.reps):
        for k in kinds:
            t = time.monotonic()
            runs[k.name].append(measure(args, k, rep))
            r = runs[k.name][-1]
            shown = [f"bcast {fmt(r['broadcast']['deliveries_per_s'])}/s"
                     if "broadcast" in r else "",
                     f"echo {fmt(r['echo']['round_trips_per_s'])}/s p50 "
                     f"{fmt(r['echo']['p50_ms'])} p99 {fmt(r['echo']['p99_ms'])} ms"
                     if "echo" in r else "",
                     f"connect {fmt(r['connect']['connects_per_s'])}/s"
                     if "connect" in r else "",
                     f"rss/conn {fmt(r['idle']['rss_per_conn_kib'])} KiB" if "idle" in r else ""]
            print(f"rep {rep + 1}/{args.reps} {k.name:16s} "
                  + "  ".join(x for x in shown if x)
                  + f"  ({time.monotonic() - t:.0f} s)", flush=True)
    text, summary = table(args, kinds, runs)
    print(f"\nmedians of {args.reps} interleaved runs; server on cpu {args.server_cpu}, "
          f"load generator on cpu {args.loadgen_cpu}; x py / x node = this server's figure "
          f"divided by python-socketio's / Node's")
    print(text)
    report = {"started": started, "args": vars(args), "machine": machine(),
              "kinds": {k.name: k.label for k in kinds},
              "medians": summary, "runs": runs}
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "results.json"), "w") as f:
        json.dump(report, f, indent=1)
    print("json: " + json.dumps(report))


if __name__ == "__main__":
    main()
