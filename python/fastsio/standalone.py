"""A listener of its own for a fastsio AsyncServer: `sio.serve_native(...)`.

    await sio.serve_native(host="0.0.0.0", port=8000, path="/socket.io/",
                           ssl_cert=None, ssl_key=None)
    python -m fastsio serve-native MODULE:SIO [--host H] [--port P] [--path /socket.io/]
                                   [--ssl-cert CERT --ssl-key KEY] [--log-level L]

For deployments that give Socket.IO traffic a port of its own, with no ASGI
application around the server. The listener serves only `path`: the
Engine.IO handshake, HTTP long-polling, and websockets, each websocket (new,
or the upgrade of a polling session) handed to the native transport's C
thread as under `python -m fastsio serve` (fastsio/uvicorn.py). The HTTP side
is uvicorn's (httptools or h11), running `ASGIApp(sio, socketio_path=path)`;
anything else on the port is refused (404; a websocket elsewhere: 403).

TLS (ssl_cert and ssl_key, PEM files; ssl_key may be omitted when the
certificate file holds the key): terminated by uvicorn, which then holds the
connection's TLS state, so websockets on a TLS listener are served by
uvicorn's websocket implementation on the asyncio loop rather than the C
thread (docs/architecture.md, "Native transport"). Everything else, and every
Socket.IO answer, is the same as without TLS.

serve_native runs until the process gets SIGINT or SIGTERM, or until the
task awaiting it is cancelled. On a signal it stops accepting, closes every
Engine.IO session (the disconnect handlers run with reason "server
disconnect"; a pending long-poll is answered, websockets are closed), then
lets uvicorn close its connections. It must run on the main thread's loop
when signals are to stop it.

Thread: the asyncio loop that awaits serve_native.
"""
import os

# the uvicorn websocket class that hands fastsio's websockets to the C thread
NATIVE_WS = "fastsio.uvicorn:WebSocketProtocol"


def _uvicorn():
    try:
        import uvicorn
    except ImportError:
        raise RuntimeError("serve_native needs uvicorn: pip install 'fastsio[serve]'") from None
    return uvicorn


def config(sio, host="0.0.0.0", port=8000, path="/socket.io/", ssl_cert=None, ssl_key=None,
           log_level="info", **uvicorn_options):
    """The uvicorn.Config serve_native runs (for callers that run the
    uvicorn.Server themselves). uvicorn_options: any other uvicorn.Config
    argument (backlog, limit_concurrency, timeout_keep_alive...)."""
    from .asgi import ASGIApp

    if not path or not isinstance(path, str):
        raise ValueError("path must be a non-empty string such as '/socket.io/'")
    if ssl_key is not None and ssl_cert is None:
        raise ValueError("ssl_key needs ssl_cert")
    for name, f in (("ssl_cert", ssl_cert), ("ssl_key", ssl_key)):
        if f is not None and not os.path.isfile(f):
            raise FileNotFoundError(f"{name}: no such file: {f}")
    for fixed in ("app", "ws", "lifespan"):
        if fixed in uvicorn_options:
            raise TypeError(f"serve_native sets uvicorn's {fixed!r} itself")
    app = ASGIApp(sio, socketio_path=path)
    return _uvicorn().Config(app, host=host, port=port, ws=NATIVE_WS, lifespan="off",
                             ssl_certfile=ssl_cert, ssl_keyfile=ssl_key,
                             log_level=log_level, **uvicorn_options)


async def serve_native(sio, host="0.0.0.0", port=8000, path="/socket.io/", ssl_cert=None,
                       ssl_key=None, log_level="info", **uvicorn_options):
    """Serves sio on host:port until SIGINT/SIGTERM or cancellation (module
    docstring)."""
    cfg = config(sio, host=host, port=port, path=path, ssl_cert=ssl_cert, ssl_key=ssl_key,
                 log_level=log_level, **uvicorn_options)
    await _server_class()(cfg, sio).serve()


def _server_class():
    uvicorn = _uvicorn()

    class Server(uvicorn.Server):
        """uvicorn's server, closing every Engine.IO session when it shuts
        down, before it waits for its connections: a pending long-poll is
        answered at once instead of holding the shutdown up to a ping
        interval."""

        def __init__(self, config, sio):
            super().__init__(config)
            self.sio = sio

        async def shutdown(self, sockets=None):
            for server in self.servers:
                server.close()   # no new connection while the sessions close
            try:
                await self.sio.eio.disconnect_all()
            except Exception:
                uvicorn.config.logger.exception("fastsio: closing the sessions failed")
            await super().shutdown(sockets)

    return Server
