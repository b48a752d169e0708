"""FastAPI app shaped like Open WebUI for tests/test_native_uvicorn.py.

A fastsio AsyncServer mounted at /ws (socketio_path="/ws/socket.io", as Open
WebUI mounts it), an ordinary FastAPI websocket route /ws/echo, and HTTP
routes: /health, /loop (the event loop's module), /native_stats (sio.eio.native_stats(), or "missing" while
the engine has none), /echo_closes (close codes /ws/echo saw).

cors_allowed_origins: ["http://ok.test"].
"""
import asyncio

from fastapi import FastAPI, WebSocket

from tests.apps.impl import socketio

app = FastAPI()
sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=["http://ok.test"])
# sid -> what its connect handler saw of environ["asgi.scope"]
scopes = {}
echo_closes = []


def _text(value):
    return value.decode("latin-1") if isinstance(value, bytes) else value


@sio.event
async def connect(sid, environ, auth=None):
    # asyncio.timeout needs the handler to run in a task of its own
    async with asyncio.timeout(5):
        await asyncio.sleep(0)
    scope = environ["asgi.scope"]
    scopes[sid] = {
        "type": scope["type"],
        "scheme": scope.get("scheme"),
        "path": scope["path"],
        "root_path": scope.get("root_path"),
        "query_string": _text(scope["query_string"]),
        "headers": [[_text(n), _text(v)] for n, v in scope["headers"]],
        "client": list(scope["client"]) if scope.get("client") else None,
        "server": list(scope["server"]) if scope.get("server") else None,
        "app_is_app": scope.get("app") is app,
        "adopt_extension": "fastsio.adopt" in scope.get("extensions", {}),
    }


@sio.event
async def disconnect(sid, reason=None):
    scopes.pop(sid, None)
    # the shutdown test reads these lines in the server's output
    print(f"disconnect handler: {sid} {reason}", flush=True)


@sio.event
async def echo(sid, data):
    return data


@sio.event
async def timed(sid, seconds):
    """Times out inside the handler's own task: ("timeout", still here)."""
    try:
        async with asyncio.timeout(0.05):
            await asyncio.sleep(seconds)
    except TimeoutError:
        return "timeout"
    return "done"


@sio.event
async def shout(sid, data):
    await sio.emit("shout", data)
    return "ok"


@sio.event
async def scope(sid):
    return scopes.get(sid)


@sio.event
async def transport(sid):
    return sio.transport(sid)


@app.get("/health")
async def health():
    return {"ok": True}


@app.get("/loop")
async def loop_class():
    """The module of the running event loop's class (asyncio or uvloop)."""
    return {"loop": type(asyncio.get_running_loop()).__module__}


@app.get("/native_stats")
async def native_stats():
    stats = getattr(sio.eio, "native_stats", None)
    return {"stats": stats() if stats is not None else "missing"}


@app.get("/echo_closes")
async def get_echo_closes():
    return echo_closes


# declared before the mount: Starlette tries routes in order and /ws matches it
@app.websocket("/ws/echo")
async def echo_route(ws: WebSocket):
    await ws.accept(subprotocol=ws.scope["subprotocols"][0] if ws.scope["subprotocols"] else None)
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            echo_closes.append(msg.get("code"))
            return
        if msg.get("text") is not None:
            text = msg["text"]
            if text.startswith("close:"):
                await ws.close(code=int(text[6:]), reason="bye")
                return
            await ws.send_text("echo:" + text)
        else:
            await ws.send_bytes(b"echo:" + msg["bytes"])


app.mount("/ws", socketio.ASGIApp(sio, socketio_path="/ws/socket.io"))
