"""Class-based namespaces: AsyncNamespace, as in python-socketio."""
from .handlers import invoke_handler


class AsyncNamespace:
    """Groups the handlers of one namespace as ``on_<event>`` methods."""

    def __init__(self, namespace=None):
        self.namespace = namespace or "/"
        self.server = None

    def _set_server(self, server):
        self.server = server

    def is_asyncio_based(self):
        return True

    async def trigger_event(self, event, *args):
        """Runs ``on_<event>``; returns its result, or None without one.

        A disconnect handler written without the reason argument is called
        without it.
        """
        handler = getattr(self, "on_" + (event or ""), None)
        if handler is None:
            return None
        return await invoke_handler(handler, event, args)

    def rooms(self, sid, namespace=None):
        return self.server.rooms(sid, namespace=namespace or self.namespace)

    async def emit(self, event, data=None, to=None, room=None, skip_sid=None,
                   namespace=None, callback=None, ignore_queue=False):
        return await self.server.emit(
            event, data=data, to=to, room=room, skip_sid=skip_sid,
            namespace=namespace or self.namespace, callback=callback,
            ignore_queue=ignore_queue)

    async def send(self, data, to=None, room=None, skip_sid=None, namespace=None,
                   callback=None, ignore_queue=False):
        return await self.server.send(
            data, to=to, room=room, skip_sid=skip_sid,
            namespace=namespace or self.namespace, callback=callback,
            ignore_queue=ignore_queue)

    async def call(self, event, data=None, to=None, sid=None, namespace=None,
                   timeout=None, ignore_queue=False):
        return await self.server.call(
            event, data=data, to=to, sid=sid, namespace=namespace or self.namespace,
            timeout=timeout, ignore_queue=ignore_queue)

    async def enter_room(self, sid, room, namespace=None):
        return await self.server.enter_room(sid, room, namespace=namespace or self.namespace)

    async def leave_room(self, sid, room, namespace=None):
        return await self.server.leave_room(sid, room, namespace=namespace or self.namespace)

    async def close_room(self, room, namespace=None):
        return await self.server.close_room(room, namespace=namespace or self.namespace)

    async def get_session(self, sid, namespace=None):
        return await self.server.get_session(sid, namespace=namespace or self.namespace)

    async def save_session(self, sid, session, namespace=None):
        return await self.server.save_session(
            sid, session, namespace=namespace or self.namespace)

    def session(self, sid, namespace=None):
        return self.server.session(sid, namespace=namespace or self.namespace)

    async def disconnect(self, sid, namespace=None):
        return await self.server.disconnect(sid, namespace=namespace or self.namespace)
