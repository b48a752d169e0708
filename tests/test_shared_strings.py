"""fastsio.engine.shared: equal request strings held once across connections,
within its bounds (the idle-connection memory figure in benchmarks/README.md
depends on it), and the environ a websocket request gets with it."""
import asyncio

from fastsio.engine import shared
from fastsio.engine.environ import NO_BODY, translate_request


def fresh(b):
    """An equal bytes object that is not b itself."""
    return bytes(bytearray(b))

def test_equal_values_share_one_object():
    table = shared.SharedStrings()
    a = table(fresh(b"Mozilla/5.0 (X11; Linux x86_64)"))
    b = table(fresh(b"Mozilla/5.0 (X11; Linux x86_64)"))
    assert a == b and a is b

def test_bounds():
    table = shared.SharedStrings()
    long = fresh(b"x" * (shared.MAX_VALUE + 1))
    assert table(long) is long and len(table.table) == 0
    for i in range(shared.MAX_ENTRIES):
        table(str(i).encode())
    assert len(table.table) == shared.MAX_ENTRIES
    table(b"one more")
    assert len(table.table) == 1   # emptied when full, then this one

def test_unique_headers_are_not_shared():
    key1 = fresh(b"dGhlIHNhbXBsZSBub25jZQ==")
    name, value = shared.header(b"Sec-WebSocket-Key", key1)
    assert name == b"sec-websocket-key" and value is key1
    n1, v1 = shared.header(fresh(b"Origin"), fresh(b"http://ok.test"))
    n2, v2 = shared.header(fresh(b"ORIGIN"), fresh(b"http://ok.test"))
    assert n1 is n2 and n1 == b"origin" and v1 is v2

def test_environ_key():
    assert shared.environ_key(b"x-forwarded-proto") == "HTTP_X_FORWARDED_PROTO"
    assert shared.environ_key(fresh(b"user-agent")) is shared.environ_key(b"user-agent")

def scope(headers):
    return {"type": "websocket", "path": "/socket.io/", "query_string": b"EIO=4",
            "client": ("127.0.0.1", 5000), "headers": headers}

async def environ_of(headers):
    async def receive():
        return {"type": "websocket.connect"}
    return await translate_request(scope(headers), receive, None)

def test_websocket_environ_unchanged_and_shared():
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"ua"), (b"cookie", b"a=1"),
               (b"content-type", b"text/plain"), (b"accept", b"a"), (b"accept", b"b")]
    e1 = asyncio.run(environ_of([(fresh(n), fresh(v)) for n, v in headers]))
    e2 = asyncio.run(environ_of([(fresh(n), fresh(v)) for n, v in headers]))
    assert e1["HTTP_HOST"] == "127.0.0.1:8000" and e1["HTTP_USER_AGENT"] == "ua"
    assert e1["HTTP_COOKIE"] == "a=1" and e1["CONTENT_TYPE"] == "text/plain"
    assert e1["HTTP_ACCEPT"] == "a,b" and "HTTP_CONTENT_TYPE" not in e1
    assert e1["REMOTE_ADDR"] == "127.0.0.1" and e1["REMOTE_PORT"] == "5000"
    assert e1["HTTP_USER_AGENT"] is e2["HTTP_USER_AGENT"]
    assert e1["REMOTE_ADDR"] is e2["REMOTE_ADDR"]
    assert [k for k in e1 if k.startswith("HTTP_")] == \
        ["HTTP_HOST", "HTTP_USER_AGENT", "HTTP_COOKIE", "HTTP_ACCEPT"]
    assert e1["wsgi.input"] is NO_BODY
    assert asyncio.run(NO_BODY.read()) == b""

def test_http_request_keeps_its_body():
    async def go():
        events = [{"type": "http.request", "body": b"4hi", "more_body": True},
                  {"type": "http.request", "body": b"!", "more_body": False}]

        async def receive():
            return events.pop(0)
        environ = await translate_request(dict(scope([]), type="http", method="POST"),
                                          receive, None)
        return await environ["wsgi.input"].read()
    assert asyncio.run(go()) == b"4hi!"
