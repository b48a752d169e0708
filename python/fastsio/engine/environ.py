"""The WSGI-style environ of an ASGI request, as python-engineio builds it.

Every request path reads the request through this environ; the ASGI
receive/send/scope ride along in it (`asgi.*`) for the transport that answers.
The request body is read on demand (`wsgi.input`), by the polling POST only.

Thread: the asyncio loop that serves the ASGI app.
"""


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
        "wsgi.input": _Body(event, receive),
        "wsgi.version": (1, 0),
        "wsgi.async": True,
        "SERVER_SOFTWARE": "asgi",
        "REQUEST_METHOD": scope.get("method", "GET"),
        "PATH_INFO": path,
        "QUERY_STRING": query_string,
        "RAW_URI": raw_uri,
        "SCRIPT_NAME": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "SERVER_NAME": "asgi",
        "SERVER_PORT": "0",
        "asgi.receive": receive,
        "asgi.send": send,
        "asgi.scope": scope,
    }
    for name, value in scope.get("headers", ()):
        try:
            name = name.decode("latin-1").upper()
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if name == "CONTENT-TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "CONTENT-LENGTH":
            environ["CONTENT_LENGTH"] = value
            continue
        key = "HTTP_" + name.replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    environ["wsgi.url_scheme"] = environ.get("HTTP_X_FORWARDED_PROTO", "http")
    return environ
