"""`python -m fastsio serve-native` / `sio.serve_native`: a fastsio
AsyncServer on a port of its own (fastsio/standalone.py), under real
processes and python-socketio's AsyncClient.

- plain TCP: websocket-only, polling-only and polling-then-upgraded clients
  on one server; one broadcast reaches all three; both websockets are on the
  native transport (its counters), whose C thread runs on libev;
- --path: the server answers there, 404 elsewhere (403 for a websocket);
- TLS (--ssl-cert/--ssl-key): polling and websockets over https/wss, the
  websocket on uvicorn's implementation (documented: uvicorn holds the TLS
  state);
- SIGTERM with clients connected: the disconnect handlers run, the process
  ends;
- the command's refusals: not an AsyncServer, a missing certificate file.
"""
import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import socketio
import websockets
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import ROOT

APP = "tests.apps.standalone_app:sio"


async def connect(url, transports, path="socket.io", **kw):
    client = socketio.AsyncClient(reconnection=False, **kw)
    got = asyncio.Queue()
    client.on("shout", lambda data: got.put_nowait(data))
    await client.connect(url, socketio_path=path, transports=transports)
    return client, got


async def upgraded(client):
    for _ in range(100):
        if client.transport() == "websocket":
            return True
        await asyncio.sleep(0.05)
    return False


async def test_transports_and_one_broadcast(start_server):
    server = start_server("fastsio", APP, standalone=[])
    ws, got_ws = await connect(server.url, ["websocket"])
    poll, got_poll = await connect(server.url, ["polling"])
    up, got_up = await connect(server.url, ["polling", "websocket"])
    try:
        assert await upgraded(up)
        assert await ws.call("echo", {"k": [1, "v"]}, timeout=5) == {"k": [1, "v"]}
        assert await poll.call("echo", b"\x00\x01", timeout=5) == b"\x00\x01"
        assert await up.call("shout", "to all", timeout=5) == "ok"
        for got in (got_ws, got_poll, got_up):
            assert await asyncio.wait_for(got.get(), 5) == "to all"
        info = await ws.call("info", timeout=5)
        assert info["scheme"] == "ws" and info["transport"] == "websocket"
        assert info["stats"]["adopted"] == 2 and info["stats"]["open"] == 2, info
        # libev by default (libwebsockets-dev brings its lws plugin), unless forced
        assert info["stats"]["event_loop"] == os.environ.get("FASTSIO_LWS_LOOP", "ev"), info
        assert (await poll.call("info", timeout=5))["transport"] == "polling"
    finally:
        for c in (ws, poll, up):
            await c.disconnect()


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


async def test_path(start_server):
    server = start_server("fastsio", APP, standalone=["--path", "/rt/"])
    assert status_of(f"{server.url}/rt/?EIO=4&transport=polling") == 200
    assert status_of(f"{server.url}/socket.io/?EIO=4&transport=polling") == 404
    assert status_of(f"{server.url}/") == 404
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with ws_connect(f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4"
                              "&transport=websocket"):
            pass
    assert refused.value.response.status_code == 403
    client, _ = await connect(server.url, ["polling", "websocket"], path="/rt")
    try:
        assert await upgraded(client)
        info = await client.call("info", timeout=5)
        assert info["path"] == "/rt/" and info["stats"]["adopted"] == 1, info
    finally:
        await client.disconnect()


async def test_tls(start_server, self_signed_cert):
    cert, key = self_signed_cert
    server = start_server("fastsio", APP, standalone=["--ssl-cert", cert, "--ssl-key", key])
    url = f"https://127.0.0.1:{server.port}"
    ws, got_ws = await connect(url, ["websocket"], ssl_verify=False)
    up, got_up = await connect(url, ["polling", "websocket"], ssl_verify=False)
    try:
        assert await upgraded(up)
        assert await ws.call("echo", "over tls", timeout=5) == "over tls"
        assert await up.call("shout", "tls all", timeout=5) == "ok"
        for got in (got_ws, got_up):
            assert await asyncio.wait_for(got.get(), 5) == "tls all"
        info = await ws.call("info", timeout=5)
        assert info["scheme"] == "wss" and info["transport"] == "websocket"
        assert info["stats"] is None   # TLS websockets stay on uvicorn's implementation
    finally:
        for c in (ws, up):
            await c.disconnect()


async def test_sigterm_with_clients(start_server):
    server = start_server("fastsio", APP, standalone=[])
    clients, gone = [], []
    for transports in (["websocket"], ["polling", "websocket"], ["polling"]):
        client, _ = await connect(server.url, transports)
        ev = asyncio.Event()
        client.on("disconnect", lambda *a, ev=ev: ev.set())
        clients.append(client)
        gone.append(ev)
    assert await upgraded(clients[1])
    sids = [c.get_sid("/") for c in clients]
    server.proc.terminate()
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in gone[:2])), 5)
    rc = await asyncio.get_running_loop().run_in_executor(None, server.proc.wait, 10)
    assert rc in (0, -15)   # uvicorn re-raises the signal once it has shut down
    out = server.output()
    for sid in sids:
        assert f"disconnect handler: {sid} server disconnect" in out, out
    assert "Traceback" not in out, out
    for c in clients:
        await c.disconnect()


@pytest.mark.parametrize("args, message", [
    (["tests.apps.native_app:app"], "is a FastAPI, not a fastsio AsyncServer"),
    ([APP, "--ssl-cert", "/nonexistent/cert.pem"], "ssl_cert: no such file"),
    (["tests.apps.no_such_module:sio"], "Could not import module"),
])
def test_refusals(args, message):
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "fastsio", "serve-native", *args, "--port", "1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "FASTSIO_TEST_IMPL": "fastsio",
                            "PYTHONPATH": f"{ROOT}:{ROOT}/python"})
    assert r.returncode == 1 and message in r.stderr, (r.returncode, r.stderr)
    assert time.monotonic() - started < 60
