"""HTTP-level behaviour: status, body, content-type and CORS headers for bad
requests, origins, preflight, oversized payloads, non-Socket.IO paths and the
FastAPI-mounted variant.

test_http[python-socketio-<case>] checks the reference against the literal
EXPECTED[<case>]; test_http[fastsio-<case>] runs the same request against
the reference and fastsio in the same test and requires both results to be
identical (and equal to the literal).
"""
import asyncio

import httpx
import pytest
import websockets

from tests.conftest import ServerProcess

APP = "tests.apps.basic:app"
T = 5
RECORDED_HEADERS = ["content-type", "access-control-allow-origin",
                    "access-control-allow-credentials", "access-control-allow-methods",
                    "access-control-allow-headers"]
SIO = "/socket.io/"

CORS_LIST = {"APP_CORS": '["http://ok.test", "https://also.test"]'}
CORS_STAR = {"APP_CORS": '"*"'}
CORS_NO_CREDS = {"APP_CORS": '["http://ok.test"]', "APP_CORS_CREDENTIALS": "0"}
SMALL_BUFFER = {"APP_MAX_BUFFER": "1000"}
OTHER = {"APP_OTHER": "1"}
MOUNT = {"APP_MOUNT": "1"}


@pytest.fixture(scope="module")
def servers():
    """Servers started on demand, one per (impl, env), shared by the module."""
    started = {}

    def get(impl, env):
        key = (impl, tuple(sorted((env or {}).items())))
        if key not in started:
            # fastsio with python-socketio's answers: this module compares the
            # two byte for byte (tests/test_conformance.py pins fastsio's
            # default answers)
            full_env = dict(env or {}, APP_COMPAT="1") if impl == "fastsio" else env
            started[key] = ServerProcess(impl, APP, full_env)
        return started[key]

    yield get
    for s in started.values():
        s.stop()


def summary(r):
    out = {"status": r.status_code, "body": r.text}
    for h in RECORDED_HEADERS:
        if h in r.headers:
            out[h] = r.headers[h]
    return out


async def request(server, method, path, headers=None, body=None):
    async with httpx.AsyncClient() as h:
        r = await h.request(method, server.url + path, headers=headers, content=body,
                            timeout=T)
    return summary(r)


async def open_session(h, server, path=SIO):
    r = await h.get(f"{server.url}{path}?EIO=4&transport=polling", timeout=T)
    assert r.status_code == 200 and r.text.startswith("0{"), r.text
    import json
    return json.loads(r.text[1:])["sid"]


# --------------------------------------------------------------- case bodies

def simple(method, path, headers=None, body=None):
    async def run(server):
        return await request(server, method, path, headers, body)
    return run


async def post_no_sid(server):
    return await request(server, "POST", SIO + "?EIO=4&transport=polling", body="40")


async def oversized_post(server):
    """POST larger than max_http_buffer_size: the session is closed.

    python-engineio never answers that POST itself (its close() waits for the
    CLOSE packet to be polled, and the poll is refused because the session is
    already closed), so only "not accepted" is required of the POST, and the
    session must be gone afterwards."""
    async with httpx.AsyncClient() as h:
        sid = await open_session(h, server)
        url = f"{server.url}{SIO}?EIO=4&transport=polling&sid={sid}"
        small = summary(await h.post(url, content="40", timeout=T))
        get = summary(await h.get(url, timeout=T))
        big = asyncio.ensure_future(
            h.post(url, content='42["x","' + "a" * 2000 + '"]', timeout=1.5))
        await asyncio.sleep(0.3)
        get2 = summary(await h.get(url, timeout=T))
        try:
            big = "accepted" if (await big).status_code == 200 else "rejected"
        except httpx.TimeoutException:
            big = "rejected"
        await asyncio.sleep(0.3)
        after = summary(await h.get(url, timeout=T))
        post_after = summary(await h.post(url, content='42["x"]', timeout=T))
    get["body"] = get["body"][:2]
    for r in (after, post_after):
        r["body"] = r["body"].replace(sid, "<SID>")
    return {"small": small, "get": get, "get2_status": get2["status"], "big": big,
            "after": after, "post_after": post_after}


async def oversized_ws_message(server):
    """A websocket message larger than max_http_buffer_size ends the session."""
    ws = await websockets.connect(f"ws://127.0.0.1:{server.port}{SIO}?EIO=4&transport=websocket")
    frames = [await asyncio.wait_for(ws.recv(), T)]
    await ws.send("40")
    frames.append(await asyncio.wait_for(ws.recv(), T))
    await ws.send('42["x","' + "a" * 2000 + '"]')
    try:
        while True:
            frames.append(await asyncio.wait_for(ws.recv(), T))
    except websockets.ConnectionClosed:
        closed = "closed"
    except asyncio.TimeoutError:
        closed = "still open"
    await ws.close()
    return {"frames": [f[:2] for f in frames], "end": closed}


def ws_origin(origin):
    async def run(server):
        headers = {"Origin": origin} if origin else {}
        try:
            ws = await websockets.connect(
                f"ws://127.0.0.1:{server.port}{SIO}?EIO=4&transport=websocket",
                additional_headers=headers)
        except websockets.InvalidStatus as exc:
            r = exc.response
            return {"status": r.status_code, "body": r.body.decode("utf-8", "replace")}
        first = await asyncio.wait_for(ws.recv(), T)
        await ws.close()
        return {"status": 101, "first": first[:8]}
    return run


def polling_open(headers=None, path=SIO):
    """The handshake GET; the random sid is cut out of the body."""
    async def run(server):
        r = await request(server, "GET", path + "?EIO=4&transport=polling", headers)
        if r["status"] == 200:
            import json
            body = json.loads(r["body"][1:])
            body["sid"] = "<SID>"
            r["body"] = body
        return r
    return run


async def mounted_session(server):
    """A whole polling session through the FastAPI mount."""
    async with httpx.AsyncClient() as h:
        sid = await open_session(h, server, "/ws/socket.io/")
        url = f"{server.url}/ws/socket.io/?EIO=4&transport=polling&sid={sid}"
        post = summary(await h.post(url, content="40", timeout=T))
        get = summary(await h.get(url, timeout=T))
        await h.post(url, content='421["environ"]', timeout=T)
        env = summary(await h.get(url, timeout=T))
    get["body"] = get["body"][:2]
    env["body"] = env["body"].replace(sid, "<SID>")
    return {"post": post, "get": get, "environ": env}


ORIGIN_OK = {"Origin": "http://ok.test"}
ORIGIN_BAD = {"Origin": "http://evil.test"}

CASES = {
    # protocol errors
    "no_eio": (None, simple("GET", SIO + "?transport=polling")),
    "eio3": (None, simple("GET", SIO + "?EIO=3&transport=polling")),
    "bad_transport": (None, simple("GET", SIO + "?EIO=4&transport=carrier-pigeon")),
    "unknown_sid_get": (None, simple("GET", SIO + "?EIO=4&transport=polling&sid=nope123")),
    "unknown_sid_post": (None, simple("POST", SIO + "?EIO=4&transport=polling&sid=nope123",
                                      body="40")),
    "post_without_sid": (None, post_no_sid),
    "websocket_without_upgrade": (None, simple("GET", SIO + "?EIO=4&transport=websocket")),
    "bad_jsonp_index": (None, simple("GET", SIO + "?EIO=4&transport=polling&j=abc")),
    "method_not_allowed": (None, simple("PUT", SIO + "?EIO=4&transport=polling")),
    "handshake_polling": (None, polling_open()),
    # paths outside socketio_path
    "other_path_404": (None, simple("GET", "/not-socket-io")),
    "other_path_404_post": (None, simple("POST", "/api/thing", body="x")),
    "other_asgi_app": (OTHER, simple("GET", "/elsewhere?q=1")),
    "other_asgi_app_sio_still_works": (OTHER, polling_open()),
    # CORS: default (same origin only)
    "default_cors_foreign_origin": (None, polling_open(ORIGIN_BAD)),
    "default_cors_same_origin": (None, "same-origin"),
    # CORS: a list of origins
    "cors_list_allowed": (CORS_LIST, polling_open(ORIGIN_OK)),
    "cors_list_second_allowed": (CORS_LIST, polling_open({"Origin": "https://also.test"})),
    "cors_list_rejected": (CORS_LIST, polling_open(ORIGIN_BAD)),
    "cors_list_rejected_bad_request_first": (
        CORS_LIST, simple("GET", SIO + "?transport=polling", ORIGIN_BAD)),
    "cors_list_no_origin": (CORS_LIST, polling_open()),
    "cors_list_preflight": (CORS_LIST, simple(
        "OPTIONS", SIO + "?EIO=4&transport=polling",
        {**ORIGIN_OK, "Access-Control-Request-Method": "POST",
         "Access-Control-Request-Headers": "content-type, x-custom"})),
    "cors_list_preflight_rejected": (CORS_LIST, simple(
        "OPTIONS", SIO + "?EIO=4&transport=polling",
        {**ORIGIN_BAD, "Access-Control-Request-Method": "POST"})),
    "cors_list_ws_allowed": (CORS_LIST, ws_origin("http://ok.test")),
    "cors_list_ws_rejected": (CORS_LIST, ws_origin("http://evil.test")),
    "cors_star_any_origin": (CORS_STAR, polling_open({"Origin": "http://whatever.test"})),
    "cors_star_preflight": (CORS_STAR, simple(
        "OPTIONS", SIO + "?EIO=4&transport=polling", {"Origin": "http://whatever.test"})),
    "cors_no_credentials": (CORS_NO_CREDS, polling_open(ORIGIN_OK)),
    "cors_no_credentials_error": (CORS_NO_CREDS, simple("GET", SIO + "?EIO=4&transport=x",
                                                        ORIGIN_OK)),
    # payload limits
    "oversized_post": (SMALL_BUFFER, oversized_post),
    "oversized_ws_message": (SMALL_BUFFER, oversized_ws_message),
    # FastAPI mount at /ws with socketio_path="/ws/socket.io"
    "mounted_handshake": (MOUNT, polling_open(path="/ws/socket.io/")),
    "mounted_session": (MOUNT, mounted_session),
    "mounted_bad_request": (MOUNT, simple("GET", "/ws/socket.io/?transport=polling")),
    "mounted_fastapi_route": (MOUNT, simple("GET", "/health")),
    "mounted_root_socketio_is_404": (MOUNT, simple("GET", "/socket.io/?EIO=4&transport=polling")),
    "mounted_other_path_under_mount": (MOUNT, simple("GET", "/ws/other")),
}


async def run_case(server, name):
    env, fn = CASES[name]
    if fn == "same-origin":
        fn = polling_open({"Origin": server.url})
    return replace_url(await fn(server), server.url)


def replace_url(value, url):
    """The server's own origin (it contains the random port) -> <ORIGIN>."""
    if isinstance(value, str):
        return value.replace(url, "<ORIGIN>")
    if isinstance(value, dict):
        return {k: replace_url(v, url) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_url(v, url) for v in value]
    return value


@pytest.mark.parametrize("case", list(CASES))
async def test_http(impl, case, servers):
    env = CASES[case][0]
    reference = await run_case(servers("python-socketio", env), case)
    if impl == "python-socketio":
        assert reference == EXPECTED[case]
    else:
        got = await run_case(servers(impl, env), case)
        assert got == reference
        assert got == EXPECTED[case]


# Literal results from python-socketio 5.16.2 / python-engineio 4.15.1 behind
# uvicorn. Note: python-engineio adds Access-Control-Allow-Credentials: true
# to every response (cors_credentials defaults to True), origin or not.
EXPECTED = {'no_eio': {'status': 400,
            'body': '"The client is using an unsupported version of the Socket.IO or Engine.IO '
                    'protocols"',
            'content-type': 'text/plain',
            'access-control-allow-credentials': 'true'},
 'eio3': {'status': 400,
          'body': '"The client is using an unsupported version of the Socket.IO or Engine.IO '
                  'protocols"',
          'content-type': 'text/plain',
          'access-control-allow-credentials': 'true'},
 'bad_transport': {'status': 400,
                   'body': '"Invalid transport"',
                   'content-type': 'text/plain',
                   'access-control-allow-credentials': 'true'},
 'unknown_sid_get': {'status': 400,
                     'body': '"Invalid session nope123"',
                     'content-type': 'text/plain',
                     'access-control-allow-credentials': 'true'},
 'unknown_sid_post': {'status': 400,
                      'body': '"Invalid session nope123"',
                      'content-type': 'text/plain',
                      'access-control-allow-credentials': 'true'},
 'post_without_sid': {'status': 400,
                      'body': '"Invalid session None"',
                      'content-type': 'text/plain',
                      'access-control-allow-credentials': 'true'},
 'websocket_without_upgrade': {'status': 400,
                               'body': '"Invalid websocket upgrade"',
                               'content-type': 'text/plain',
                               'access-control-allow-credentials': 'true'},
 'bad_jsonp_index': {'status': 400,
                     'body': '"Invalid JSONP index number"',
                     'content-type': 'text/plain',
                     'access-control-allow-credentials': 'true'},
 'method_not_allowed': {'status': 405,
                        'body': 'Method Not Found',
                        'content-type': 'text/plain',
                        'access-control-allow-credentials': 'true'},
 'handshake_polling': {'status': 200,
                       'body': {'sid': '<SID>',
                                'upgrades': ['websocket'],
                                'pingTimeout': 20000,
                                'pingInterval': 25000,
                                'maxPayload': 1000000},
                       'content-type': 'text/plain; charset=UTF-8',
                       'access-control-allow-credentials': 'true'},
 'other_path_404': {'status': 404, 'body': 'Not Found', 'content-type': 'text/plain'},
 'other_path_404_post': {'status': 404, 'body': 'Not Found', 'content-type': 'text/plain'},
 'other_asgi_app': {'status': 299,
                    'body': 'other app: GET /elsewhere',
                    'content-type': 'text/x-other'},
 'other_asgi_app_sio_still_works': {'status': 200,
                                    'body': {'sid': '<SID>',
                                             'upgrades': ['websocket'],
                                             'pingTimeout': 20000,
                                             'pingInterval': 25000,
                                             'maxPayload': 1000000},
                                    'content-type': 'text/plain; charset=UTF-8',
                                    'access-control-allow-credentials': 'true'},
 'default_cors_foreign_origin': {'status': 400,
                                 'body': '"http://evil.test is not an accepted origin."',
                                 'content-type': 'text/plain',
                                 'access-control-allow-credentials': 'true'},
 'default_cors_same_origin': {'status': 200,
                              'body': {'sid': '<SID>',
                                       'upgrades': ['websocket'],
                                       'pingTimeout': 20000,
                                       'pingInterval': 25000,
                                       'maxPayload': 1000000},
                              'content-type': 'text/plain; charset=UTF-8',
                              'access-control-allow-origin': '<ORIGIN>',
                              'access-control-allow-credentials': 'true'},
 'cors_list_allowed': {'status': 200,
                       'body': {'sid': '<SID>',
                                'upgrades': ['websocket'],
                                'pingTimeout': 20000,
                                'pingInterval': 25000,
                                'maxPayload': 1000000},
                       'content-type': 'text/plain; charset=UTF-8',
                       'access-control-allow-origin': 'http://ok.test',
                       'access-control-allow-credentials': 'true'},
 'cors_list_second_allowed': {'status': 200,
                              'body': {'sid': '<SID>',
                                       'upgrades': ['websocket'],
                                       'pingTimeout': 20000,
                                       'pingInterval': 25000,
                                       'maxPayload': 1000000},
                              'content-type': 'text/plain; charset=UTF-8',
                              'access-control-allow-origin': 'https://also.test',
                              'access-control-allow-credentials': 'true'},
 'cors_list_rejected': {'status': 400,
                        'body': '"http://evil.test is not an accepted origin."',
                        'content-type': 'text/plain',
                        'access-control-allow-credentials': 'true'},
 'cors_list_rejected_bad_request_first': {'status': 400,
                                          'body': '"http://evil.test is not an accepted origin."',
                                          'content-type': 'text/plain',
                                          'access-control-allow-credentials': 'true'},
 'cors_list_no_origin': {'status': 200,
                         'body': {'sid': '<SID>',
                                  'upgrades': ['websocket'],
                                  'pingTimeout': 20000,
                                  'pingInterval': 25000,
                                  'maxPayload': 1000000},
                         'content-type': 'text/plain; charset=UTF-8',
                         'access-control-allow-credentials': 'true'},
 'cors_list_preflight': {'status': 200,
                         'body': 'OK',
                         'content-type': 'text/plain',
                         'access-control-allow-origin': 'http://ok.test',
                         'access-control-allow-credentials': 'true',
                         'access-control-allow-methods': 'OPTIONS, GET, POST',
                         'access-control-allow-headers': 'content-type, x-custom'},
 'cors_list_preflight_rejected': {'status': 400,
                                  'body': '"http://evil.test is not an accepted origin."',
                                  'content-type': 'text/plain',
                                  'access-control-allow-credentials': 'true',
                                  'access-control-allow-methods': 'OPTIONS, GET, POST'},
 'cors_list_ws_allowed': {'status': 101, 'first': '0{"sid":'},
 'cors_list_ws_rejected': {'status': 403, 'body': ''},
 'cors_star_any_origin': {'status': 200,
                          'body': {'sid': '<SID>',
                                   'upgrades': ['websocket'],
                                   'pingTimeout': 20000,
                                   'pingInterval': 25000,
                                   'maxPayload': 1000000},
                          'content-type': 'text/plain; charset=UTF-8',
                          'access-control-allow-origin': 'http://whatever.test',
                          'access-control-allow-credentials': 'true'},
 'cors_star_preflight': {'status': 200,
                         'body': 'OK',
                         'content-type': 'text/plain',
                         'access-control-allow-origin': 'http://whatever.test',
                         'access-control-allow-credentials': 'true',
                         'access-control-allow-methods': 'OPTIONS, GET, POST'},
 'cors_no_credentials': {'status': 200,
                         'body': {'sid': '<SID>',
                                  'upgrades': ['websocket'],
                                  'pingTimeout': 20000,
                                  'pingInterval': 25000,
                                  'maxPayload': 1000000},
                         'content-type': 'text/plain; charset=UTF-8',
                         'access-control-allow-origin': 'http://ok.test'},
 'cors_no_credentials_error': {'status': 400,
                               'body': '"Invalid transport"',
                               'content-type': 'text/plain',
                               'access-control-allow-origin': 'http://ok.test'},
 'oversized_post': {'small': {'status': 200,
                              'body': 'OK',
                              'content-type': 'text/plain',
                              'access-control-allow-credentials': 'true'},
                    'get': {'status': 200,
                            'body': '40',
                            'content-type': 'text/plain; charset=UTF-8',
                            'access-control-allow-credentials': 'true'},
                    'get2_status': 400,
                    'big': 'rejected',
                    'after': {'status': 400,
                              'body': '"Invalid session <SID>"',
                              'content-type': 'text/plain',
                              'access-control-allow-credentials': 'true'},
                    'post_after': {'status': 400,
                                   'body': '"Invalid session <SID>"',
                                   'content-type': 'text/plain',
                                   'access-control-allow-credentials': 'true'}},
 'oversized_ws_message': {'frames': ['0{', '40'], 'end': 'closed'},
 'mounted_handshake': {'status': 200,
                       'body': {'sid': '<SID>',
                                'upgrades': ['websocket'],
                                'pingTimeout': 20000,
                                'pingInterval': 25000,
                                'maxPayload': 1000000},
                       'content-type': 'text/plain; charset=UTF-8',
                       'access-control-allow-credentials': 'true'},
 'mounted_session': {'post': {'status': 200,
                              'body': 'OK',
                              'content-type': 'text/plain',
                              'access-control-allow-credentials': 'true'},
                     'get': {'status': 200,
                             'body': '40',
                             'content-type': 'text/plain; charset=UTF-8',
                             'access-control-allow-credentials': 'true'},
                     'environ': {'status': 200,
                                 'body': '431[{"query":"EIO=4&transport=polling","method":"GET","path":"/ws/socket.io/","x_test":null}]',
                                 'content-type': 'text/plain; charset=UTF-8',
                                 'access-control-allow-credentials': 'true'}},
 'mounted_bad_request': {'status': 400,
                         'body': '"The client is using an unsupported version of the Socket.IO or '
                                 'Engine.IO protocols"',
                         'content-type': 'text/plain',
                         'access-control-allow-credentials': 'true'},
 'mounted_fastapi_route': {'status': 200,
                           'body': '{"ok":true}',
                           'content-type': 'application/json'},
 'mounted_root_socketio_is_404': {'status': 404,
                                  'body': '{"detail":"Not Found"}',
                                  'content-type': 'application/json'},
 'mounted_other_path_under_mount': {'status': 404,
                                    'body': 'Not Found',
                                    'content-type': 'text/plain'}}
