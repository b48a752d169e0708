"""Streamed chats through the real Open WebUI: python-socketio (as Open WebUI
ships) against fastsio (`python -m fastsio serve`, which merges each chat's
per-token `events` emits into one emit per 50 ms window), in this same run.

    python benchmarks/openwebui_stream.py [--chats 4] [--tokens 2000] [--rate 200]
                                          [--rounds 3] [--manager redis|memory]

Needs build/openwebui-venv (scripts/openwebui_env.sh), node, redis-server and
tests/js/node_modules (npm install --prefix tests/js).

Started once: tests/openwebui/fake_openai.py (one OpenAI-compatible server,
--tokens tokens per reply at --rate tokens/s), and two Open WebUI 0.12.4
instances (build/openwebui-venv), each with its own data directory and, with
--manager redis (the default), its own redis-server (WEBSOCKET_MANAGER=redis,
room channels on; separate servers so that one instance's publishes never
reach the other and the counts are per instance):
- fastsio: `python -m fastsio serve open_webui.main:app`;
- python-socketio: `python -m uvicorn open_webui.main:app` (unpatched).
On each: an admin signs up and adds --chats users (BYPASS_MODEL_ACCESS_CONTROL
=true so they may use the fake model). SQLite's busy timeout is raised to
60 s (DATABASE_SQLITE_PRAGMA_BUSY_TIMEOUT): with its 5 s default, 50 chats
created at once fail with "database is locked"; the client also retries a
POST that fails so (up to 3 times, counted as post_retries).

Then --rounds rounds, each running fastsio then python-socketio (A, B, A, B,
...). A run: benchmarks/openwebui_client.mjs (node, socket.io-client 4.8)
connects one socket per user (the frontend's handshake: user-join,
heartbeat), and once all are in, starts every user's chat at the same
moment (POST /api/chat/completions, session_id = that socket). Open WebUI
emits a chat's events to room user:<id>, so each socket receives exactly its
chat. Measured from the POSTs to the last chat's final `chat:completion`
{done: true} (+0.3 s), per chat:
- `events` emits received, and the Engine.IO packets' bytes (websocket
  payloads) and TCP bytes read by the client socket (the wire);
- Redis PUBLISHes (INFO commandstats: publish + spublish deltas of that
  instance's redis-server, divided by the chats) and all Redis commands;
- resume-buffer writes: Open WebUI 0.12.4 keeps a resumable copy of each
  streamed reply in Redis (open_webui/tasks.py, called by utils/middleware.py
  for every delta, whatever the socket layer): append_response_stream is one
  EVAL (strlen + append + expire) per delta, save_response_stream one SET of
  a full snapshot whenever the appended deltas outgrow it. Counted as EVAL +
  SET calls per chat (SET also counts Open WebUI's few other SETs, so this
  is an upper bound); without Redis (--manager memory) the buffer is an
  in-process dict and is not counted. Its emitter writes the database only
  for status/message/replace/embeds/files/source events, none of which a
  plain stream sends;
- server CPU (user+sys of the Open WebUI process group, /proc) per token,
  and the server's CPU share of one core over the window (near 100 %: the
  single-threaded server is saturated);
- time from the POST to the last delta and to the done event, against the
  ideal tokens/rate; "ideal met" when the slowest chat's done event came
  within 10 % + 0.5 s of it;
- the load generator's CPU (node client, fake OpenAI server, redis-server)
  and the machine's, so one sees what else was busy;
- whether every chat's text, rebuilt from its deltas and from its final
  snapshot the way the frontend does, is exactly the streamed text. A run
  whose text is wrong is reported as WRONG and the benchmark exits 1.

Prints a table of per-implementation medians over the rounds with the
fastsio/python-socketio ratios, then one JSON line (`json: {...}`) with every
figure. Everything is on loopback and bounded in time; every process started
here is stopped on exit (exceptions and Ctrl-C included). A 2-core machine
is easily saturated by Open WebUI's own per-token Python (middleware), so
the default is --chats 4 (800 tokens/s in all: python-socketio's Open WebUI
then uses ~80 % of a core; at --chats 10 both are saturated); --chats 50
runs too, and the output says whether the ideal duration was met.
"""
import argparse
import concurrent.futures
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.cpu import CLK_TCK, machine_cpu, proc_cpu  # noqa: E402
from tests.conftest import RedisServer  # noqa: E402
from tests.openwebui import owui  # noqa: E402
from tests.openwebui.fake_openai import MODEL_ID, expected_text  # noqa: E402

CLIENT = os.path.join(ROOT, "benchmarks", "openwebui_client.mjs")
IMPLS = ("fastsio", "python-socketio")
PASSWORD = "bench-Passw0rd!"


def group_cpu(pgid):
    """utime + stime of every live process in process group `pgid`."""
    total = 0.0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def redis_calls(redis_srv):
    """{command: calls} from INFO commandstats."""
    if redis_srv is None:
        return {}
    stats = redis_srv.client().info("commandstats")
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Instance:
    """One Open WebUI (fastsio or python-socketio) with its redis-server and
    --chats users."""

    def __init__(self, impl, args, fake, tmp):
        self.impl = impl
        self.redis = RedisServer() if args.manager == "redis" else None
        self.webui = None
        try:
            self._start(impl, args, fake, tmp)
        except BaseException:
            self.stop()
            raise

    def _start(self, impl, args, fake, tmp):
        data = os.path.join(tmp, impl)
        os.makedirs(data)
        self.webui = owui.OpenWebUI(
            served=impl == "fastsio", data_dir=data, openai_url=fake.url,
            redis_url=self.redis.url if self.redis else None, room_channels=True,
            extra_env={"BYPASS_MODEL_ACCESS_CONTROL": "true", "GLOBAL_LOG_LEVEL": "WARNING",
                       # 50 chats created at once on SQLite outwait its 5 s default
                       "DATABASE_SQLITE_PRAGMA_BUSY_TIMEOUT": "60000"})
        if self.webui.uses_fastsio_core() != (impl == "fastsio"):
            raise RuntimeError(f"{impl}: fastsio's _core is {'' if impl != 'fastsio' else 'not '}"
                               f"mapped into the Open WebUI process")
        admin = self.webui.signup("Admin", "admin@example.com", PASSWORD)
        self.users = []
        for i in range(args.chats):
            u = self.webui.request("POST", "/api/v1/auths/add", {
                "name": f"user{i}", "email": f"user{i}@example.com", "password": PASSWORD,
                "role": "user"}, token=admin["token"], timeout=60)
            self.users.append({"name": u["name"], "token": u["token"]})

    def stop(self):
        if self.webui:
            self.webui.stop()
        if self.redis:
            self.redis.stop()


def run_once(inst, args, fake, expected, tmp):
    """One round on one instance: returns the figures of that run."""
    ideal = args.tokens / args.rate if args.rate > 0 else 0.0
    # a saturated server streams at its own pace: allow ~3 ms of it per token
    chat_timeout = max(ideal * 4, args.chats * args.tokens * 0.003) + 60
    config = {"url": inst.webui.url, "model": MODEL_ID,
              "prompt": f"Stream please. tokens={args.tokens} rate={args.rate}",
              "expected": expected, "users": inst.users,
              "chatTimeoutMs": int(chat_timeout * 1000),
              "limitMs": int((chat_timeout + 90) * 1000)}
    path = os.path.join(tmp, f"client-{inst.impl}.json")
    with open(path, "w") as f:
        json.dump(config, f)
    node = subprocess.Popen([shutil.which("node"), CLIENT, path], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + chat_timeout + 90

    def line(want):
        # readline blocks; the client exits itself past limitMs, and
        # communicate() below is bounded too
        got = node.stdout.readline().strip()
        if got != want or time.monotonic() > deadline:
            try:
                out, err = node.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                out, err = node.communicate()
            raise RuntimeError(f"{inst.impl}: client said {got!r} (wanted {want!r}), exit "
                               f"{node.returncode}\nstderr:\n{err[-4000:]}\nstdout:\n{out[-2000:]}\n"
                               f"server log:\n{inst.webui.output()[-4000:]}")

    try:
        line("ready")
        srv_pgid = inst.webui.pid
        before = dict(server=group_cpu(srv_pgid), fake=proc_cpu(fake.pid),
                      client=proc_cpu(node.pid),
                      redis=proc_cpu(inst.redis.proc.pid) if inst.redis else 0.0,
                      machine=machine_cpu())
        calls0 = redis_calls(inst.redis)
        t0 = time.monotonic()
        node.stdin.write("go\n")
        node.stdin.flush()
        line("finished")
        wall = time.monotonic() - t0
        after = dict(server=group_cpu(srv_pgid), fake=proc_cpu(fake.pid),
                     client=proc_cpu(node.pid),
                     redis=proc_cpu(inst.redis.proc.pid) if inst.redis else 0.0,
                     machine=machine_cpu())
        calls1 = redis_calls(inst.redis)
        node.stdin.write("report\n")
        node.stdin.flush()
        out, err = node.communicate(timeout=30)
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()
    if node.returncode != 0:
        raise RuntimeError(f"{inst.impl}: client exited {node.returncode}\n{err[-4000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    cpu = {k: after[k] - before[k] for k in before}
    # the INFO call itself shows up once in commandstats
    calls = {k: calls1.get(k, 0) - calls0.get(k, 0) for k in calls1}
    calls["info"] = calls.get("info", 0) - 1
    chats = result["chats"]
    n = len(chats)
    total_tokens = args.tokens * n
    wrong = [c["user"] for c in chats
             if not (c["done"] and c["deltaTextOk"] and c["snapshotTextOk"])]
    done_s = [c["doneMs"] / 1000 for c in chats if c["doneMs"] is not None]
    publishes = calls.get("publish", 0) + calls.get("spublish", 0)
    return {
        "impl": inst.impl,
        "chats": n,
        "wall_s": wall,
        "correct": not wrong,
        "wrong_chats": wrong,
        "post_retries": sum(c["postRetries"] for c in chats),
        "events_per_chat": median([c["events"] for c in chats]),
        "delta_events_per_chat": median([c["deltaEvents"] for c in chats]),
        "payload_bytes_per_chat": median([c["payloadBytes"] for c in chats]),
        "wire_bytes_per_chat": median([c["wireBytes"] for c in chats]),
        "ws_extensions": result["extensions"],
        "redis_publish_per_chat": publishes / n if inst.redis else None,
        "redis_commands_per_chat": sum(calls.values()) / n if inst.redis else None,
        "redis_top_commands_per_chat": {k: v / n for k, v in sorted(
            calls.items(), key=lambda kv: -kv[1])[:8] if v > 0} if inst.redis else None,
        "resume_buffer_writes_per_chat": ((calls.get("eval", 0) + calls.get("evalsha", 0)
                                           + calls.get("set", 0)) / n) if inst.redis else None,
        "resume_buffer_appends_per_chat": ((calls.get("eval", 0) + calls.get("evalsha", 0)) / n
                                           if inst.redis else None),
        "server_cpu_s": cpu["server"],
        "server_cpu_us_per_token": cpu["server"] / total_tokens * 1e6,
        "server_core_share": cpu["server"] / wall,
        "client_cpu_s": cpu["client"],
        "fake_openai_cpu_s": cpu["fake"],
        "redis_cpu_s": cpu["redis"],
        "machine_cpu_s": cpu["machine"],
        "other_cpu_s": cpu["machine"] - cpu["server"] - cpu["client"] - cpu["fake"] - cpu["redis"],
        "ideal_s": ideal,
        "done_s_median": median(done_s),
        "done_s_max": max(done_s) if done_s else None,
        "last_delta_s_median": median([c["lastDeltaMs"] / 1000 for c in chats
                                       if c["lastDeltaMs"] is not None]),
        "first_event_s_median": median([c["firstEventMs"] / 1000 for c in chats
                                        if c["firstEventMs"] is not None]),
        "ideal_met": bool(done_s) and max(done_s) <= ideal * 1.1 + 0.5,
        "types_first_chat": chats[0]["types"] if chats else {},
    }


ROWS = [
    # (label, key, format)
    ("events emits / chat", "events_per_chat", "{:.0f}"),
    ("  of which deltas", "delta_events_per_chat", "{:.0f}"),
    ("websocket payload bytes / chat", "payload_bytes_per_chat", "{:,.0f}"),
    ("TCP bytes read / chat", "wire_bytes_per_chat", "{:,.0f}"),
    ("Redis PUBLISH / chat", "redis_publish_per_chat", "{:.1f}"),
    ("Redis commands / chat", "redis_commands_per_chat", "{:.1f}"),
    ("resume-buffer writes / chat (<=)", "resume_buffer_writes_per_chat", "{:.1f}"),
    ("  of which appends (EVAL)", "resume_buffer_appends_per_chat", "{:.1f}"),
    ("server CPU us / token", "server_cpu_us_per_token", "{:.1f}"),
    ("server CPU s", "server_cpu_s", "{:.2f}"),
    ("server share of a core", "server_core_share", "{:.0%}"),
    ("client (node) CPU s", "client_cpu_s", "{:.2f}"),
    ("fake OpenAI CPU s", "fake_openai_cpu_s", "{:.2f}"),
    ("redis-server CPU s", "redis_cpu_s", "{:.2f}"),
    ("rest of machine CPU s", "other_cpu_s", "{:.2f}"),
    ("window (POSTs to last done) s", "wall_s", "{:.2f}"),
    ("first event s (median)", "first_event_s_median", "{:.2f}"),
    ("last delta s (median)", "last_delta_s_median", "{:.2f}"),
    ("done s (median)", "done_s_median", "{:.2f}"),
    ("done s (slowest chat)", "done_s_max", "{:.2f}"),
]


def summarize(runs, args):
    summary = {}
    for impl in IMPLS:
        mine = [r for r in runs if r["impl"] == impl]
        summary[impl] = {key: median([r[key] for r in mine]) for _, key, _ in ROWS}
        summary[impl]["rounds"] = len(mine)
        summary[impl]["correct_rounds"] = sum(r["correct"] for r in mine)
        summary[impl]["ideal_met_rounds"] = sum(r["ideal_met"] for r in mine)
    ratios = {}
    for _, key, _ in ROWS:
        a, b = summary["fastsio"][key], summary["python-socketio"][key]
        ratios[key] = (a / b) if a is not None and b else None
    return summary, ratios


def print_table(summary, ratios, args, runs):
    ideal = args.tokens / args.rate if args.rate > 0 else 0.0
    print(f"\n{args.chats} concurrent chats x {args.tokens} tokens at {args.rate:g} tokens/s "
          f"(ideal {ideal:.1f} s per chat, {args.chats * args.rate:,.0f} tokens/s in all), "
          f"manager={args.manager}, medians of {args.rounds} round(s), {os.cpu_count()} cores")
    w = max(len(r[0]) for r in ROWS) + 2
    print(f"{'':{w}}{'python-socketio':>16}{'fastsio':>16}{'fastsio/psio':>14}")
    for label, key, fmt in ROWS:
        cells = []
        for impl in ("python-socketio", "fastsio"):
            v = summary[impl][key]
            cells.append(f"{'-' if v is None else fmt.format(v):>16}")
        r = ratios[key]
        print(f"{label:{w}}{''.join(cells)}{'-' if r is None else f'{r:.3f}':>14}")
    print("resume-buffer writes: Open WebUI's own Redis copy of each reply (tasks.py): one EVAL "
          "append per delta + SET snapshots (SET includes a few other keys)")
    for impl in ("python-socketio", "fastsio"):
        last = [r for r in runs if r["impl"] == impl][-1]
        if last["redis_top_commands_per_chat"]:
            print(f"{impl} Redis commands / chat (last round): " + ", ".join(
                f"{k} {v:.0f}" for k, v in last["redis_top_commands_per_chat"].items()))
    for impl in ("python-socketio", "fastsio"):
        s = summary[impl]
        print(f"{impl}: text correct in {s['correct_rounds']}/{s['rounds']} rounds; "
              f"ideal duration met (slowest chat within 10 % + 0.5 s of {ideal:.1f} s) in "
              f"{s['ideal_met_rounds']}/{s['rounds']} rounds")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--manager", choices=("redis", "memory"), default="redis")
    args = parser.parse_args(argv)
    problem = owui.venv_problem()
    if problem:
        sys.exit(problem)
    if args.manager == "redis" and not shutil.which("redis-server"):
        sys.exit("redis-server is not on PATH")

    # SIGTERM as Ctrl-C, so that the finally below stops everything
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    started = []
    runs = []
    expected = expected_text(args.tokens)
    t_start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="fastsio-owui-bench-")
    try:
        fake = owui.FakeOpenAI(tokens=args.tokens, rate=args.rate)
        started.append(fake)
        # both instances start (and sign their users up) at the same time
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            futures = {impl: pool.submit(Instance, impl, args, fake, tmp) for impl in IMPLS}
            errors = []
            instances = {}
            for impl, fut in futures.items():
                try:
                    instances[impl] = fut.result(timeout=owui.START_TIMEOUT + 120)
                    started.append(instances[impl])
                except Exception as exc:    # noqa: BLE001 - reported below
                    errors.append(f"{impl}: {exc}")
            if errors:
                raise RuntimeError("\n".join(errors))
        print(f"started in {time.monotonic() - t_start:.0f} s: fake OpenAI, "
              + ", ".join(f"{i} on :{instances[i].webui.port}" for i in IMPLS), flush=True)
        for rnd in range(args.rounds):
            for impl in IMPLS:
                r = run_once(instances[impl], args, fake, expected, tmp)
                runs.append(r | {"round": rnd})
                print(f"round {rnd + 1} {impl:>15}: {r['events_per_chat']:.0f} events/chat, "
                      f"{r['payload_bytes_per_chat']:,.0f} B/chat, "
                      f"publish/chat {r['redis_publish_per_chat']}, "
                      f"server {r['server_cpu_us_per_token']:.1f} us/token "
                      f"({r['server_core_share']:.0%} of a core), done max {r['done_s_max']:.2f} s"
                      f" (ideal {r['ideal_s']:.1f}{'' if r['ideal_met'] else ', NOT met'}), "
                      f"client {r['client_cpu_s']:.2f} s, fake {r['fake_openai_cpu_s']:.2f} s"
                      + ("" if r["correct"] else f", WRONG TEXT in {r['wrong_chats']}"),
                      flush=True)
    finally:
        for p in reversed(started):
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    summary, ratios = summarize(runs, args)
    print_table(summary, ratios, args, runs)
    wrong = [r for r in runs if not r["correct"]]
    if wrong:
        print(f"WRONG: {len(wrong)} run(s) delivered a text that is not the streamed one: "
              + "; ".join(f"{r['impl']} round {r['round'] + 1}: {r['wrong_chats']}" for r in wrong))
    print("json: " + json.dumps({
        "benchmark": "openwebui_stream", "openwebui": owui.OPENWEBUI_VERSION,
        "chats": args.chats, "tokens": args.tokens, "rate": args.rate, "rounds": args.rounds,
        "manager": args.manager, "cores": os.cpu_count(),
        "medians": summary, "ratios_fastsio_over_python_socketio": ratios, "runs": runs,
        "correct": not wrong, "total_s": round(time.monotonic() - t_start, 1)}))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
