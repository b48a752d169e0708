"""fastsio.uvicorn:WebSocketProtocol under real uvicorn processes.

- Every websocket it does not claim is uvicorn's own: a FastAPI websocket route
  (tests/apps/native_app.py) behaves the same with the class as with
  `--ws websockets`, for each fallback; polling and polling->websocket upgrades
  of the mounted fastsio app keep working; TLS stays on uvicorn.
- The fastsio.adopt contract without the engine (tests/apps/adopt_app.py, raw
  sockets): take() hands over a socket the client saw nothing on, refusals
  are answered as uvicorn answers them, the scope is uvicorn's, a lost client
  is reported, uvicorn's shutdown does not wait for adopted sockets and
  answers pending claims, and `python -m fastsio serve` sets the class.
- End to end with the native engine: python-socketio's AsyncClient over
  websocket only reaches the mounted app through the C thread (native_stats
  counts it), acks, broadcasts, the connect handler's scope, CORS refusals.
"""
import asyncio
import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import socketio
import websockets
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import ROOT, ServerProcess

NATIVE = "fastsio.uvicorn:WebSocketProtocol"
NATIVE_APP = "tests.apps.native_app:app"
ADOPT_APP = "tests.apps.adopt_app:app"
KEY = base64.b64encode(b"0123456789abcdef").decode()


# ------------------------------------------------------------------ helpers

def http_get(server, path):
    with urllib.request.urlopen(server.url + path, timeout=5) as r:
        return json.loads(r.read())


def upgrade_head(target, extra=()):
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}",
             "Sec-WebSocket-Version: 13", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def uvicorn_head(head):
    """The head as uvicorn rebuilds it for the websocket protocol: header names
    lowercased, values and order kept."""
    first, *rest = head.decode().split("\r\n")
    out = [first]
    for line in rest:
        if line:
            name, _, value = line.partition(": ")
            out.append(f"{name.lower()}: {value}")
    return ("\r\n".join(out) + "\r\n\r\n").encode()


def read_all(sock, timeout=5.0):
    """Everything until EOF (failing after timeout)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def raw_request(port, target, extra=()):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(upgrade_head(target, extra))
        return read_all(s)


def without_date(answer):
    return b"\r\n".join(line for line in answer.split(b"\r\n")
                        if not line.lower().startswith(b"date:"))


def scope_of(port, target, extra=()):
    """adopt_app's mode=scope answer: the scope the app saw, as JSON."""
    answer = raw_request(port, target, extra)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), answer
    return json.loads(body)


def stop_and_time(server, limit):
    """SIGTERM; seconds until the process exited (killed past limit)."""
    start = time.monotonic()
    server.proc.terminate()
    try:
        server.proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    return time.monotonic() - start


class ServeDefault(ServerProcess):
    """`python -m fastsio serve APP` with no --ws (ServerProcess always passes one)."""

    def __init__(self, app, serve_args=()):
        from tests.conftest import PACKAGE_DIR, free_port
        self.impl = "fastsio"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env["FASTSIO_TEST_IMPL"] = "fastsio"
        env["PYTHONPATH"] = os.pathsep.join([ROOT, PACKAGE_DIR, env.get("PYTHONPATH", "")])
        self.log_path = os.path.join(ROOT, "build", "test-logs",
                                     f"serve-default-{self.port}.log")
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fastsio", "serve", app, "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning", *serve_args],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()


@pytest.fixture
def serve_default():
    started = []

    def start(app, serve_args=()):
        s = ServeDefault(app, serve_args)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


# ------------------------------------ (a) other websocket routes stay uvicorn's

async def echo_transcript(server):
    """What a websockets client sees on /ws/echo, and the close codes the route saw."""
    base = f"ws://127.0.0.1:{server.port}"
    out = []
    # a query that would be claimed on the socket.io path: /ws/echo is not one
    async with ws_connect(base + "/ws/echo?EIO=4&transport=websocket",
                          subprotocols=["chat", "other"]) as ws:
        out.append(("subprotocol", ws.subprotocol))
        await ws.send("hello")
        out.append(("text", await asyncio.wait_for(ws.recv(), 5)))
        await ws.send(b"\x00\x01\xff")
        out.append(("bytes", await asyncio.wait_for(ws.recv(), 5)))
        await ws.send("x" * 70000)
        out.append(("long", len(await asyncio.wait_for(ws.recv(), 5))))
        await ws.send("close:4001")
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        out.append(("server close", ws.close_code, ws.close_reason))
    async with ws_connect(base + "/ws/echo") as ws:
        await ws.send("one")
        out.append(("text", await asyncio.wait_for(ws.recv(), 5)))
        await ws.close(code=4002, reason="client says bye")
    for _ in range(100):
        closes = http_get(server, "/echo_closes")
        if len(closes) == 1:
            break
        await asyncio.sleep(0.05)
    out.append(("route saw", closes))
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with ws_connect(base + "/no-such-route"):
            pass
    out.append(("no route", refused.value.response.status_code))
    return out


EXPECTED_ECHO = [
    ("subprotocol", "chat"),
    ("text", "echo:hello"),
    ("bytes", b"echo:\x00\x01\xff"),
    ("long", 70005),
    ("server close", 4001, "bye"),
    ("text", "echo:one"),
    ("route saw", [4002]),
    ("no route", 403),
]


@pytest.mark.parametrize("fallback", [None, "websockets", "wsproto"])
async def test_other_websocket_route_same_as_uvicorn(start_server, fallback):
    env = {"FASTSIO_WS_FALLBACK": fallback} if fallback else {}
    native = start_server("fastsio", NATIVE_APP, env=env, ws=NATIVE)
    reference = start_server("fastsio", NATIVE_APP, ws="websockets")
    got = await echo_transcript(native)
    assert got == await echo_transcript(reference)
    assert got == EXPECTED_ECHO
    assert http_get(native, "/native_stats") == {"stats": None}


def test_fallback_name_checked_at_start(start_server):
    with pytest.raises(RuntimeError, match="FASTSIO_WS_FALLBACK"):
        start_server("fastsio", NATIVE_APP, env={"FASTSIO_WS_FALLBACK": "nope"}, ws=NATIVE)


# --------------------------------- (b) polling and polling->websocket upgrade

async def test_polling_stays_and_upgrade_is_adopted(start_server):
    """Long-polling stays on the ASGI path; the websocket of an upgrade from
    polling is adopted (the C thread answers the probe and takes the queue
    over at UPGRADE); both clients share the room table."""
    server = start_server("fastsio", NATIVE_APP, ws=NATIVE)
    clients = []
    try:
        for transports in (["polling"], ["polling", "websocket"], ["websocket"]):
            client = socketio.AsyncClient(reconnection=False)
            got = asyncio.Queue()
            client.on("shout", lambda data, got=got: got.put_nowait(data))
            await client.connect(server.url, socketio_path="/ws/socket.io",
                                 transports=transports)
            clients.append((client, got))
        upgraded = clients[1][0]
        for _ in range(100):
            if upgraded.transport() == "websocket":
                break
            await asyncio.sleep(0.05)
        assert upgraded.transport() == "websocket"
        assert await upgraded.call("transport", timeout=5) == "websocket"
        assert await clients[0][0].call("transport", timeout=5) == "polling"
        assert await upgraded.call("echo", {"n": [1, 2]}, timeout=5) == {"n": [1, 2]}
        assert await clients[0][0].call("shout", "all", timeout=5) == "ok"
        for _, got in clients:
            assert await asyncio.wait_for(got.get(), 5) == "all"
        assert await clients[2][0].call("transport", timeout=5) == "websocket"
        # two websockets, the upgrade's and the fresh one, both adopted; the
        # broadcast reached them and the polling client alike
        stats = http_get(server, "/native_stats")["stats"]
        assert stats["adopted"] == 2 and stats["open"] == 2, stats
    finally:
        for client, _ in clients:
            await client.disconnect()


# ------------------------------------------------------------ (c) TLS stays

async def test_tls_falls_back_to_uvicorn(start_server, self_signed_cert):
    cert, key = self_signed_cert
    server = start_server("fastsio", NATIVE_APP, ws=NATIVE,
                          serve_args=["--no-swap", "--ssl-keyfile", key, "--ssl-certfile", cert])
    url = f"https://127.0.0.1:{server.port}"
    client = socketio.AsyncClient(reconnection=False, ssl_verify=False)
    await client.connect(url, socketio_path="/ws/socket.io", transports=["websocket"])
    try:
        assert await client.call("echo", "over tls", timeout=5) == "over tls"
        scope = await client.call("scope", timeout=5)
        assert scope["scheme"] == "wss"
        assert scope["adopt_extension"] is False
    finally:
        await client.disconnect()


# ---------------------------------------- (d) the take() contract, no engine

@pytest.mark.parametrize("early", [b"", b"EARLY"])
def test_take_hands_over_a_silent_socket(start_server, early):
    """early: bytes the client sends after its head, before the app takes the
    socket (0.3 s later): take() returns them after the head."""
    server = start_server("fastsio", ADOPT_APP, ws=NATIVE)
    delay = "&delay=0.3" if early else ""
    head = upgrade_head(f"/adopt/?transport=websocket&mode=take{delay}")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(head)
        if early:
            time.sleep(0.1)
            s.sendall(early)
        # the app's thread writes 0.3 s after take(): until then the client
        # sees nothing (a FIN would read as b"", an RST as an error)
        s.settimeout(0.25)
        with pytest.raises(socket.timeout):
            s.recv(1)
        got = read_all(s)
    payload = (uvicorn_head(head) + early + b"|RuntimeError: fastsio.adopt: take() was already "
               b"called|websocket.disconnect")
    accept = base64.b64encode(
        hashlib.sha1(KEY.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    assert got == (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
                   + bytes([0x82, 126]) + len(payload).to_bytes(2, "big") + payload)
    assert "Error" not in server.output(), server.output()


@pytest.mark.parametrize("mode", ["close", "http", "raise", "return"])
def test_claimed_refusals_answered_as_uvicorn(start_server, mode):
    """The same app answers the same way, claimed (fastsio's class) or not
    (uvicorn's default websocket implementation), Date aside."""
    native = start_server("fastsio", ADOPT_APP, ws=NATIVE)
    reference = start_server("fastsio", ADOPT_APP, ws="websockets-sansio")
    target = f"/adopt/?transport=websocket&mode={mode}"
    got = raw_request(native.port, target)
    assert without_date(got) == without_date(raw_request(reference.port, target))
    status = {"close": b"403 Forbidden", "http": b"418 I'm a Teapot",
              "raise": b"500 Internal Server Error", "return": b"500 Internal Server Error"}
    assert got.startswith(b"HTTP/1.1 " + status[mode] + b"\r\n")
    if mode == "http":
        assert b"\r\nx-test: yes\r\n" in got and got.endswith(b'\r\n\r\n{"a":"b"}')
    if mode == "raise":
        assert "ValueError: app failure on purpose" in native.output()


def test_claimed_accept_answers_500(start_server):
    server = start_server("fastsio", ADOPT_APP, ws=NATIVE)
    got = raw_request(server.port, "/adopt/?transport=websocket&mode=accept&key=acc")
    assert got.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert got.endswith(b"\r\n\r\nInternal Server Error")
    assert http_get(server, "/report?key=acc") == {"accept": "ClientDisconnected"}
    assert ("the app accepted the websocket /adopt/?transport=websocket&mode=accept"
            in server.output())


def test_lost_before_take(start_server):
    server = start_server("fastsio", ADOPT_APP, ws=NATIVE)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(upgrade_head("/adopt/?transport=websocket&mode=lost&key=gone"))
        time.sleep(0.3)
        assert http_get(server, "/report?key=gone") is None   # still waiting
    for _ in range(100):
        report = http_get(server, "/report?key=gone")
        if report is not None:
            break
        time.sleep(0.05)
    assert report == {"event": {"type": "websocket.disconnect", "code": 1006},
                      "take": "RuntimeError: fastsio.adopt: the connection is lost"}


@pytest.mark.parametrize("reference_ws", ["websockets", "websockets-sansio"])
def test_scope_is_uvicorns(start_server, reference_ws):
    """Claimed or not, the app gets the same scope (client port and the extra
    extension aside), root_path, quoting and subprotocols included."""
    args = ["--no-swap", "--root-path", "/r"]
    native = start_server("fastsio", ADOPT_APP, ws=NATIVE, serve_args=args)
    reference = start_server("fastsio", ADOPT_APP, ws=reference_ws, serve_args=args)
    target = "/ad%6Fpt/?transport=websocket&mode=scope&x=%20y"
    extra = ["Sec-WebSocket-Protocol: one, two", "X-Custom: A b"]
    got = scope_of(native.port, target, extra)
    want = scope_of(reference.port, target, extra)
    assert got["extensions"] == ["fastsio.adopt", "websocket.http.response"]
    assert want["extensions"] == ["websocket.http.response"]
    assert got["server"] == ["127.0.0.1", native.port]
    assert want["server"] == ["127.0.0.1", reference.port]
    for scope in (got, want):
        del scope["extensions"], scope["server"]
        assert scope.pop("client")[0] == "127.0.0.1"
    assert got == want
    assert got["path"] == "/r/adopt/" and got["raw_path"] == "/r/ad%6Fpt/"
    assert got["root_path"] == "/r" and got["subprotocols"] == ["one", "two"]
    assert ["x-custom", "A b"] in got["headers"]


def test_what_is_not_claimed(start_server):
    server = start_server("fastsio", ADOPT_APP, ws=NATIVE)
    off = start_server("fastsio", ADOPT_APP, ws=NATIVE, env={"FASTSIO_NATIVE": "0"})

    def claimed(port, target, extra=()):
        return "fastsio.adopt" in scope_of(port, target, extra)["extensions"]

    assert claimed(server.port, "/adopt/?transport=websocket&mode=scope")
    assert claimed(server.port, "/adopt?EIO=4&mode=scope&transport=websocket")
    assert claimed(server.port, "/adopt/deeper?transport=websocket&mode=scope")
    # an upgrade from polling (with sid) is claimed too
    assert claimed(server.port, "/adopt/?transport=websocket&sid=abc&mode=scope")
    assert not claimed(server.port, "/adopt/?mode=scope")
    assert not claimed(server.port, "/adopt/?transport=polling&mode=scope")
    assert not claimed(server.port, "/adopted/?transport=websocket&mode=scope")
    assert not claimed(server.port, "/other/?transport=websocket&mode=scope")
    assert not claimed(off.port, "/adopt/?transport=websocket&mode=scope")
    # an invalid handshake is left to uvicorn, which answers it
    bad = raw_request(server.port, "/adopt/?transport=websocket&mode=scope",
                      ["Sec-WebSocket-Version: 8"])
    reference = start_server("fastsio", ADOPT_APP, ws="websockets-sansio")
    assert without_date(bad) == without_date(raw_request(
        reference.port, "/adopt/?transport=websocket&mode=scope", ["Sec-WebSocket-Version: 8"]))


def test_shutdown_skips_adopted_and_answers_pending(start_server):
    """An adopted socket is in no uvicorn set: SIGTERM does not wait for it.
    A claimed request not taken yet is answered 500 by uvicorn's shutdown."""
    server = start_server("fastsio", ADOPT_APP, ws=NATIVE)
    held = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    pending = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        held.sendall(upgrade_head("/adopt/?transport=websocket&mode=take_hold"))
        pending.sendall(upgrade_head("/adopt/?transport=websocket&mode=lost&key=p"))
        time.sleep(0.5)
        elapsed = stop_and_time(server, 10)
        answer = read_all(pending)
        assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n"), answer
        assert elapsed < 3, server.output()
        assert "Waiting for" not in server.output(), server.output()
    finally:
        held.close()
        pending.close()


def test_serve_sets_the_class_unless_ws_given(serve_default, start_server):
    target = "/adopt/?transport=websocket&mode=scope"
    for args in ([], ["--no-swap"]):
        server = serve_default(ADOPT_APP, args)
        assert "fastsio.adopt" in scope_of(server.port, target)["extensions"]
    explicit = start_server("fastsio", ADOPT_APP, ws="websockets", serve_args=[])
    assert "fastsio.adopt" not in scope_of(explicit.port, target)["extensions"]


# ---------------------------------------- end to end with the native engine

async def connect_native(server, **kw):
    client = socketio.AsyncClient(reconnection=False)
    got = asyncio.Queue()
    client.on("shout", lambda data: got.put_nowait(data))
    await client.connect(server.url, socketio_path="/ws/socket.io",
                         transports=["websocket"], **kw)
    return client, got


def comparable(scope):
    scope = dict(scope)
    scope["client"] = scope["client"][0]
    scope["server"] = scope["server"][0]
    scope["query_string"] = "&".join(p for p in scope["query_string"].split("&")
                                     if not p.startswith("t="))
    scope["headers"] = [h for h in scope["headers"] if h[0] not in ("sec-websocket-key", "host")]
    del scope["adopt_extension"]
    return scope


async def test_native_end_to_end(start_server):
    server = start_server("fastsio", NATIVE_APP, ws=NATIVE)
    reference = start_server("fastsio", NATIVE_APP, ws="websockets")
    a, got_a = await connect_native(server, headers={"X-Test": "native"})
    b, got_b = await connect_native(server)
    r, _ = await connect_native(reference, headers={"X-Test": "native"})
    try:
        assert await a.call("echo", {"k": ["v", 1]}, timeout=5) == {"k": ["v", 1]}
        assert await a.call("echo", b"\x00bin", timeout=5) == b"\x00bin"
        assert await b.call("shout", "to all", timeout=5) == "ok"
        assert await asyncio.wait_for(got_a.get(), 5) == "to all"
        assert await asyncio.wait_for(got_b.get(), 5) == "to all"
        stats = http_get(server, "/native_stats")["stats"]
        assert stats is not None and stats["adopted"] == 2, stats
        scope = await a.call("scope", timeout=5)
        assert scope["type"] == "websocket" and scope["scheme"] == "ws"
        assert scope["path"] == "/ws/socket.io/" and scope["root_path"] == "/ws"
        assert "EIO=4" in scope["query_string"]
        assert "transport=websocket" in scope["query_string"]
        assert ["x-test", "native"] in scope["headers"]
        assert scope["client"][0] == "127.0.0.1"
        assert scope["server"] == ["127.0.0.1", server.port]
        assert scope["app_is_app"] is True and scope["adopt_extension"] is True
        ref_scope = await r.call("scope", timeout=5)
        assert ref_scope["adopt_extension"] is False
        assert comparable(scope) == comparable(ref_scope)
        assert http_get(reference, "/native_stats") == {"stats": None}
    finally:
        for client in (a, b, r):
            await client.disconnect()


def test_native_cors_refusal_same_as_uvicorn(start_server):
    server = start_server("fastsio", NATIVE_APP, ws=NATIVE)
    reference = start_server("fastsio", NATIVE_APP, ws="websockets")
    target = "/ws/socket.io/?EIO=4&transport=websocket"
    origin = ["Origin: http://evil.test"]
    got = raw_request(server.port, target, origin)
    want = raw_request(reference.port, target, origin)
    status = got.split(b"\r\n", 1)[0]
    assert status == want.split(b"\r\n", 1)[0] == b"HTTP/1.1 403 Forbidden"
    assert got.partition(b"\r\n\r\n")[2] == want.partition(b"\r\n\r\n")[2]
    assert http_get(server, "/native_stats") == {"stats": None}
    # an allowed origin goes native
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(upgrade_head(target, ["Origin: http://ok.test"]))
        s.settimeout(5)
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 101 "), first
    for _ in range(100):
        stats = http_get(server, "/native_stats")["stats"]
        if stats and stats["adopted"] == 1:
            break
        time.sleep(0.05)
    assert stats["adopted"] == 1, stats


def without_sids(out):
    """A runner result with the random sids (out["ids"]) named by client, and
    the lists that held one sorted (the server orders rooms by name)."""
    names = {sid: f"<sid {name}>" for name, sid in (out.get("ids") or {}).items()}

    def walk(value):
        if isinstance(value, str):
            return names.get(value, value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            items = [walk(v) for v in value]
            if any(isinstance(v, str) and v in names for v in value):
                items.sort()
            return items
        return value
    return walk(out)


@pytest.mark.parametrize("name", ["echo", "binary", "ack", "rooms", "disconnect"])
def test_js_client_native_same_as_uvicorn(start_server, name):
    """The official socket.io-client over websocket only: the same observations
    through the native transport as through uvicorn's websocket."""
    from tests.test_js_client import run
    native = start_server("fastsio", "tests.apps.native_js_app:app", ws=NATIVE)
    reference = start_server("fastsio", "tests.apps.native_js_app:app", ws="websockets")
    got = without_sids(run(native, name, "websocket"))
    want = without_sids(run(reference, name, "websocket"))
    if "silentMs" in got:
        # a measured time (test_js_client.py bounds it): in range, not equal
        assert 900 <= got.pop("silentMs") < 4000 and 900 <= want.pop("silentMs") < 4000
    assert got == want
    stats = http_get(native, "/native_stats")["stats"]
    assert stats is not None and stats["adopted"] >= 1, stats
    assert http_get(reference, "/native_stats") == {"stats": None}


# ------------------------------------------------------------ uvloop

OWUI_PYTHON = os.path.join(ROOT, "build", "openwebui-venv", "bin", "python")


async def test_adoption_under_uvloop(start_server):
    """Open WebUI's own environment (build/openwebui-venv: uvicorn with uvloop,
    what `--loop auto` picks there) serving `python -m fastsio serve --loop
    uvloop`: fresh websockets and upgrades from polling are adopted from
    uvloop's transports as from asyncio's, and events and acks flow."""
    assert os.path.exists(OWUI_PYTHON), "scripts/openwebui_env.sh makes build/openwebui-venv"
    server = start_server("fastsio", NATIVE_APP, ws=NATIVE, python=OWUI_PYTHON,
                          serve_args=["--no-swap", "--loop", "uvloop"])
    assert http_get(server, "/loop") == {"loop": "uvloop"}
    clients = []
    try:
        for transports in (["websocket"], ["polling", "websocket"]):
            client = socketio.AsyncClient(reconnection=False)
            await client.connect(server.url, socketio_path="/ws/socket.io",
                                 transports=transports)
            clients.append(client)
        for _ in range(100):
            if clients[1].transport() == "websocket":
                break
            await asyncio.sleep(0.05)
        assert clients[1].transport() == "websocket"
        for n, client in enumerate(clients):
            assert await client.call("echo", {"n": n, "text": "é" * 2000}, timeout=5) == \
                {"n": n, "text": "é" * 2000}
    finally:
        for client in clients:
            await client.disconnect()
    stats = http_get(server, "/native_stats")["stats"]
    assert stats["adopted"] == 2, stats


# ------------------------------------------------------------ permessage-deflate

@pytest.mark.parametrize("deflate", [True, False], ids=["uvicorn-deflate-on", "uvicorn-deflate-off"])
async def test_permessage_deflate_follows_uvicorn(deflate, start_server):
    """The native transport offers permessage-deflate as uvicorn's
    --ws-per-message-deflate says (on by default), answered with both
    no_context_takeover parameters: a client that offers it sends compressed
    messages, which the transport inflates itself, and gets frames of 1024
    bytes and more compressed, smaller ones plain (docs/native-deflate.md).
    With the option off, the same client talks plain."""
    serve = ["--no-swap"] + ([] if deflate else ["--ws-per-message-deflate", "false"])
    server = start_server("fastsio", NATIVE_APP, ws=NATIVE, serve_args=serve)
    url = (f"ws://127.0.0.1:{server.port}/ws/socket.io/?EIO=4&transport=websocket")
    big = "é" * 3000 + "x" * 3000
    async with ws_connect(url, compression="deflate") as ws:
        assert (await ws.recv()).startswith("0{")
        await ws.send("40")
        assert (await ws.recv()).startswith("40{")
        for n in range(3):   # each message inflates alone: no context kept
            await ws.send("42%d" % n + json.dumps(["echo", big[n:]]))
            assert json.loads((await ws.recv())[3:]) == [big[n:]]
        await ws.send('425["echo","small"]')
        assert json.loads((await ws.recv())[3:]) == ["small"]
        answer = ws.response.headers.get("Sec-WebSocket-Extensions")
    stats = http_get(server, "/native_stats")["stats"]
    assert stats["adopted"] == 1, stats
    if deflate:
        assert answer == ("permessage-deflate; server_no_context_takeover; "
                          "client_no_context_takeover"), answer
        # the client compresses every message it sends; the server the
        # three large acks only
        assert stats["inflated"] >= 4 and stats["deflated"] == 3, stats
    else:
        assert answer is None
        assert stats["inflated"] == 0 and stats["deflated"] == 0, stats


# ------------------------------------------------------------ shutdown

async def test_shutdown_with_native_clients(start_server):
    """SIGTERM with native websocket clients (fresh and upgraded) and a polling
    one connected: every websocket is closed by the server within uvicorn's
    shutdown (the clients see their disconnect at once, not after a ping
    timeout), each session's disconnect handler runs, and the process ends."""
    server = start_server("fastsio", NATIVE_APP, ws=NATIVE)
    clients, gone = [], {}
    for n, transports in enumerate((["websocket"], ["websocket"], ["polling", "websocket"])):
        client = socketio.AsyncClient(reconnection=False)
        gone[n] = asyncio.Event()
        client.on("disconnect", lambda *a, n=n: gone[n].set())
        await client.connect(server.url, socketio_path="/ws/socket.io", transports=transports)
        clients.append(client)
    for _ in range(100):
        if clients[2].transport() == "websocket":
            break
        await asyncio.sleep(0.05)
    assert clients[2].transport() == "websocket"
    sids = [await c.call("scope", timeout=5) and c.get_sid("/") for c in clients]
    stats = http_get(server, "/native_stats")["stats"]
    assert stats["adopted"] == 3 and stats["open"] == 3, stats
    started = time.monotonic()
    server.proc.terminate()
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in gone.values())), 5)
    assert time.monotonic() - started < 3
    assert await asyncio.get_running_loop().run_in_executor(None, server.proc.wait, 10) is not None
    out = server.output()
    for sid in sids:
        assert f"disconnect handler: {sid} server disconnect" in out, out
    assert "Traceback" not in out, out
    for c in clients:
        await c.disconnect()


async def test_handlers_run_in_tasks_of_their_own(start_server):
    """Connect and event handlers run in a task of their own on the native
    transport as on uvicorn's websocket: asyncio.timeout (which cancels the
    current task) works in both, and a timed-out handler leaves the
    connection alive."""
    for ws in (NATIVE, "websockets"):
        server = start_server("fastsio", NATIVE_APP, ws=ws)
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(server.url, socketio_path="/ws/socket.io",
                             transports=["websocket"])
        try:
            assert await client.call("timed", 1.0, timeout=5) == "timeout"
            assert await client.call("timed", 0, timeout=5) == "done"
            assert await client.call("echo", "still here", timeout=5) == "still here"
        finally:
            await client.disconnect()
        stats = http_get(server, "/native_stats")["stats"]
        assert (stats is not None) == (ws == NATIVE), stats
