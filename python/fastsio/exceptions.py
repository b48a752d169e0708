"""Exceptions raised by fastsio, with python-socketio's names and behaviour."""


class SocketIOError(Exception):
    pass


class ConnectionError(SocketIOError):
    pass


class ConnectionRefusedError(ConnectionError):
    """Raise from a connect handler to refuse the connection.

    The first positional argument becomes the error message; a second one is
    sent as ``data``, and more than two are sent together as a list.
    """

    def __init__(self, *args):
        super().__init__(*args)
        message = str(args[0]) if args else "Connection rejected by server"
        self.error_args = {"message": message}
        if len(args) == 2:
            self.error_args["data"] = args[1]
        elif len(args) > 2:
            self.error_args["data"] = args[1:]


class TimeoutError(SocketIOError):
    pass


class BadNamespaceError(SocketIOError):
    pass


class DisconnectedError(SocketIOError):
    pass
