"""`python -m fastsio serve MODULE:APP`: an app written for python-socketio
(tests/apps/swap_app.py, plain `import socketio`) runs on fastsio without an
edit; python-socketio's client classes stay python-socketio's."""
import asyncio

import pytest
import socketio


async def connect(url, **kw):
    client = socketio.AsyncClient(reconnection=False)
    got = asyncio.Queue()
    client.on("shout", lambda data: got.put_nowait(data))
    await client.connect(url, transports=["websocket"], **kw)
    return client, got


async def test_serve_swaps_socketio(start_server):
    server = start_server("fastsio", "tests.apps.swap_app:app", serve_args=[])
    client, _ = await connect(server.url)
    try:
        info = await client.call("impl", timeout=5)
        assert info["server"] == "fastsio.server"
        assert info["packet"] == "fastsio.packet"
        assert info["client"] == "socketio.async_client"     # python-socketio's own
        with pytest.raises(socketio.exceptions.ConnectionError):
            await connect(server.url, auth={"refuse": True})
    finally:
        await client.disconnect()


async def test_serve_no_swap_keeps_python_socketio(start_server):
    server = start_server("fastsio", "tests.apps.swap_app:app", serve_args=["--no-swap"])
    client, _ = await connect(server.url)
    try:
        info = await client.call("impl", timeout=5)
        assert info["server"] == "socketio.async_server"
    finally:
        await client.disconnect()


async def test_serve_workers_share_redis(start_server, redis_server):
    """Two uvicorn workers (spawned interpreters) both swapped, sharing Redis:
    an emit handled by one worker reaches clients of both."""
    server = start_server("fastsio", "tests.apps.swap_app:app",
                          env={"REDIS_URL": redis_server.url}, serve_args=["--workers", "2"])
    by_pid = {}
    spare = []
    try:
        # the second worker may still be starting when the port first answers:
        # connect until a client sits on each worker (bounded)
        deadline = asyncio.get_running_loop().time() + 30
        while len(by_pid) < 2:
            assert asyncio.get_running_loop().time() < deadline, "only one worker answered"
            client, got = await connect(server.url)
            info = await client.call("impl", timeout=5)
            assert info["server"] == "fastsio.server"
            assert info["manager"] == "fastsio.redis_manager"
            if info["pid"] in by_pid:
                spare.append(client)
                await asyncio.sleep(0.2)
            else:
                by_pid[info["pid"]] = (client, got)
        clients = list(by_pid.values())
        await clients[0][0].call("shout", "hello", timeout=5)
        for _, got in clients:
            assert await asyncio.wait_for(got.get(), 5) == "hello"
    finally:
        for client in [c for c, _ in by_pid.values()] + spare:
            await client.disconnect()
