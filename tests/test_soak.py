"""The soak benchmark's short configuration (benchmarks/soak.py --ci) as a test.

A real uvicorn process serves benchmarks/soak_app.py; waves of raw clients in
separate processes (websocket, polling, polling upgraded to websocket) join
rooms in two namespaces, emit acked text and binary events while the server
broadcasts, then die cleanly, by TCP close without Engine.IO CLOSE, by RST, in
the middle of a websocket frame or of a POST body, or by no longer reading.

Checked here, because they cannot flake: after each wave every session is
closed (the stalled ones by the ping timeout, while they still hold their
sockets), then the server has no session, hub connection, room, pending
binary packet or extra task left and its fd count is back to the baseline; no
ack is wrong; the server still answers a new websocket and polling client
afterwards; its log has no traceback and no sanitizer report. RSS figures
are printed, not asserted (ASan keeps freed memory in quarantine; allocators
keep arenas). The test id contains "fastsio", so scripts/test.sh runs it again
against the ASan/UBSan build.
"""
from benchmarks import soak
from tests.conftest import FASTSIO_WS


def test_soak_fastsio_ci():
    # websockets on uvicorn's layer, or adopted by the native transport in the
    # pass that sets FASTSIO_TEST_WS
    report = soak.run(dict(soak.CI), ws=FASTSIO_WS)
    assert report["problems"] == [], "\n".join(report["problems"])
    assert len(report["rows"]) == soak.CI["waves"]
    waves = [report["warmup"]] + report["rows"]
    for row in waves:
        # the clients did reach the server and live long enough to talk
        assert row["connected"] == row["clients"], row["connect_errors"]
        assert row["sessions_peak"] > 0 and row["acks_ok"] > 0, row
        assert row["after"]["sessions"] == row["after"]["conns"] == 0, row["after"]
        assert row["after"]["rooms"] == 0, row["after"]
    for row in report["rows"]:
        assert row["fds_after"] <= report["baseline"]["fds"], row
    assert report["probe"] is None
    assert report["log_problems"] == []
