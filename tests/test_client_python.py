"""python-socketio's own AsyncClient (the reference client) against both
server implementations, over websocket, long-polling, and polling upgraded to
websocket.

The server app is tests/apps/basic.py; its handlers report server-side state
(sid, rooms, transport, session, environ, participants, disconnect reasons)
back to the client, so every assertion is on data that actually crossed the
wire.
"""
import asyncio
import json

import pytest
import socketio  # the client side is always the reference python-socketio
import websockets

from tests.conftest import IMPLS, ServerProcess

APP = "tests.apps.basic:app"
TRANSPORTS = {"websocket": ["websocket"], "polling": ["polling"], "upgrade": None}
T = 5  # seconds: generous timeout for anything that should happen "now"


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module", params=IMPLS)
def impl(request):
    """Module-scoped override of conftest's `impl`, so one default server per
    implementation is shared by the tests that need no special options."""
    return request.param


@pytest.fixture(scope="module")
def server(impl):
    s = ServerProcess(impl, APP)
    yield s
    s.stop()


@pytest.fixture(params=list(TRANSPORTS))
def transport(request):
    return request.param


class Recorder:
    """Collects (event, args) pairs received by a client; wait() blocks until
    enough of one event arrived."""

    def __init__(self):
        self.events = {}
        self.changed = asyncio.Event()

    def handler(self, name):
        def record(*args):
            self.events.setdefault(name, []).append(args)
            self.changed.set()
        return record

    def got(self, name):
        return self.events.get(name, [])

    async def wait(self, name, count=1, timeout=T):
        async def loop():
            while len(self.got(name)) < count:
                self.changed.clear()
                await self.changed.wait()
        try:
            await asyncio.wait_for(loop(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"expected {count} {name!r} events, got {self.got(name)!r}") from None
        return self.got(name)


async def make_client(url, transport="websocket", events=(), ns_events=None,
                      handlers=None, rec=None, **connect_kw):
    """Connects an AsyncClient; `events` are recorded into `rec` (namespace /),
    `ns_events` = {namespace: [events]} likewise, `handlers` = {event: fn}."""
    c = socketio.AsyncClient(reconnection=False)
    c.rec = rec or Recorder()
    for e in events:
        c.on(e, c.rec.handler(e))
    for ns, evs in (ns_events or {}).items():
        for e in evs:
            c.on(e, c.rec.handler(f"{ns}:{e}"), namespace=ns)
    for e, fn in (handlers or {}).items():
        c.on(e, fn)
    connect_kw.setdefault("wait_timeout", T)
    await c.connect(url, transports=TRANSPORTS[transport], **connect_kw)
    return c


@pytest.fixture
async def clients():
    """Factory that remembers the clients it made and disconnects them."""
    made = []

    async def factory(*args, **kw):
        c = await make_client(*args, **kw)
        made.append(c)
        return c

    yield factory
    await asyncio.gather(*(close_client(c) for c in made))


async def unblock_polling_close(c):
    """Over polling, AsyncClient's disconnect (also the one connect() runs
    after a refusal) posts DISCONNECT + CLOSE and then waits for its pending
    long-poll GET, which python-socketio's server only answers after
    ping_interval + ping_timeout (~45 s with the defaults; the client gives
    up after 30 s). Once the write loop has posted the CLOSE, closing the
    client's HTTP session fails that GET and the read loop ends normally.
    fastsio answers that GET at once: the session is closed only if the
    read loop is still waiting a second later, never while an answer is
    being read (aiohttp can then miss the close and hang in the body read)."""
    eio = c.eio
    while True:
        if eio.state == "disconnecting" and eio.current_transport == "polling" and \
                (eio.write_loop_task is None or eio.write_loop_task.done()):
            reading = eio.read_loop_task
            if reading is not None and not reading.done():
                await asyncio.wait({reading}, timeout=1.0)
            if (reading is None or not reading.done()) and \
                    eio.http is not None and not eio.http.closed:
                await eio.http.close()
            return
        await asyncio.sleep(0.01)


async def run_unblocked(c, coro):
    """Runs coro (c.connect/c.disconnect) with unblock_polling_close alongside."""
    helper = asyncio.ensure_future(unblock_polling_close(c))
    try:
        return await asyncio.wait_for(coro, T * 2)
    finally:
        helper.cancel()


async def close_client(c):
    if c.eio.state != "connected":
        if c.eio.http is not None and not c.eio.http.closed:
            await c.eio.http.close()
        return
    await run_unblocked(c, c.disconnect())
    if c.eio.http is not None and not c.eio.http.closed:
        await c.eio.http.close()


async def connect_refused(c, url, transport, **kw):
    """c.connect(...) that must fail; returns the ConnectionError."""
    with pytest.raises(socketio.exceptions.ConnectionError) as exc:
        await run_unblocked(c, c.connect(url, transports=TRANSPORTS[transport],
                                         wait_timeout=T, **kw))
    await close_client(c)
    return exc.value


def own(sid, *rooms):
    """What the app's join/leave/whoami return: own room first, rest sorted."""
    return [sid] + sorted(rooms)


async def raw_ws(port, path="/socket.io/"):
    """A raw websocket Engine.IO client; returns (ws, socket.io sid on '/')."""
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}{path}?EIO=4&transport=websocket")
    opening = await asyncio.wait_for(ws.recv(), T)
    assert opening.startswith("0{")
    await ws.send("40")
    reply = await asyncio.wait_for(ws.recv(), T)
    assert reply.startswith("40{"), reply
    return ws, json.loads(reply[2:])["sid"]


# --------------------------------------------------------- connect / identity

async def test_connect_identity_session_environ(server, transport, clients):
    c = await clients(server.url + "/?x=1&y=two", transport, auth={"token": "abc"},
                      headers={"X-Test": "hello"})
    me = await c.call("whoami", timeout=T)
    assert me["sid"] == c.get_sid() and len(me["sid"]) > 0
    assert me["rooms"] == [c.get_sid()]
    expected_transport = "polling" if transport == "polling" else "websocket"
    assert c.transport() == expected_transport
    assert me["transport"] == expected_transport
    assert me["session"] == {"auth": {"token": "abc"}, "count": 0}

    env = await c.call("environ", timeout=T)
    params = dict(p.split("=", 1) for p in env["query"].split("&"))
    assert params["x"] == "1" and params["y"] == "two" and params["EIO"] == "4"
    assert env["method"] == "GET"
    assert env["x_test"] == "hello"


async def test_two_clients_get_distinct_sids(server, clients):
    a = await clients(server.url, "websocket")
    b = await clients(server.url, "polling")
    sa = (await a.call("whoami", timeout=T))["sid"]
    sb = (await b.call("whoami", timeout=T))["sid"]
    assert sa == a.get_sid() and sb == b.get_sid() and sa != sb


# -------------------------------------------------------- events and payloads

PAYLOADS = ["text", "", 0, 42, -7, 1.5, True, False, {"a": 1, "b": [1, 2, {"c": None}]},
            [1, "two", 3.0, None], "ünïcødé ✓ 😀 \u2028 \"quoted\" \\ \n",
            {"ключ": "значение", "emoji": "🎉"}, 2 ** 53, [], {}]


async def test_event_payloads_and_acks(server, transport, clients):
    c = await clients(server.url, transport, events=["echoed"])
    for p in PAYLOADS:
        assert await c.call("echo", p, timeout=T) == p
    # None as the single argument: the client sends no argument at all
    assert await c.call("echo", None, timeout=T) is None
    # a tuple is several arguments; the handler returns a tuple -> one ack
    # argument per element -> the client's call() returns a tuple
    assert await c.call("echo", (1, "a", {"k": None}, [True]), timeout=T) == \
        (1, "a", {"k": None}, [True])
    got = await c.rec.wait("echoed", len(PAYLOADS) + 2)
    assert got[:len(PAYLOADS)] == [(p,) for p in PAYLOADS]
    assert got[len(PAYLOADS)] == ()
    assert got[len(PAYLOADS) + 1] == (1, "a", {"k": None}, [True])

    # emit with a callback: the callback receives the ack arguments
    acked = asyncio.get_running_loop().create_future()
    await c.emit("echo", ("x", 2), callback=lambda *a: acked.set_result(a))
    assert await asyncio.wait_for(acked, T) == ("x", 2)

    # a handler returning None acks with no arguments
    acked2 = asyncio.get_running_loop().create_future()
    await c.emit("no_return", 1, callback=lambda *a: acked2.set_result(a))
    assert await asyncio.wait_for(acked2, T) == ()


async def test_large_payload(server, transport, clients):
    c = await clients(server.url, transport)
    big = {"s": "x" * 200_000, "l": list(range(5000))}
    assert await c.call("echo_one", big, timeout=T) == big


async def test_server_ack_from_client(server, transport, clients):
    """sio.emit(..., to=sid, callback=cb): the client handler's return value
    reaches the server callback (here: returned to us by the server)."""
    c = await clients(server.url, transport,
                      handlers={"cb_event": lambda data: ("reply", data * 2)})
    assert await c.call("ask_cb", 21, timeout=T) == ["reply", 42]


async def test_sio_call_answer_and_timeout(server, transport, clients):
    answers = []

    async def question(data):
        answers.append(data)
        return {"answer": data["q"].upper()}

    c = await clients(server.url, transport, handlers={"question": question})
    r = await c.call("ask", {"data": {"q": "why"}, "timeout": 5}, timeout=T)
    assert r == {"answer": {"answer": "WHY"}}
    assert answers == [{"q": "why"}]

    # a raw websocket client never answers; the server's call times out with
    # socketio.exceptions.TimeoutError
    ws, silent_sid = await raw_ws(server.port)
    try:
        r = await c.call("ask", {"to": silent_sid, "data": "hello?", "timeout": 0.5},
                         timeout=T)
        assert r == {"error": "TimeoutError", "is_timeout": True}
        # the silent client did receive the question, with an ack id
        frame = await asyncio.wait_for(ws.recv(), T)
        assert frame.startswith("42") and frame.endswith('["question","hello?"]')
        assert frame[2:-len('["question","hello?"]')].isdigit()
    finally:
        await ws.close()


async def test_message_event_via_send(server, transport, clients):
    c = await clients(server.url, transport, events=["message"])
    acked = asyncio.get_running_loop().create_future()
    await c.send("hi there", callback=lambda *a: acked.set_result(a))
    assert await asyncio.wait_for(acked, T) == ("got message",)
    assert await c.call("send_me", {"n": 1}, timeout=T) is True
    got = await c.rec.wait("message", 2)
    assert got == [(["message-echo", "hi there"],), ({"n": 1},)]


async def test_catch_all_handler(server, transport, clients):
    c = await clients(server.url, transport)
    assert await c.call("no_such_event", (1, "b"), timeout=T) == ["caught", "no_such_event", [1, "b"]]
    assert await c.call("other", timeout=T) == ["caught", "other", []]


async def test_handlers_added_and_removed_at_runtime(server, transport, clients):
    c = await clients(server.url, transport)
    name = f"dyn_{transport}"
    assert await c.call(name, 5, timeout=T) == ["caught", name, [5]]
    assert await c.call("add_handler", name, timeout=T) is True
    assert await c.call(name, 5, timeout=T) == ["dynamic", name, 5]
    assert await c.call("remove_handler", name, timeout=T) is True
    assert await c.call(name, 6, timeout=T) == ["caught", name, [6]]


async def test_background_task(server, transport, clients):
    c = await clients(server.url, transport, events=["later"])
    assert await c.call("background", 7, timeout=T) == "started"
    assert await c.rec.wait("later") == [(7,)]


# ------------------------------------------------------------------- binary

async def test_binary_both_directions(server, transport, clients):
    c = await clients(server.url, transport, events=["echoed"])
    blob = {"a": b"\x00\x01\xff", "list": [b"x" * 3000, 3, {"deep": b"\xde\xad\xbe\xef"}],
            "text": "not binary", "empty": b""}
    assert await c.call("echo", blob, timeout=T) == blob
    assert await c.call("echo", bytes(range(256)), timeout=T) == bytes(range(256))
    # several arguments, several attachments, mixed with non-binary values
    args = (b"first", {"k": [b"second", None]}, "plain", b"\x00" * 10)
    assert await c.call("echo", args, timeout=T) == args
    got = await c.rec.wait("echoed", 3)
    assert got == [(blob,), (bytes(range(256)),), args]


# -------------------------------------------------------------------- rooms

async def test_rooms_and_targeted_emits(server, transport, clients):
    rec = {n: Recorder() for n in "abc"}
    cl = {n: await clients(server.url, transport, events=["news", "mark"], rec=rec[n])
          for n in "abc"}
    sid = {n: cl[n].get_sid() for n in "abc"}
    a, b = cl["a"], cl["b"]
    tag = f"{transport}"
    r1, r2 = f"r1-{tag}", f"r2-{tag}"
    assert await a.call("join", r1, timeout=T) == own(sid["a"], r1)
    assert await b.call("join", r1, timeout=T) == own(sid["b"], r1)
    assert await b.call("join", r2, timeout=T) == own(sid["b"], r1, r2)
    assert await cl["c"].call("join", r2, timeout=T) == own(sid["c"], r2)

    assert await a.call("participants", {"room": r1}, timeout=T) == sorted([sid["a"], sid["b"]])
    assert await a.call("room_members", {"room": r2}, timeout=T) == sorted([sid["b"], sid["c"]])
    # every sid is in its own room
    assert await a.call("participants", {"room": sid["c"]}, timeout=T) == [sid["c"]]

    marks = 0

    async def shout_and_collect(spec):
        """Emits 'news' per spec, then a 'mark' to each of our clients; since
        a connection's packets arrive in order, once a client has the mark
        it has every 'news' meant for it."""
        nonlocal marks
        for r in rec.values():
            r.events.pop("news", None)
        await a.call("shout", spec, timeout=T)
        marks += 1
        for n in "abc":
            await a.call("shout", {"event": "mark", "to": sid[n], "data": marks}, timeout=T)
        for n in "abc":
            await rec[n].wait("mark", marks)
        return {n: [x[0] for x in rec[n].got("news")] for n in "abc"}

    assert await shout_and_collect({"to": r1, "data": 1}) == {"a": [1], "b": [1], "c": []}
    # a list of rooms: the union, each member once
    assert await shout_and_collect({"to": [r1, r2], "data": 2}) == {"a": [2], "b": [2], "c": [2]}
    assert await shout_and_collect({"to": r1, "skip": sid["a"], "data": 3}) == \
        {"a": [], "b": [3], "c": []}
    assert await shout_and_collect({"to": [r1, r2], "skip": [sid["a"], sid["c"]], "data": 4}) == \
        {"a": [], "b": [4], "c": []}
    assert await shout_and_collect({"to": sid["c"], "data": 5}) == {"a": [], "b": [], "c": [5]}
    # no `to`: everybody in the namespace
    got = await shout_and_collect({"data": 6})
    assert got == {"a": [6], "b": [6], "c": [6]}

    assert await b.call("leave", r1, timeout=T) == own(sid["b"], r2)
    assert await a.call("participants", {"room": r1}, timeout=T) == [sid["a"]]
    assert await shout_and_collect({"to": r1, "data": 7}) == {"a": [7], "b": [], "c": []}

    assert await a.call("close", r2, timeout=T) is True
    assert await a.call("participants", {"room": r2}, timeout=T) == []
    assert await a.call("room_members", {"room": r2}, timeout=T) is None
    assert (await b.call("whoami", timeout=T))["rooms"] == [sid["b"]]
    assert await shout_and_collect({"to": r2, "data": 8}) == {"a": [], "b": [], "c": []}


async def test_room_membership_cleared_on_disconnect(server, clients):
    a = await clients(server.url, "websocket")
    b = await clients(server.url, "websocket")
    room = "leavers"
    await a.call("join", room, timeout=T)
    await b.call("join", room, timeout=T)
    assert await a.call("participants", {"room": room}, timeout=T) == sorted([a.get_sid(), b.get_sid()])
    b_sid = b.get_sid()
    await close_client(b)
    assert await a.call("reason_of", {"sid": b_sid}, timeout=T) in CLIENT_GONE["websocket"]
    assert await a.call("participants", {"room": room}, timeout=T) == [a.get_sid()]


async def test_auth_room_on_connect(server, transport, clients):
    a = await clients(server.url, transport, auth={"room": "from-auth"})
    assert (await a.call("whoami", timeout=T))["rooms"] == [a.get_sid(), "from-auth"]


# --------------------------------------------------------------- namespaces

async def test_namespaces(server, transport, clients):
    a = await clients(server.url, transport, namespaces=["/", "/chat"],
                      ns_events={"/chat": ["said", "news"]}, events=["news"])
    b = await clients(server.url, transport, namespaces=["/chat"],
                      ns_events={"/chat": ["said"]})
    a_chat, b_chat = a.get_sid("/chat"), b.get_sid("/chat")
    assert a_chat and b_chat and a.get_sid("/") and a.get_sid("/") != a_chat
    assert b.get_sid("/") is None

    me = await a.call("whoami", namespace="/chat", timeout=T)
    assert me == {"sid": a_chat, "rooms": [a_chat, "chatters"], "namespace": "/chat"}
    assert await a.call("echo", ("x", [1]), namespace="/chat", timeout=T) == ("x", [1])
    assert b_chat in await a.call("participants", {"ns": "/chat", "room": "chatters"}, timeout=T)

    assert await b.call("say", "hello", namespace="/chat", timeout=T) == "ok"
    expected = [({"from": b_chat, "text": "hello"},)]
    assert await a.rec.wait("/chat:said") == expected
    assert await b.rec.wait("/chat:said") == expected

    # a server emit to namespace /chat only reaches /chat handlers
    assert await a.call("shout", {"ns": "/chat", "to": a_chat, "data": "ns"}, timeout=T)
    assert await a.rec.wait("/chat:news") == [("ns",)]
    assert await a.call("shout", {"to": a.get_sid("/"), "data": "root"}, timeout=T)
    assert await a.rec.wait("news") == [("root",)]
    assert a.rec.got("/chat:news") == [("ns",)]

    # client-side call answered on the namespace
    async def question(data):
        return f"re: {data}"
    b.on("question", question, namespace="/chat")
    assert await b.call("ask", "q?", namespace="/chat", timeout=T) == "re: q?"

    # disconnecting one namespace of a client leaves the other connected
    b_sid = b_chat
    await close_client(b)
    assert await a.call("reason_of", {"ns": "/chat", "sid": b_sid}, timeout=T) in \
        CLIENT_GONE[transport]


async def test_unknown_namespace_fails(server, transport):
    c = socketio.AsyncClient(reconnection=False)
    errors = []
    c.on("connect_error", lambda data: errors.append(data), namespace="/nope")
    exc = await connect_refused(c, server.url, transport, namespaces=["/nope"])
    assert str(exc) == "One or more namespaces failed to connect: /nope"
    # python-socketio's CONNECT_ERROR data for an unknown namespace is a bare
    # string; fastsio's is the JS server's object (docs/conformance.md)
    assert errors == (["Unable to connect"] if server.impl == "python-socketio"
                      else [{"message": "Invalid namespace"}])


async def test_namespace_connect_refused(server, transport):
    c = socketio.AsyncClient(reconnection=False)
    errors, connects = [], []
    c.on("connect", lambda: connects.append("/"))
    c.on("connect_error", lambda data: errors.append(data), namespace="/chat")
    exc = await connect_refused(c, server.url, transport, namespaces=["/", "/chat"],
                                auth={"refuse_chat": True})
    assert str(exc) == "One or more namespaces failed to connect: /chat"
    assert errors == [{"message": "no chat", "data": {"ns": "chat"}}]
    assert connects == ["/"]


# ---------------------------------------------------------- connect refusal

@pytest.mark.parametrize("mode,expected", [
    ("custom", {"message": "bad", "data": {"x": 1}}),
    ("message", {"message": "just a message"}),
    ("empty", {"message": "Connection rejected by server"}),
    ("false", {"message": "Connection rejected by server"}),
])
async def test_connect_refused(server, transport, mode, expected):
    c = socketio.AsyncClient(reconnection=False)
    errors, connects = [], []
    c.on("connect_error", lambda data: errors.append(data))
    c.on("connect", lambda: connects.append(1))
    exc = await connect_refused(c, server.url, transport, auth={"refuse": mode})
    assert str(exc) == "One or more namespaces failed to connect: /"
    assert errors == [expected]
    assert connects == []
    assert not c.connected


async def test_refused_sid_not_left_behind(server, clients):
    """A refused connection does not show up as connected on the server."""
    a = await clients(server.url, "websocket")
    c = socketio.AsyncClient(reconnection=False)
    await connect_refused(c, server.url, "websocket", auth={"refuse": "custom"})
    sids = await a.call("connected_sids", timeout=T)
    assert a.get_sid() in sids


# ------------------------------------------------------- disconnect reasons

# AsyncClient.disconnect() over websocket queues DISCONNECT + CLOSE and closes
# the websocket without waiting for its write loop, so the server may see the
# socket closed first ("transport close"); over polling the packets are
# posted before anything else happens. The raw-websocket tests below pin
# "client disconnect" down exactly.
CLIENT_GONE = {"websocket": {"client disconnect", "transport close"},
               "upgrade": {"client disconnect", "transport close"},
               "polling": {"client disconnect"}}


@pytest.mark.parametrize("goodbye", ["41", "1"])
async def test_client_disconnect_reason_exact(server, clients, goodbye):
    """Socket.IO DISCONNECT ("41") or Engine.IO CLOSE ("1") from the client,
    with the websocket left open: the reason is 'client disconnect'."""
    watcher = await clients(server.url, "websocket")
    ws, sid = await raw_ws(server.port)
    try:
        await ws.send(goodbye)
        assert await watcher.call("reason_of", {"sid": sid}, timeout=T) == "client disconnect"
        assert await watcher.call("participants", {"room": sid}, timeout=T) == []
    finally:
        await ws.close()


async def test_disconnect_reasons(server, transport, clients):
    watcher = await clients(server.url, "websocket")
    c = await clients(server.url, transport)
    sid = c.get_sid()
    await close_client(c)
    assert await watcher.call("reason_of", {"sid": sid}, timeout=T) in CLIENT_GONE[transport]

    disconnected = asyncio.get_running_loop().create_future()
    d = await clients(server.url, transport,
                      handlers={"disconnect": lambda reason: disconnected.set_result(reason)})
    sid = d.get_sid()
    assert await watcher.call("kick", sid, timeout=T) is True
    assert await watcher.call("reason_of", {"sid": sid}, timeout=T) == "server disconnect"
    assert await asyncio.wait_for(disconnected, T) == "server disconnect"
    assert not d.connected


async def test_self_kick_from_handler(server, transport, clients):
    disconnected = asyncio.get_running_loop().create_future()
    watcher = await clients(server.url, "websocket")
    c = await clients(server.url, transport,
                      handlers={"disconnect": lambda reason: disconnected.set_result(reason)})
    sid = c.get_sid()
    await c.emit("kick")
    assert await asyncio.wait_for(disconnected, T) == "server disconnect"
    assert await watcher.call("reason_of", {"sid": sid}, timeout=T) == "server disconnect"


async def test_transport_close_reason(server, clients):
    """A websocket closed without a Socket.IO DISCONNECT packet."""
    watcher = await clients(server.url, "websocket")
    ws, sid = await raw_ws(server.port)
    await ws.close()
    assert await watcher.call("reason_of", {"sid": sid}, timeout=T) == "transport close"


PING_ENV = {"APP_PING_INTERVAL": "1", "APP_PING_TIMEOUT": "0.5"}


async def test_ping_timeout_reason(impl, start_server):
    """A client that keeps sending but never answers the server's PING is
    dropped with reason 'ping timeout'. (python-engineio means to send a
    CLOSE packet first, but its send() re-checks the ping timeout and drops
    it: the websocket just closes after the one PING.)"""
    server = start_server(impl, APP, env=PING_ENV)
    watcher = await make_client(server.url, "websocket")
    try:
        ws, sid = await raw_ws(server.port)
        frames = []

        async def tick():
            while True:
                await asyncio.sleep(0.2)
                await ws.send('42["tick"]')
        ticker = asyncio.ensure_future(tick())
        try:
            async for f in ws:
                frames.append(f)
        except websockets.ConnectionClosed:
            pass
        finally:
            ticker.cancel()
        assert frames == ["2"]
        assert await watcher.call("reason_of", {"sid": sid}, timeout=T) == "ping timeout"
        # the reference client answers pings: it survived the same intervals
        assert watcher.connected
        assert (await watcher.call("whoami", timeout=T))["sid"] == watcher.get_sid()
    finally:
        await close_client(watcher)


async def test_silent_client_dropped(impl, start_server):
    """A client that sends nothing at all after connecting: the server gives
    up after ping_interval + ping_timeout. python-socketio reports either
    'ping timeout' or 'transport close' here, depending on which of its two
    timers fires first."""
    server = start_server(impl, APP, env=PING_ENV)
    watcher = await make_client(server.url, "websocket")
    try:
        ws, sid = await raw_ws(server.port)
        frames = []
        try:
            async for f in ws:
                frames.append(f)
        except websockets.ConnectionClosed:
            pass
        assert frames == ["2"]
        assert await watcher.call("reason_of", {"sid": sid}, timeout=T) in \
            {"ping timeout", "transport close"}
        assert await watcher.call("participants", {"room": sid}, timeout=T) == []
    finally:
        await close_client(watcher)


async def test_ping_keeps_polling_client_alive(impl, start_server):
    server = start_server(impl, APP, env={"APP_PING_INTERVAL": "0.3", "APP_PING_TIMEOUT": "0.3"})
    c = await make_client(server.url, "polling")
    try:
        await asyncio.sleep(1.5)  # several ping intervals + ping timeouts
        assert c.connected
        assert await c.call("echo_one", "alive", timeout=T) == "alive"
    finally:
        await close_client(c)


# ------------------------------------------------------------------ session

async def test_session(server, transport, clients):
    c = await clients(server.url, transport, auth={"who": "me"})
    assert await c.call("bump", timeout=T) == 1
    assert await c.call("bump", timeout=T) == 2
    assert await c.call("set_session", {"extra": [1, 2]}, timeout=T) is True
    me = await c.call("whoami", timeout=T)
    assert me["session"] == {"auth": {"who": "me"}, "count": 2, "extra": [1, 2]}
    other = await clients(server.url, transport)
    assert (await other.call("whoami", timeout=T))["session"] == {"auth": None, "count": 0}


# ----------------------------------------------------------- always_connect

@pytest.mark.parametrize("mode", ["custom", "false"])
async def test_always_connect(impl, start_server, mode):
    server = start_server(impl, APP, env={"APP_ALWAYS_CONNECT": "1"})
    ok = await make_client(server.url, "websocket")
    try:
        assert (await ok.call("whoami", timeout=T))["sid"] == ok.get_sid()
        c = socketio.AsyncClient(reconnection=False)
        events = []
        gone = asyncio.get_running_loop().create_future()
        c.on("connect", lambda: events.append("connect"))
        c.on("connect_error", lambda data: events.append(("connect_error", data)))

        def on_disconnect(reason):
            events.append(("disconnect", reason))
            gone.set_result(True)
        c.on("disconnect", on_disconnect)
        # the connection is accepted first, then dropped by the server
        await c.connect(server.url, transports=["websocket"], auth={"refuse": mode},
                        wait_timeout=T)
        await asyncio.wait_for(gone, T)
        assert events == ["connect", ("disconnect", "server disconnect")]
        assert not c.connected
        await close_client(c)
    finally:
        await close_client(ok)
