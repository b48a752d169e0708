"""HTTP answers of the Engine.IO server, as python-engineio gives them.

An answer is an HTTPResponse built by the request paths, then compressed and
sent by `respond`; CORS headers, origin checks, the JSONP wrapping and the sid
cookie are decided here from the server's options and the request's environ.
Functions take the EngineServer (`engine`) for its options; they keep no
state of their own.

Thread: the asyncio loop that serves the ASGI app.
"""
import gzip
import zlib


class HTTPResponse:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body


def bad_request(engine, message=None):
    body = engine.json_dumps(message if message is not None else "Bad Request")
    return HTTPResponse(400, [("Content-Type", "text/plain")], body.encode("utf-8"))


def ok_text(body, headers=None, jsonp_index=None):
    if jsonp_index is not None:
        body = "___eio[" + str(jsonp_index) + ']("' + body.replace('"', '\\"') + '");'
    return HTTPResponse(200, (headers or []) + [("Content-Type", "text/plain; charset=UTF-8")],
                        body.encode("utf-8"))


def ok(body="OK"):
    return HTTPResponse(200, [("Content-Type", "text/plain")], body.encode("ascii"))


def method_not_found():
    return HTTPResponse(405, [("Content-Type", "text/plain")], b"Method Not Found")


# -- CORS --

def cors_allowed_origins(engine, environ):
    """The accepted origins for this request; None accepts any."""
    allowed = engine.cors_allowed_origins
    if allowed is None:
        origins = []
        if "wsgi.url_scheme" in environ and "HTTP_HOST" in environ:
            origins.append(f"{environ['wsgi.url_scheme']}://{environ['HTTP_HOST']}")
            if "HTTP_X_FORWARDED_PROTO" in environ or "HTTP_X_FORWARDED_HOST" in environ:
                scheme = environ.get("HTTP_X_FORWARDED_PROTO",
                                     environ["wsgi.url_scheme"]).split(",")[0].strip()
                host = environ.get("HTTP_X_FORWARDED_HOST",
                                   environ["HTTP_HOST"]).split(",")[0].strip()
                origins.append(f"{scheme}://{host}")
        return origins
    if allowed == "*":
        return None
    if isinstance(allowed, str):
        return [allowed]
    if callable(allowed):
        origin = environ.get("HTTP_ORIGIN")
        try:
            accepted = allowed(origin, environ)
        except TypeError:
            accepted = allowed(origin)
        return [origin] if accepted else []
    if "*" in allowed:
        return None
    return allowed


def origin_error(engine, environ):
    """The 400 answer for a request from an origin not accepted, else None."""
    if engine.cors_allowed_origins != []:
        origin = environ.get("HTTP_ORIGIN")
        if origin:
            allowed = cors_allowed_origins(engine, environ)
            if allowed is not None and origin not in allowed:
                engine.log_error_once(origin + " is not an accepted origin.", "bad-origin")
                return bad_request(engine, origin + " is not an accepted origin.")
    return None


def cors_headers(engine, environ):
    if engine.cors_allowed_origins == []:
        return []
    headers = []
    allowed = cors_allowed_origins(engine, environ)
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None and (allowed is None or origin in allowed):
        headers.append(("Access-Control-Allow-Origin", origin))
    if environ["REQUEST_METHOD"] == "OPTIONS":
        headers.append(("Access-Control-Allow-Methods", "OPTIONS, GET, POST"))
    if "HTTP_ACCESS_CONTROL_REQUEST_HEADERS" in environ:
        headers.append(("Access-Control-Allow-Headers",
                        environ["HTTP_ACCESS_CONTROL_REQUEST_HEADERS"]))
    if engine.cors_credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    return headers


# -- cookie --

def cookie_headers(engine, sid):
    """The Set-Cookie header of a polling handshake, or None without cookie=."""
    if not engine.cookie:
        return None
    attrs = engine.cookie if isinstance(engine.cookie, dict) else {
        "name": engine.cookie, "path": "/", "SameSite": "Lax"}
    return [("Set-Cookie", sid_cookie(sid, attrs))]


def sid_cookie(sid, attrs):
    cookie = attrs.get("name", "io") + "=" + sid
    for key, value in attrs.items():
        if key == "name":
            continue
        if callable(value):
            value = value()
        cookie += "; " + key if value is True else "; " + key + "=" + value
    return cookie


# -- sending --

def compress(engine, r, environ):
    if not engine.http_compression or len(r.body) < engine.compression_threshold:
        return
    for enc in environ.get("HTTP_ACCEPT_ENCODING", "").split(","):
        enc = enc.split(";")[0].strip()
        if enc == "gzip":
            r.body = gzip.compress(r.body)
        elif enc == "deflate":
            r.body = zlib.compress(r.body)
        else:
            continue
        r.headers.append(("Content-Encoding", enc))
        return


async def respond(engine, r, environ, send):
    """Sends r over ASGI; on a websocket scope, 200 accepts and others close."""
    headers = [(k.encode("utf-8"), v.encode("utf-8"))
               for k, v in r.headers + cors_headers(engine, environ)]
    if environ["asgi.scope"]["type"] == "websocket":
        if r.status == 200:
            await send({"type": "websocket.accept", "headers": headers})
        elif r.body:
            await send({"type": "websocket.close", "reason": r.body.decode("utf-8")})
        else:
            await send({"type": "websocket.close"})
        return
    await send({"type": "http.response.start", "status": r.status, "headers": headers})
    await send({"type": "http.response.body", "body": r.body})
