"""fastsio-only behaviour: orjson as json=, slow-client policy, rooms view."""
import json

import socketio as reference_socketio   # python-socketio's client
import websockets


APP = "tests.apps.fastsio_features:app"


async def connected_client(url):
    client = reference_socketio.AsyncClient()
    await client.connect(url, transports=["websocket"])
    return client


async def test_orjson_json_hook_round_trip(start_server):
    server = start_server("fastsio", APP)
    client = await connected_client(server.url)
    try:
        data = {"text": "héllo ✓ 日本", "n": [1, 2.5, None, True], "nested": {"a": {}}}
        assert await client.call("echo", data, timeout=5) == data
    finally:
        await client.disconnect()


async def test_non_str_rooms_and_rooms_view(start_server):
    server = start_server("fastsio", APP)
    a = await connected_client(server.url)
    b = await connected_client(server.url)
    try:
        state = await a.call("state", timeout=5)
        assert state["rooms"] == sorted([repr(42), repr("common"), repr(a.get_sid())])
        assert state["int_room"] == sorted([a.get_sid(), b.get_sid()])
        assert state["all"] == sorted([a.get_sid(), b.get_sid()])
        assert state["common_has_me"] is True
        assert state["participants_42"] == state["int_room"]
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_slow_client_is_disconnected_when_its_queue_overflows(start_server):
    server = start_server("fastsio", APP)
    # a raw websocket client that joins and then never reads again
    slow = await websockets.connect(
        f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket",
        max_queue=1)
    await slow.recv()
    await slow.send("40")
    slow_sid = None
    while slow_sid is None:
        msg = await slow.recv()
        if msg.startswith("40"):
            slow_sid = json.loads(msg[2:])["sid"]
    watcher = await connected_client(server.url)
    try:
        # far more than max_queue=64 frames of 64 KiB: TCP buffers fill, the
        # queue reaches its bound, and the server must drop the client
        sent = await watcher.call("flood", {"to": slow_sid, "count": 2000, "size": 65536},
                                  timeout=60)
        assert sent == 2000
        reason = await watcher.call("reason_of", slow_sid, timeout=10)
        assert reason == "transport error"
        # the server is still healthy for everyone else
        assert await watcher.call("echo", "still here", timeout=5) == "still here"
    finally:
        await watcher.disconnect()
        await slow.close()
