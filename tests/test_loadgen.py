"""The C load generator of benchmarks/native_compare.py (benchmarks/loadgen),
built here with gcc, run briefly in each mode against a real fastsio server
under uvicorn: the JSON it prints must add up (every broadcast delivered to
every client, every echo acked with the data sent, pings answered, nothing
lost). This is also fastsio under a raw C websocket client: masked frames,
no extensions, Engine.IO / Socket.IO written by hand.

Speed is not asserted. `loadgen selftest` checks its codecs (frame parser fed
in every chunk size, fragmented messages with control frames between the
fragments, SHA-1 / accept key) without a network.
"""
import json
import subprocess
import time

import pytest

from benchmarks.native_compare import build_loadgen
from tests.conftest import ServerProcess

APP = "benchmarks.bench_app:app"


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory):
    return build_loadgen(str(tmp_path_factory.mktemp("loadgen") / "loadgen"))


@pytest.fixture(scope="module", params=["fastsio"])
def server(request):
    s = ServerProcess(request.param, APP)
    yield s
    s.stop()


def run(loadgen, server, *args, timeout=60):
    """Runs loadgen against server; returns (exit code, JSON lines, stderr)."""
    argv = [loadgen, *args]
    if server is not None:
        argv += ["--port", str(server.port)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, [json.loads(line) for line in p.stdout.splitlines()], p.stderr


def result_of(loadgen, server, *args):
    rc, lines, err = run(loadgen, server, *args)
    assert lines, err
    result = lines[-1]
    assert result["event"] == "result", lines
    assert rc == 0 and result["ok"], (result, err, server.output())
    assert result["errors"] == 0 and result["lost"] == 0 and result["mismatches"] == 0
    return lines, result


def test_selftest(loadgen):
    rc, lines, err = run(loadgen, None, "selftest")
    assert rc == 0, err
    assert lines == [{"event": "selftest", "checks": lines[0]["checks"], "failed": 0,
                      "ok": True}]
    assert lines[0]["checks"] > 200


@pytest.mark.parametrize("host", ["10.0.0.1", "192.168.1.1", "::2", "example.com"])
def test_refuses_other_than_loopback(loadgen, host):
    rc, lines, err = run(loadgen, None, "echo", "--host", host, "--port", "80")
    assert rc == 2 and lines == [] and "loopback" in err


def test_connect(loadgen, server):
    lines, r = result_of(loadgen, server, "connect", "-n", "20", "-c", "5")
    assert lines[0]["event"] == "start"
    assert r["mode"] == "connect" and r["connected"] == 20 and r["failed"] == 0
    assert r["connects_per_s"] > 0
    assert 0 < r["connect_p50_ms"] <= r["connect_p99_ms"] <= r["connect_max_ms"]
    # per client: the Engine.IO OPEN and the Socket.IO CONNECT answer, nothing else
    assert r["messages_in"] == 40


@pytest.mark.parametrize("size,count,threads", [(100, 20, 1), (100, 20, 2), (70000, 3, 1)],
                         ids=["small", "two-threads", "large-frames"])
def test_broadcast(loadgen, server, size, count, threads):
    lines, r = result_of(loadgen, server, "broadcast", "-n", "20", "-d", "1",
                         "--size", str(size), "--count", str(count), "-t", str(threads))
    assert [line["event"] for line in lines] == ["start", "result"]
    assert r["connected"] == 20 and r["threads"] == threads
    assert r["broadcasts"] > 0 and r["broadcasts"] == r["blasts"] * count
    assert r["deliveries"] == r["expected"] == r["broadcasts"] * 20
    assert r["min_per_client"] == r["max_per_client"] == r["broadcasts"]
    assert r["bad_blast_acks"] == 0
    # every tick carries its text: the bytes read cover size bytes per delivery
    assert r["bytes_in"] > r["deliveries"] * size
    assert r["deliveries_per_s"] > 0


def test_echo(loadgen, server):
    lines, r = result_of(loadgen, server, "echo", "-n", "20", "-d", "1", "--size", "300")
    assert [line["event"] for line in lines] == ["start", "result"]
    assert r["sent"] > 20 and r["acked"] == r["sent"]
    assert r["round_trips_per_s"] > 0
    assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"]


def test_idle_answers_pings_and_stops_on_stdin(loadgen):
    """fastsio pings every 0.2 s and gives up on a client after 0.3 s without a
    pong: 20 clients held for 1.5 s stay connected only if the load generator
    answers. The hold ends at a line on stdin, long before --duration."""
    s = ServerProcess("fastsio", "tests.apps.basic:app",
                      env={"APP_PING_INTERVAL": "0.2", "APP_PING_TIMEOUT": "0.3"})
    try:
        p = subprocess.Popen([loadgen, "idle", "--port", str(s.port), "-n", "20", "-d", "30",
                              "--hold-stdin"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            ready = json.loads(p.stdout.readline())
            assert ready["event"] == "ready" and ready["clients"] == 20
            time.sleep(1.5)
            t = time.monotonic()
            out, err = p.communicate("\n", timeout=20)
            released_in = time.monotonic() - t
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        r = json.loads(out.splitlines()[-1])
        assert p.returncode == 0 and r["ok"], (r, err, s.output())
        assert r["connected"] == 20 and r["lost"] == 0 and r["errors"] == 0
        assert r["pings"] >= 20 * 4     # 7 rounds in 1.5 s; some slack for a loaded machine
        assert 1.5 <= r["seconds"] < 10 and released_in < 10
    finally:
        s.stop()
