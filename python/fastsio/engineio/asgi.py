"""ASGIApp for a fastsio.engineio.AsyncServer: python-engineio's signature
(engineio_path, default "engine.io") over fastsio.asgi.ASGIApp's routing,
static files and lifespan, which serve any server with handle_request."""
from .. import asgi


class ASGIApp(asgi.ASGIApp):
    """ASGI application serving Engine.IO at engineio_path.

    Other HTTP traffic goes to other_asgi_app (404 without one); with
    engineio_path=None every request goes to the Engine.IO server.
    """

    def __init__(self, engineio_server, other_asgi_app=None, static_files=None,
                 engineio_path="engine.io", on_startup=None, on_shutdown=None):
        super().__init__(engineio_server, other_asgi_app=other_asgi_app,
                         static_files=static_files, socketio_path=engineio_path,
                         on_startup=on_startup, on_shutdown=on_shutdown)
