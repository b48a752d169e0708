"""fastsio-only behaviour: orjson as json=, slow-client policy, rooms view."""
import json

import socketio as reference_socketio   # python-socketio's client
import httpx


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
    """A polling client that stops polling: its queue in the C hub fills to
    max_queue (64 frames), and the server drops it with 'transport error'."""
    server = start_server("fastsio", APP)
    base = f"{server.url}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient() as http:
        opened = (await http.get(base)).text
        assert opened.startswith("0{")
        eio_sid = json.loads(opened[1:])["sid"]
        assert (await http.post(f"{base}&sid={eio_sid}", content="40")).text == "ok"
        connected = (await http.get(f"{base}&sid={eio_sid}")).text
        assert connected.startswith("40{")
        slow_sid = json.loads(connected[2:])["sid"]
        watcher = await connected_client(server.url)
        try:
            assert await watcher.call("queued", slow_sid, timeout=5) == 0
            sent = await watcher.call("flood", {"to": slow_sid, "count": 200, "size": 10},
                                      timeout=30)
            assert sent == 200
            reason = await watcher.call("reason_of", slow_sid, timeout=10)
            assert reason == "transport error"
            # the server is still healthy for everyone else
            assert await watcher.call("echo", "still here", timeout=5) == "still here"
        finally:
            await watcher.disconnect()


async def test_chunked_polling_post_is_read(start_server):
    """A polling POST without Content-Length (Transfer-Encoding: chunked) is
    read like any other, its packets delivered even when a packet is split
    across chunks; one over max_http_buffer_size ends the session with 400."""
    server = start_server("fastsio", APP)
    base = f"{server.url}/socket.io/?EIO=4&transport=polling"

    def chunked(*parts):
        async def body():
            for part in parts:
                yield part
        return body()

    async with httpx.AsyncClient() as http:
        opened = (await http.get(base)).text
        eio_sid = json.loads(opened[1:])["sid"]
        url = f"{base}&sid={eio_sid}"
        r = await http.post(url, content=chunked(b"40"))
        assert "content-length" not in r.request.headers
        assert r.request.headers["transfer-encoding"] == "chunked"
        assert (r.status_code, r.text) == (200, "ok")
        assert (await http.get(url)).text.startswith("40{")
        r = await http.post(url, content=chunked(b'421["ec', b'ho","h\xc3', b'\xa9"]'))
        assert (r.status_code, r.text) == (200, "ok")
        assert (await http.get(url)).text == '431["h\u00e9"]'     # é split across chunks
        big = b"x" * (1_000_000 // 4)
        r = await http.post(url, content=chunked(b"42[\"echo\",\"", big, big, big, big, big,
                                                 b'"]'))
        assert r.status_code == 400
        r = await http.get(url)
        assert r.status_code == 400      # the session is gone
