"""Several server processes behind one real redis-server.

Each scenario runs two uvicorn processes (tests/apps/redis_app.py) on one
Redis: fastsio + fastsio, and python-socketio 5.16.2 + fastsio (a fleet in
the middle of a rollout), with python-socketio's plain manager and with
per-room channels (Open WebUI 0.12.4's own AsyncRedisRoomChannelManager on
the python-socketio side). Clients are python-socketio AsyncClients over
websocket. Every operation is driven from both processes.
"""
import asyncio

import pytest
import socketio

from tests.owui_wheel import open_webui_modules

PAIRS = [("fastsio", "fastsio"), ("python-socketio", "fastsio")]
MODES = ["plain", "rooms"]


class Peer:
    """A python-socketio client that records every event it receives and
    answers 'ask' with a value derived from the question."""

    def __init__(self, server):
        self.server = server
        self.sio = socketio.AsyncClient(reconnection=False)
        self.inbox = asyncio.Queue()
        self.sid = None

        @self.sio.on("*")
        async def anything(event, *args):
            await self.inbox.put((event, list(args)))

        @self.sio.on("ask")
        async def ask(data):
            return {"answer_to": data, "from": self.sid}

    async def connect(self):
        await self.sio.connect(self.server.url, transports=["websocket"])
        me = await self.sio.call("whoami", timeout=5)
        self.sid = me["sid"]
        return self

    async def ask_server(self, event, data=None):
        return await self.sio.call(event, data, timeout=10)

    async def expect(self, event, timeout=5.0):
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            got_event, args = await asyncio.wait_for(self.inbox.get(), max(left, 0.01))
            if got_event == event:
                return args

    async def expect_none(self, event, wait=0.4):
        try:
            await self.expect(event, timeout=wait)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected {event!r}")


@pytest.fixture(params=[(a, b, m) for a, b in PAIRS for m in MODES],
                ids=lambda p: f"{p[0]}+{p[1]}-{p[2]}")
def fleet(request, redis_server, start_server):
    first, second, mode = request.param
    env = {"REDIS_URL": redis_server.url, "REDIS_MANAGER": mode}
    if mode == "rooms":
        env["OPENWEBUI_MODULES"] = open_webui_modules()
    a = start_server(first, "tests.apps.redis_app:app", env=env)
    b = start_server(second, "tests.apps.redis_app:app", env=env)
    return a, b, mode, redis_server


async def peers(*servers):
    return [await Peer(s).connect() for s in servers]


async def test_room_emit_reaches_both_processes(fleet):
    a, b, _, _ = fleet
    pa, pb, pa2 = await peers(a, b, a)
    try:
        for sender, others in ((pa, (pb, pa2)), (pb, (pa, pa2))):
            assert await sender.ask_server("join", "lobby") == "joined"
        await pa2.ask_server("join", "lobby")
        for sender in (pa, pb):
            await sender.ask_server("emit", {"event": "news", "data": {"from": sender.sid,
                                                                      "txt": "h\u00e9llo \U0001F600"},
                                             "to": "lobby"})
            for p in (pa, pb, pa2):
                assert await p.expect("news") == [{"from": sender.sid,
                                                   "txt": "h\u00e9llo \U0001F600"}]
        # several arguments, no argument (None), skip_sid, whole namespace
        await pb.ask_server("emit", {"event": "multi", "args": [1, 2.5, [3]], "to": "lobby"})
        for p in (pa, pb, pa2):
            assert await p.expect("multi") == [1, 2.5, [3]]
        await pa.ask_server("emit", {"event": "bare", "data": None, "to": "lobby"})
        for p in (pa, pb, pa2):
            assert await p.expect("bare") == []
        await pa.ask_server("emit", {"event": "notme", "data": 1, "to": "lobby",
                                     "skip_self": True})
        assert await pb.expect("notme") == [1]
        assert await pa2.expect("notme") == [1]
        await pa.expect_none("notme")
        await pb.ask_server("emit", {"event": "all", "data": "x"})
        for p in (pa, pb, pa2):
            assert await p.expect("all") == ["x"]
        # a room nobody on the other side is in
        await pa.ask_server("join", "solo")
        await pb.ask_server("emit", {"event": "solo", "data": 1, "to": "solo"})
        assert await pa.expect("solo") == [1]
        await pa2.expect_none("solo")
        await pa.ask_server("leave", "solo")
        await pb.ask_server("emit", {"event": "solo2", "data": 1, "to": "solo"})
        await pa.expect_none("solo2")
    finally:
        for p in (pa, pb, pa2):
            await p.sio.disconnect()


async def test_direct_emit_binary_and_callbacks_across_processes(fleet):
    a, b, _, _ = fleet
    pa, pb = await peers(a, b)
    try:
        for sender, target in ((pa, pb), (pb, pa)):
            await sender.ask_server("emit", {"event": "dm", "data": "hi", "to": target.sid})
            assert await target.expect("dm") == ["hi"]
            await sender.ask_server("emit_binary", {"event": "bin", "bytes": [0, 1, 255],
                                                    "to": target.sid})
            got = await target.expect("bin")
            assert got == [{"blob": b"\x00\x01\xff", "n": 3}]
            reply = await sender.ask_server("call", {"event": "ask", "data": "q?",
                                                     "to": target.sid})
            assert reply == {"answer": {"answer_to": "q?", "from": target.sid}}
    finally:
        for p in (pa, pb):
            await p.sio.disconnect()


async def subscribed(redis_server, channel, count=1, timeout=10.0):
    """Waits until `count` processes are subscribed to channel (per-room
    channels: a remote enter_room takes effect once the member's process
    subscribed; python-socketio's manager subscribes in a task started by its
    first connection, so a publish right after connecting may precede it)."""
    r = redis_server.client()
    deadline = asyncio.get_running_loop().time() + timeout
    while dict(r.pubsub_numsub(channel)).get(channel, 0) < count:
        assert asyncio.get_running_loop().time() < deadline, f"nobody subscribed {channel}"
        await asyncio.sleep(0.02)


async def test_remote_room_membership_and_disconnect(fleet):
    a, b, mode, redis_server = fleet
    pa, pb, pb2 = await peers(a, b, b)
    try:
        if mode == "plain":
            await subscribed(redis_server, "socketio", count=2)
        # a puts b's client in a room, then emits to that room
        assert await pa.ask_server("enter_other", {"sid": pb.sid, "room": "vip"}) == "ok"
        if mode == "rooms":
            await subscribed(redis_server, "socketio#/#vip")
        await pa.ask_server("emit", {"event": "vip", "data": 1, "to": "vip"})
        assert await pb.expect("vip") == [1]
        await pb2.expect_none("vip")
        await pa.ask_server("leave_other", {"sid": pb.sid, "room": "vip"})
        await pa.ask_server("emit", {"event": "vip2", "data": 1, "to": "vip"})
        await pb.expect_none("vip2")
        # close_room from the other process
        await pb.ask_server("join", "closing")
        await pb2.ask_server("join", "closing")
        await pa.ask_server("close", "closing")
        await asyncio.sleep(0.3)
        await pa.ask_server("emit", {"event": "closed", "data": 1, "to": "closing"})
        await pb.expect_none("closed")
        # disconnect of a client on the other process
        gone = asyncio.Event()
        pb2.sio.on("disconnect", lambda *args: gone.set())
        await pa.ask_server("kick", pb2.sid)
        await asyncio.wait_for(gone.wait(), 5)
    finally:
        for p in (pa, pb, pb2):
            if p.sio.connected:
                await p.sio.disconnect()


@pytest.mark.parametrize("emitter", ["fastsio", "python-socketio"])
async def test_write_only_emitter(emitter, redis_server, start_server):
    """An external process emits with a write_only manager; clients of a
    fastsio server and of a python-socketio server both get it."""
    env = {"REDIS_URL": redis_server.url, "REDIS_MANAGER": "plain"}
    fast = start_server("fastsio", "tests.apps.redis_app:app", env=env)
    ref = start_server("python-socketio", "tests.apps.redis_app:app", env=env)
    pf, pr = await peers(fast, ref)
    try:
        await subscribed(redis_server, "socketio", count=2)
        if emitter == "fastsio":
            import fastsio
            mgr = fastsio.AsyncRedisManager(redis_server.url, write_only=True)
        else:
            mgr = socketio.AsyncRedisManager(redis_server.url, write_only=True)
        await mgr.emit("external", {"n": 1}, room="everyone")
        await mgr.emit("external_one", [1, 2], room=pf.sid)
        assert await pf.expect("external") == [{"n": 1}]
        assert await pr.expect("external") == [{"n": 1}]
        assert await pf.expect("external_one") == [[1, 2]]
        await pr.expect_none("external_one")
    finally:
        for p in (pf, pr):
            await p.sio.disconnect()


async def test_room_channels_follow_local_members(redis_server, start_server):
    """With room_channels, a fastsio process is subscribed to exactly the
    room channels it has local members for (its clients' sid rooms and their
    joined rooms), plus the main channel."""
    env = {"REDIS_URL": redis_server.url, "REDIS_MANAGER": "rooms"}
    server = start_server("fastsio", "tests.apps.redis_app:app", env=env)
    r = redis_server.client()
    p1, p2 = await peers(server, server)
    try:
        def channels():
            return {c for c in r.pubsub_channels() if c.startswith("socketio")}

        assert channels() == {"socketio", f"socketio#/#{p1.sid}", f"socketio#/#{p2.sid}",
                              "socketio#/#everyone"}
        await p1.ask_server("join", "a#b")
        assert "socketio#/#a#b" in channels()     # subscribed before join returned
        await p1.ask_server("leave", "a#b")
        await asyncio.sleep(0.2)
        assert "socketio#/#a#b" not in channels()
        await p2.sio.disconnect()
        await asyncio.sleep(0.3)
        assert channels() == {"socketio", f"socketio#/#{p1.sid}", "socketio#/#everyone"}
        # an emit published for a room channel only reaches the subscribed process
        assert r.publish(f"socketio#/#{p1.sid}", '{"method": "emit", "event": "raw", '
                         '"data": [7], "namespace": "/", "room": "%s", "skip_sid": null, '
                         '"callback": null, "host_id": "x", "binary": false}' % p1.sid) == 1
        assert await p1.expect("raw") == [7]
    finally:
        for p in (p1, p2):
            if p.sio.connected:
                await p.sio.disconnect()


async def test_redis_restart_under_load(redis_server, start_server):
    """Redis killed and restarted while two fastsio processes emit: no crash,
    the subscriber reconnects and resubscribes (room channels included), and
    emits flow again after the restart."""
    env = {"REDIS_URL": redis_server.url, "REDIS_MANAGER": "rooms"}
    a = start_server("fastsio", "tests.apps.redis_app:app", env=env)
    b = start_server("fastsio", "tests.apps.redis_app:app", env=env)
    pa, pb = await peers(a, b)
    try:
        await pa.ask_server("join", "r")
        await pb.ask_server("join", "r")
        redis_server.stop()
        for i in range(50):
            await pa.ask_server("emit", {"event": "during", "data": i, "to": "r"})
        redis_server.start()
        # wait until b sees a's emits again (reconnect + resubscribe)
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            await pa.ask_server("emit", {"event": "after", "data": 1, "to": "r"})
            try:
                await pb.expect("after", timeout=0.5)
                break
            except asyncio.TimeoutError:
                assert asyncio.get_running_loop().time() < deadline, "no recovery"
        await pb.ask_server("emit", {"event": "back", "data": 2, "to": "r"})
        assert await pa.expect("back") == [2]
        for server in (a, b):
            assert server.proc.poll() is None
            log = server.output()
            assert "Traceback" not in log, log
            # one notice per connection (command, subscriber), not one per emit
            assert log.count("connection lost (") <= 2, log
            # emits made while Redis is down wait for it; only a PUBLISH already
            # written when it went down may fail (racy, hence a small bound, not 0)
            assert log.count("Cannot publish to redis") <= 3, log
    finally:
        for p in (pa, pb):
            if p.sio.connected:
                await p.sio.disconnect()


def test_manager_contract():
    import fastsio

    class Overrides(fastsio.AsyncRedisManager):
        async def _publish(self, data):
            pass

    with pytest.raises(TypeError, match="room_channels=True"):
        Overrides("redis://127.0.0.1:1/0")
    with pytest.raises(TypeError, match="not a fastsio manager"):
        fastsio.AsyncServer(client_manager=socketio.AsyncRedisManager("redis://127.0.0.1:1/0"))
    with pytest.raises(ValueError, match="TLS"):
        fastsio.AsyncRedisManager("rediss://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="Cluster"):
        fastsio.RedisDict("d", "redis://127.0.0.1:6379/0", redis_cluster=True)


@pytest.mark.parametrize("first", ["fastsio", "python-socketio"])
async def test_orjson_publishers(first, redis_server, start_server):
    """Servers with json=orjson publish compact, raw UTF-8 messages; the C
    reader of the other (fastsio) process delivers them unchanged."""
    env = {"REDIS_URL": redis_server.url, "REDIS_MANAGER": "plain", "APP_JSON": "orjson"}
    a = start_server(first, "tests.apps.redis_app:app", env=env)
    b = start_server("fastsio", "tests.apps.redis_app:app", env=env)
    pa, pb = await peers(a, b)
    try:
        data = {"t": "h\u00e9llo \U0001F600 \u2028", "f": [1.5, -0.0, 1e16], "n": None}
        await pa.ask_server("emit", {"event": "o", "data": data, "to": "everyone"})
        for p in (pa, pb):
            assert await p.expect("o") == [data]
        await pb.ask_server("emit", {"event": "o2", "args": ["a", {"b": []}], "to": pa.sid})
        assert await pa.expect("o2") == ["a", {"b": []}]
    finally:
        for p in (pa, pb):
            await p.sio.disconnect()
