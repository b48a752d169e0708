"""ASGIApp: mounts an AsyncServer in any ASGI server (uvicorn, hypercorn...)."""
import inspect
import os
import weakref

from .static_files import get_static_file

# Every live ASGIApp (weakly held): fastsio.uvicorn asks claims_websocket()
# which websocket upgrades a fastsio engine will serve. Loop thread only.
_live_apps = weakref.WeakSet()


def claims_websocket(path):
    """True when a live fastsio ASGIApp routes the request path `path` (the
    full path, as uvicorn puts it in scope["path"]: root_path + the unquoted
    request path) to its engine, by the rule of ASGIApp._is_socketio_path."""
    if not path.endswith("/"):
        path += "/"
    for app in list(_live_apps):
        prefix = app.engineio_path
        if prefix is None or path.startswith(prefix):
            return True
    return False


class ASGIApp:
    """ASGI application serving Socket.IO at socketio_path.

    Other HTTP traffic goes to other_asgi_app (404 without one); static_files
    maps URL paths to files as in python-socketio. With socketio_path=None
    every request goes to Socket.IO. Lifespan events call on_startup and
    on_shutdown, or are passed to other_asgi_app when neither is given.
    """

    def __init__(self, socketio_server, other_asgi_app=None, static_files=None,
                 socketio_path="socket.io", on_startup=None, on_shutdown=None):
        self.engineio_server = socketio_server
        self.other_asgi_app = other_asgi_app
        path = socketio_path
        if path is not None:
            if not path.startswith("/"):
                path = "/" + path
            if not path.endswith("/"):
                path += "/"
        self.engineio_path = path
        self.static_files = static_files or {}
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        _live_apps.add(self)

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "lifespan":
            await self.lifespan(scope, receive, send)
            return
        if kind in ("http", "websocket") and self._is_socketio_path(scope):
            await self.engineio_server.handle_request(scope, receive, send)
            return
        static_file = (get_static_file(scope["path"], self.static_files)
                       if kind == "http" and self.static_files else None)
        if static_file and os.path.exists(static_file["filename"]):
            await self.serve_static_file(static_file, receive, send)
        elif self.other_asgi_app is not None:
            await self.other_asgi_app(scope, receive, send)
        elif kind == "websocket":
            await receive()
            await send({"type": "websocket.close"})
        else:
            await self.not_found(receive, send)

    def _is_socketio_path(self, scope):
        if self.engineio_path is None:
            return True
        path = scope["path"]
        if not path.endswith("/"):
            path += "/"
        return path.startswith(self.engineio_path)

    async def serve_static_file(self, static_file, receive, send):
        event = await receive()
        if event["type"] != "http.request":
            return
        with open(static_file["filename"], "rb") as f:
            body = f.read()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"Content-Type",
                                 static_file["content_type"].encode("utf-8"))]})
        await send({"type": "http.response.body", "body": body})

    async def lifespan(self, scope, receive, send):
        if self.other_asgi_app is not None and self.on_startup is None \
                and self.on_shutdown is None:
            await self.other_asgi_app(scope, receive, send)
            return
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                if not await self._run_hook(self.on_startup):
                    await send({"type": "lifespan.startup.failed"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                if not await self._run_hook(self.on_shutdown):
                    await send({"type": "lifespan.shutdown.failed"})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _run_hook(hook):
        if hook is None:
            return True
        try:
            ret = hook()
            if inspect.isawaitable(ret):
                await ret
        except Exception:
            return False
        return True

    async def not_found(self, receive, send):
        await send({"type": "http.response.start", "status": 404,
                    "headers": [(b"Content-Type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"Not Found"})
