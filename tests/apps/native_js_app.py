"""tests/apps/js_app.py (the JS client's app, Socket.IO at /socket.io/) plus
GET /native_stats (sio.eio.native_stats() as JSON), for the JS client through
fastsio.uvicorn:WebSocketProtocol in tests/test_native_uvicorn.py."""
import json

from tests.apps.js_app import app as js_app, sio


async def app(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/native_stats":
        stats = getattr(sio.eio, "native_stats", None)
        body = json.dumps({"stats": stats() if stats is not None else "missing"}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
        return
    await js_app(scope, receive, send)
