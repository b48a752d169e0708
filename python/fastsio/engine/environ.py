"""The WSGI-style environ of an ASGI request, as python-engineio builds it.

Every request path reads the request through this environ; the ASGI
receive/send/scope ride along in it (`asgi.*`) for the transport that answers.
The request body is read on demand (`wsgi.input`), by the polling POST only.

Thread: the asyncio loop that serves the ASGI app.
"""
from . import shared


class _Body:
    """The request body, read on demand from ASGI http.request events."""

    def __init__(self, first_event, receive):
        self.event = first_event
        self.receive = receive
        self.payload = None

    async def read(self, length=None):
        if self.payload is None:
            chunks = [self.event.get("body") or b""]
            event = self.event
            size = len(chunks[0])
            while event.get("more_body"):
                event = await self.receive()
                if event["type"] != "http.request":
                    break
                if length is None or size < length:
                    chunk = event.get("body") or b""
                    chunks.append(chunk)
                    size += len(chunk)
            self.payload = b"".join(chunks)
        if length is None:
            data, self.payload = self.payload, b""
        else:
            data, self.payload = self.payload[:length], self.payload[length:]
        return data


class _NoBody:
    """wsgi.input of a websocket request: no body, shared by all of them."""

    __slots__ = ()
    receive = None

    async def read(self, length=None):
        return b""


NO_BODY = _NoBody()


async def translate_request(scope, receive, send):
    """A WSGI-style environ for an ASGI request, as python-engineio builds it."""
    event = await receive()
    if event["type"] not in ("http.request", "websocket.connect"):
        return None
    path = scope["path"]
    query_string = ""
    raw_uri = path
    if scope.get("query_string"):
        try:
            query_string = scope["query_string"].decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            raw_uri += "?" + query_string
    client = scope.get("client") or ("127.0.0.1", 0)
    environ = {
        "wsgi.input": _Body(event, receive) if event["type"] == "http.request" else NO_BODY,
        "wsgi.version": (1, 0),
        "wsgi.async": True,
        "SERVER_SOFTWARE": "asgi",
        "REQUEST_METHOD": scope.get("method", "GET"),
        "PATH_INFO": path,
        "QUERY_STRING": query_string,
        "RAW_URI": raw_uri,
        "SCRIPT_NAME": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": shared.hosts(str(client[0])),
        "REMOTE_PORT": str(client[1]),
        "SERVER_NAME": "asgi",
        "SERVER_PORT": "0",
        "asgi.receive": receive,
        "asgi.send": send,
        "asgi.scope": scope,
    }
    for name, value in scope.get("headers", ()):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            continue
        lname = name.lower()
        if lname not in shared.UNIQUE:
            value = shared.environ_values(value)
        if lname == b"content-type":
            environ["CONTENT_TYPE"] = value
            continue
        if lname == b"content-length":
            environ["CONTENT_LENGTH"] = value
            continue
        key = shared.environ_key(lname)
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    environ["wsgi.url_scheme"] = environ.get("HTTP_X_FORWARDED_PROTO", "http")
    return environ
