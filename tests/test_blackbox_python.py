"""python-socketio's AsyncClient against both servers (python-socketio and
fastsio), over websocket, polling, and polling upgraded to websocket."""
import asyncio

import pytest
import socketio as reference   # the client side is always python-socketio

APP = "tests.apps.chat:app"
FAST_PING = {"APP_PING_INTERVAL": "1", "APP_PING_TIMEOUT": "3"}
TRANSPORTS = {"websocket": ["websocket"], "polling": ["polling"],
              "upgrade": ["polling", "websocket"]}


@pytest.fixture(params=list(TRANSPORTS))
def transports(request):
    return TRANSPORTS[request.param]


async def client(url, transports, namespaces=None, auth=None, **handlers):
    c = reference.AsyncClient(reconnection=False)
    for event, fn in handlers.items():
        if event.startswith("chat_"):
            c.on(event[len("chat_"):], fn, namespace="/chat")
        else:
            c.on(event, fn)
    await c.connect(url, transports=transports, namespaces=namespaces, auth=auth,
                    wait_timeout=10)
    return c


async def wait_for(pred, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_connect_events_and_acks(impl, transports, start_server):
    server = start_server(impl, APP, env=FAST_PING)
    echoed = []
    c = await client(server.url + "?x=1", transports, auth={"token": "t"},
                     echoed=lambda data: echoed.append(data))
    try:
        me = await c.call("whoami", timeout=5)
        assert me["sid"] == c.get_sid()
        assert me["rooms"] == [c.get_sid()]
        assert me["auth"] == {"token": "t"} and me["query_has_x"] is True
        if transports == ["polling", "websocket"]:
            await wait_for(lambda: c.transport() == "websocket")
            me = await c.call("whoami", timeout=5)
        assert me["transport"] == c.transport()
        payloads = ["text", 42, 1.5, True, None, {"a": [1, {"b": "ü✓"}]}, [1, "two"]]
        for p in payloads:
            assert await c.call("echo", p, timeout=5) == p
        assert await c.call("echo", (1, "a", {"k": None}), timeout=5) == (1, "a", {"k": None})
        await wait_for(lambda: len(echoed) == len(payloads) + 1)
        assert echoed[:len(payloads)] == [[] if p is None else [p] for p in payloads]
        assert echoed[-1] == [1, "a", {"k": None}]
    finally:
        await c.disconnect()


async def test_binary_both_ways(impl, transports, start_server):
    server = start_server(impl, APP, env=FAST_PING)
    c = await client(server.url, transports)
    try:
        blob = {"a": b"\x00\x01\xff", "list": [b"x" * 1000, 3, {"deep": b"\xde\xad"}]}
        assert await c.call("echo", blob, timeout=5) == blob
        assert await c.call("echo", b"", timeout=5) == b""
    finally:
        await c.disconnect()


async def test_server_calls_client_and_times_out(impl, transports, start_server):
    server = start_server(impl, APP, env=FAST_PING)
    answers = {"q1": "a1"}
    c = await client(server.url, transports, question=lambda q: answers.get(q))
    try:
        assert await c.call("ask", {"q": "q1", "timeout": 5}, timeout=10) == "a1"
    finally:
        await c.disconnect()
    silent = reference.AsyncClient(reconnection=False)

    @silent.on("question")
    async def never_answers(q):
        await asyncio.sleep(3)

    await silent.connect(server.url, transports=transports, wait_timeout=10)
    try:
        assert await silent.call("ask", {"q": "x", "timeout": 0.3}, timeout=10) == "timeout"
    finally:
        await silent.disconnect()


async def test_rooms_union_and_skip(impl, transports, start_server):
    server = start_server(impl, APP, env=FAST_PING)
    got = {name: [] for name in "abc"}
    clients = {}
    for name in "abc":
        clients[name] = await client(server.url, transports,
                                     news=lambda d, name=name: got[name].append(d))
    a, b, c = clients["a"], clients["b"], clients["c"]
    try:
        assert await a.call("join", "red", timeout=5) == sorted([a.get_sid(), "red"])
        await a.call("join", "blue", timeout=5)
        await b.call("join", "blue", timeout=5)
        assert await a.call("members", "blue", timeout=5) == sorted([a.get_sid(), b.get_sid()])
        assert await a.call("rooms_view", "blue", timeout=5) == sorted([a.get_sid(), b.get_sid()])
        await c.call("shout", {"to": ["red", "blue"], "data": 1}, timeout=5)
        await c.call("shout", {"to": "blue", "skip": a.get_sid(), "data": 2}, timeout=5)
        await c.call("shout", {"to": None, "skip": [a.get_sid(), b.get_sid()], "data": 3},
                     timeout=5)
        await c.call("shout", {"to": b.get_sid(), "data": 4}, timeout=5)
        await wait_for(lambda: len(got["a"]) >= 1 and len(got["b"]) >= 3 and got["c"])
        await asyncio.sleep(0.2)
        assert got == {"a": [1], "b": [1, 2, 4], "c": [3]}
        assert await a.call("leave", "red", timeout=5) == sorted([a.get_sid(), "blue"])
        await a.call("close", "blue", timeout=5)
        assert await a.call("members", "blue", timeout=5) == []
        assert await a.call("members", a.get_sid(), timeout=5) == [a.get_sid()]
    finally:
        for cl in clients.values():
            await cl.disconnect()


async def test_namespaces_and_class_handlers(impl, transports, start_server):
    server = start_server(impl, APP, env=FAST_PING)
    said = []
    c = await client(server.url, transports, namespaces=["/", "/chat"],
                     chat_said=lambda d: said.append(d))
    try:
        assert await c.call("say", "hi", namespace="/chat", timeout=5) == "ok"
        await wait_for(lambda: said)
        assert said == [{"from": c.get_sid("/chat"), "text": "hi"}]
        assert c.get_sid("/chat") != c.get_sid("/")
    finally:
        await c.disconnect()
    with pytest.raises(reference.exceptions.ConnectionError):
        await client(server.url, transports, namespaces=["/nowhere"])


async def test_catch_all_and_runtime_handlers(impl, transports, start_server):
    server = start_server(impl, APP, env=FAST_PING)
    c = await client(server.url, transports)
    try:
        assert await c.call("unknown_event", {"x": 1}, timeout=5) == ["caught", "unknown_event",
                                                                       {"x": 1}]
        assert await c.call("add_handler", "late", timeout=5) is True
        assert await c.call("late", 7, timeout=5) == ["dynamic", 7]
        assert await c.call("remove_handler", "late", timeout=5) is True
        assert await c.call("late", 7, timeout=5) == ["caught", "late", 7]
        # a failing handler is logged; the connection goes on
        await c.emit("fail")
        assert await c.call("echo", "alive", timeout=5) == "alive"
        assert await c.call("background", 5, timeout=5) is True
    finally:
        await c.disconnect()


async def test_connect_refused(impl, transports, start_server):
    server = start_server(impl, APP, env=FAST_PING)
    for refuse, expected in [
            ("custom", {"message": "auth failed", "data": {"code": 401}}),
            ("plain", {"message": "Connection rejected by server"})]:
        errors = []
        c = reference.AsyncClient(reconnection=False)
        c.on("connect_error", lambda data: errors.append(data))
        with pytest.raises(reference.exceptions.ConnectionError):
            await c.connect(server.url, transports=transports, auth={"refuse": refuse},
                            wait_timeout=10)
        assert errors == [expected]


async def test_disconnect_reasons(impl, transports, start_server):
    server = start_server(impl, APP, env=FAST_PING)
    watcher = await client(server.url, transports)
    try:
        leaver = await client(server.url, transports)
        sid = leaver.get_sid()
        await leaver.disconnect()
        # python-socketio's client closes its websocket before the server has
        # read its DISCONNECT packet; the reference server then reports the
        # transport closing, and so must fastsio
        expected = "client disconnect" if transports == ["polling"] else "transport close"
        assert await watcher.call("reason_of", sid, timeout=10) == expected

        kicked = asyncio.Event()
        victim = await client(server.url, transports, disconnect=lambda *a: kicked.set())
        sid = victim.get_sid()
        await victim.emit("kick")
        await asyncio.wait_for(kicked.wait(), 5)
        assert await watcher.call("reason_of", sid, timeout=10) == "server disconnect"
    finally:
        await watcher.disconnect()


async def test_always_connect_refusal(impl, start_server):
    server = start_server(impl, APP, env={"APP_ALWAYS_CONNECT": "1", **FAST_PING})
    c = await client(server.url, ["websocket"])
    try:
        assert await c.call("echo", 1, timeout=5) == 1
    finally:
        await c.disconnect()
    gone = asyncio.Event()
    refused = await client(server.url, ["websocket"], auth={"refuse": "custom"},
                           disconnect=lambda *a: gone.set())
    await asyncio.wait_for(gone.wait(), 5)
    await refused.disconnect()


async def test_fastapi_mount(impl, start_server):
    server = start_server(impl, APP, env={"APP_MOUNT": "1", **FAST_PING})
    c = reference.AsyncClient(reconnection=False)
    await c.connect(server.url, socketio_path="/ws/socket.io", transports=["websocket"],
                    wait_timeout=10)
    try:
        assert await c.call("echo", "mounted", timeout=5) == "mounted"
    finally:
        await c.disconnect()


async def test_ping_timeout_disconnects_a_silent_client(impl, start_server):
    import websockets
    server = start_server(impl, APP, env={"APP_PING_INTERVAL": "0.3",
                                          "APP_PING_TIMEOUT": "0.5"})
    watcher = await client(server.url, ["websocket"])
    silent = await websockets.connect(
        f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket")
    try:
        await silent.recv()
        await silent.send("40")
        import json
        sid = json.loads((await silent.recv())[2:])["sid"]
        # the silent client reads but never answers PING with PONG. fastsio
        # times the PONG out; python-socketio races that check against its
        # websocket read timeout and may report the transport closing instead
        reason = await watcher.call("reason_of", sid, timeout=10)
        if impl == "fastsio":
            assert reason == "ping timeout"
        else:
            assert reason in ("ping timeout", "transport close")
        assert await watcher.call("echo", "alive", timeout=5) == "alive"
    finally:
        await watcher.disconnect()
        await silent.close()
