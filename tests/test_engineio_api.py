"""fastsio.engineio against python-engineio's AsyncServer, black-box.

Both servers run tests/apps/engineio_app.py under real uvicorn (the app picks
the implementation from FASTSIO_TEST_IMPL). Two kinds of tests:

- transcripts: a scripted exchange with a raw websocket client (`websockets`)
  and raw HTTP (httpx); every frame, HTTP answer and the server's handler log
  (GET /state) is recorded, session ids replaced by <SID1>, <SID2>... in order
  of first appearance. test_transcript[<scenario>-python-engineio] checks the
  reference against the literal EXPECTED[<scenario>]; [...-fastsio] runs the
  reference and fastsio and requires the same transcript.
- behaviour, run against each implementation: python-engineio's AsyncClient
  over polling, websocket and the upgrade; ping timeouts; async_handlers.
"""
import asyncio
import base64
import json

import engineio
import httpx
import pytest
import websockets

from tests.conftest import NATIVE
from tests.raw_ws import RawWS, native_closes

APP = "tests.apps.engineio_app:app"
IMPLS = ["python-engineio", "fastsio"]
REFERENCE = "python-engineio"
T = 5
PATH = "/engine.io/"


@pytest.fixture(params=IMPLS)
def eio_impl(request):
    return request.param


# ------------------------------------------------------------- recording

class Transcript(list):
    def __init__(self):
        super().__init__()
        self.sids = []

    def add(self, *entry):
        self.append(tuple(entry))

    def saw_sid(self, sid):
        if sid not in self.sids:
            self.sids.append(sid)

    def normalized(self):
        names = {sid: f"<SID{i + 1}>" for i, sid in enumerate(self.sids)}

        def norm(item):
            if isinstance(item, str):
                for sid, name in names.items():
                    item = item.replace(sid, name)
            elif isinstance(item, list):
                item = [norm(x) for x in item]
            elif isinstance(item, dict):
                item = {k: norm(v) for k, v in item.items()}
            return item
        return [tuple(norm(item) for item in entry) for entry in self]


def open_sid(t, text):
    """The sid of the OPEN packet that starts `text` (recorded for normalizing)."""
    first = text.split("\x1e")[0]
    assert first[:1] == "0", text
    sid = json.loads(first[1:])["sid"]
    t.saw_sid(sid)
    return sid


class WS(RawWS):
    """A raw websocket connection at /engine.io/ (tests/raw_ws.py)."""

    path = PATH

    async def expect_open(self):
        (f,) = await self.expect(1)
        return open_sid(self.t, f)


class Polling:
    """Raw long-polling requests logging into a transcript."""

    def __init__(self, t, client, port, path=PATH):
        self.t, self.client = t, client
        self.base = f"http://127.0.0.1:{port}{path}?EIO=4&transport=polling"
        self.sid = None

    async def request(self, label, method, url, body=None):
        r = await self.client.request(method, url, content=body, timeout=T)
        self.t.add(label, r.status_code, r.headers.get("content-type"), r.text)
        return r

    async def handshake(self, query=""):
        r = await self.request("open", "GET", self.base + query)
        if r.status_code == 200:
            self.sid = open_sid(self.t, r.text)
        return r

    def url(self):
        return f"{self.base}&sid={self.sid}"

    async def get(self):
        return await self.request("GET", "GET", self.url())

    async def post(self, body):
        return await self.request("POST " + body, "POST", self.url(), body)


async def record_state(t, client, port, label="state"):
    """The server's handler log, after its handlers had time to run."""
    await asyncio.sleep(0.2)
    r = await client.get(f"http://127.0.0.1:{port}/state", timeout=T)
    events = r.json()
    for event in events:
        t.saw_sid(event[1])       # refused sessions appear only here
    t.add(label, events)


# ------------------------------------------------------------- scenarios
# Each: async fn(port, t); ENV[name] = the server's environment.

ENV = {}


async def polling_messages(port, t):
    async with httpx.AsyncClient() as c:
        p = Polling(t, c, port)
        await p.handshake("&greet=1")
        for body in ["4echo:hi", "bAQID", '4{"a":1}', "4types", "4transport", "4true",
                     "4123", "4", '4"q"', "4[1,null]", "4echo:\u00fc\u2603"]:
            await p.post(body)
            await p.get()
        await p.post("4boom")                       # the handler raises
        await p.post("4echo:after boom")
        await p.get()
        await p.post("4session-set:s1")
        await p.get()
        await p.post("4session-get")
        await p.get()
        await p.post("4save-session:s2")
        await p.get()
        await p.post("4session-get")
        await p.get()
        await p.post("4echo:a\x1e4echo:b")          # two packets in one POST
        await p.get()
        await p.post("1")                           # client CLOSE
        await p.get()
        await record_state(t, c, port)


async def websocket_messages(port, t):
    ws = await WS.open(t, port, query="&greet=1")
    await ws.expect_open()
    await ws.expect(1)                              # "4hello" sent by connect
    await ws.send("4echo:hi")
    await ws.expect(1)
    await ws.send(b"\x01\x02\x03")
    await ws.expect(1)
    await ws.send(b"")
    await ws.expect(1)
    await ws.send('4{"a":1}')
    await ws.expect(1)
    await ws.send("4types")
    await ws.expect(6)
    await ws.send("4transport")
    await ws.expect(1)
    await ws.send("4session-set:w")
    await ws.expect(1)
    await ws.send("4session-get")
    await ws.expect(1)
    await ws.send("4boom")
    await ws.send("4echo:still here")
    await ws.expect(1)
    await ws.send("1")                              # client CLOSE
    await ws.until_closed(1.0)                      # python-engineio leaves it open
    await ws.close()
    async with httpx.AsyncClient() as c:
        await record_state(t, c, port)


async def upgrade(port, t):
    async with httpx.AsyncClient() as c:
        p = Polling(t, c, port)
        await p.handshake()
        await p.post("4echo:before")
        await p.get()
        # the poll the upgrade ends, recorded once the probe is answered
        pending = asyncio.ensure_future(c.get(p.url(), timeout=T))
        await asyncio.sleep(0.2)
        ws = await WS.open(t, port, query=f"&sid={p.sid}")
        await ws.send("2probe")
        await ws.expect(1)
        r = await pending
        t.add("GET", r.status_code, r.headers.get("content-type"), r.text)
        await ws.send("5")
        await ws.send("4transport")
        await ws.expect(1)
        await ws.send(b"\xff\x00")
        await ws.expect(1)
        await p.post("4echo:late post")            # HTTP after the upgrade: refused
        await p.get()
        await ws.send("4bye")                      # server disconnect: CLOSE
        await ws.expect(1)
        await ws.close()
        await record_state(t, c, port)


async def upgrade_refused(port, t):
    async with httpx.AsyncClient() as c:
        p = Polling(t, c, port)
        await p.handshake()
        ws = await WS.open(t, port, query=f"&sid={p.sid}")
        await ws.send("2nope")                     # not a probe: the upgrade fails
        await ws.until_closed(code=False)
        await p.post("4echo:still polling")
        await p.get()
        await record_state(t, c, port)


async def server_disconnect(port, t):
    ws = await WS.open(t, port)
    await ws.expect_open()
    await ws.send("4bye")
    await ws.expect(1)                              # CLOSE
    await ws.close()
    async with httpx.AsyncClient() as c:
        p = Polling(t, c, port)
        await p.handshake()
        await p.post("4bye")
        # (no GET here: python-engineio answers it 400 'Session is
        # disconnected', losing the CLOSE; fastsio delivers the CLOSE)
        await record_state(t, c, port)


async def disconnect_all(port, t):
    a = await WS.open(t, port, "a")
    await a.expect_open()
    b = await WS.open(t, port, "b")
    await b.expect_open()
    await a.send("4bye-all")
    await a.expect(1)                               # CLOSE
    await b.expect(1)
    await a.close()
    await b.close()
    async with httpx.AsyncClient() as c:
        await record_state(t, c, port)


async def send_to_other(port, t):
    a = await WS.open(t, port, "a")
    await a.expect_open()
    b = await WS.open(t, port, "b")
    sid_b = await b.expect_open()
    await a.send(f"4to:{sid_b}:for b")
    await b.expect(1)
    await a.send("4to:nosuchsid:lost")
    await a.quiet()
    await b.quiet()
    await a.send("4echo:ok")
    await a.expect(1)
    await a.close()
    await b.close()
    async with httpx.AsyncClient() as c:
        await record_state(t, c, port)


async def client_transport_close(port, t):
    ws = await WS.open(t, port)
    await ws.expect_open()
    await ws.close()
    async with httpx.AsyncClient() as c:
        await record_state(t, c, port)


async def refusal(port, t):
    async with httpx.AsyncClient() as c:
        p = Polling(t, c, port)
        for how in ["false", "text", "dict", "raise"]:
            await p.handshake("&refuse=" + how)
        try:
            await WS.open(t, port, query="&refuse=false")
            t.add("websocket", "accepted")
        except websockets.InvalidStatus as exc:
            t.add("websocket", "refused", exc.response.status_code)
        await record_state(t, c, port)


async def engineio_path(port, t):
    async with httpx.AsyncClient() as c:
        await Polling(t, c, port).handshake()            # default path: not served
        p = Polling(t, c, port, path="/custom/eio/")
        await p.handshake()
        await p.post("4echo:custom")
        await p.get()
    ws = await WS.open(t, port, path="/custom/eio")
    await ws.expect_open()
    await ws.send("4echo:ws custom")
    await ws.expect(1)
    await ws.close()


ENV["engineio_path"] = {"APP_PATH": "custom/eio"}


async def custom_json(port, t):
    async with httpx.AsyncClient() as c:
        p = Polling(t, c, port)
        await p.handshake()
        await p.post('4{"f":1.5}')                 # Decimal in, str out
        await p.get()
        await p.post("4[0.25]")
        await p.get()
        await p.request("bad sid", "GET", p.base + "&sid=nosuch")
        await record_state(t, c, port)


ENV["custom_json"] = {"APP_JSON": "decimal"}


async def legacy_disconnect(port, t):
    ws = await WS.open(t, port)
    await ws.expect_open()
    await ws.send("1")
    await ws.until_closed(1.0)
    await ws.close()
    async with httpx.AsyncClient() as c:
        await record_state(t, c, port)


ENV["legacy_disconnect"] = {"APP_LEGACY_DISCONNECT": "1"}

SCENARIOS = {f.__name__: f for f in [
    polling_messages, websocket_messages, upgrade, upgrade_refused, server_disconnect,
    disconnect_all, send_to_other, client_transport_close, refusal, engineio_path,
    custom_json, legacy_disconnect]}

# python-engineio 4.x's transcripts (the fastsio runs compare with a live
# reference run instead)
EXPECTED = {
    "polling_messages": [('open',
      200,
      'text/plain; charset=UTF-8',
      '0{"sid":"<SID1>","upgrades":["websocket"],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}\x1e'
      '4hello'),
     ('POST 4echo:hi', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4hi'),
     ('POST bAQID', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', 'bAwIB'),
     ('POST 4{"a":1}', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4{"type":"dict","data":{"a":1}}'),
     ('POST 4types', 200, 'text/plain', 'OK'),
     ('GET',
      200,
      'text/plain; charset=UTF-8',
      '442\x1e4\x1e4{"a":[1,"x"]}\x1e4["l",2.5]\x1ebYmE=\x1e4ü☃'),
     ('POST 4transport', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4polling'),
     ('POST 4true', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4{"type":"bool","data":true}'),
     ('POST 4123', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4{"type":"str","data":"123"}'),
     ('POST 4', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4{"type":"str","data":""}'),
     ('POST 4"q"', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4{"type":"str","data":"q"}'),
     ('POST 4[1,null]', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4{"type":"list","data":[1,null]}'),
     ('POST 4echo:ü☃', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4ü☃'),
     ('POST 4boom', 200, 'text/plain', 'OK'),
     ('POST 4echo:after boom', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4after boom'),
     ('POST 4session-set:s1', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4set'),
     ('POST 4session-get', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4s1'),
     ('POST 4save-session:s2', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4saved'),
     ('POST 4session-get', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4s2'),
     ('POST 4echo:a\x1e4echo:b', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4a\x1e4b'),
     ('POST 1', 200, 'text/plain', 'OK'),
     ('GET', 400, 'text/plain', '"\'Session is disconnected\' <SID1>"'),
     ('state',
      [['connect', '<SID1>', None],
       ['message', '<SID1>', {'str': 'echo:hi'}],
       ['message', '<SID1>', {'bytes': '010203'}],
       ['message', '<SID1>', {'dict': {'a': 1}}],
       ['message', '<SID1>', {'str': 'types'}],
       ['message', '<SID1>', {'str': 'transport'}],
       ['message', '<SID1>', {'bool': True}],
       ['message', '<SID1>', {'str': '123'}],
       ['message', '<SID1>', {'str': ''}],
       ['message', '<SID1>', {'str': 'q'}],
       ['message', '<SID1>', {'list': [1, None]}],
       ['message', '<SID1>', {'str': 'echo:ü☃'}],
       ['message', '<SID1>', {'str': 'boom'}],
       ['message', '<SID1>', {'str': 'echo:after boom'}],
       ['message', '<SID1>', {'str': 'session-set:s1'}],
       ['message', '<SID1>', {'str': 'session-get'}],
       ['message', '<SID1>', {'str': 'save-session:s2'}],
       ['message', '<SID1>', {'str': 'session-get'}],
       ['message', '<SID1>', {'str': 'echo:a'}],
       ['message', '<SID1>', {'str': 'echo:b'}],
       ['disconnect', '<SID1>', 'client disconnect']])],
    "websocket_messages": [('ws',
      'recv',
      '0{"sid":"<SID1>","upgrades":[],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('ws', 'recv', '4hello'),
     ('ws', 'send', '4echo:hi'),
     ('ws', 'recv', '4hi'),
     ('ws', 'send', b'\x01\x02\x03'),
     ('ws', 'recv', b'\x03\x02\x01'),
     ('ws', 'send', b''),
     ('ws', 'recv', b''),
     ('ws', 'send', '4{"a":1}'),
     ('ws', 'recv', '4{"type":"dict","data":{"a":1}}'),
     ('ws', 'send', '4types'),
     ('ws', 'recv', '442'),
     ('ws', 'recv', '4'),
     ('ws', 'recv', '4{"a":[1,"x"]}'),
     ('ws', 'recv', '4["l",2.5]'),
     ('ws', 'recv', b'ba'),
     ('ws', 'recv', '4ü☃'),
     ('ws', 'send', '4transport'),
     ('ws', 'recv', '4websocket'),
     ('ws', 'send', '4session-set:w'),
     ('ws', 'recv', '4set'),
     ('ws', 'send', '4session-get'),
     ('ws', 'recv', '4w'),
     ('ws', 'send', '4boom'),
     ('ws', 'send', '4echo:still here'),
     ('ws', 'recv', '4still here'),
     ('ws', 'send', '1'),
     ('ws', 'still open after 1.0s'),
     ('state',
      [['connect', '<SID1>', None],
       ['message', '<SID1>', {'str': 'echo:hi'}],
       ['message', '<SID1>', {'bytes': '010203'}],
       ['message', '<SID1>', {'bytes': ''}],
       ['message', '<SID1>', {'dict': {'a': 1}}],
       ['message', '<SID1>', {'str': 'types'}],
       ['message', '<SID1>', {'str': 'transport'}],
       ['message', '<SID1>', {'str': 'session-set:w'}],
       ['message', '<SID1>', {'str': 'session-get'}],
       ['message', '<SID1>', {'str': 'boom'}],
       ['message', '<SID1>', {'str': 'echo:still here'}],
       ['disconnect', '<SID1>', 'client disconnect']])],
    "upgrade": [('open',
      200,
      'text/plain; charset=UTF-8',
      '0{"sid":"<SID1>","upgrades":["websocket"],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('POST 4echo:before', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4before'),
     ('ws', 'send', '2probe'),
     ('ws', 'recv', '3probe'),
     ('GET', 200, 'text/plain; charset=UTF-8', '6'),
     ('ws', 'send', '5'),
     ('ws', 'send', '4transport'),
     ('ws', 'recv', '4websocket'),
     ('ws', 'send', b'\xff\x00'),
     ('ws', 'recv', b'\x00\xff'),
     ('POST 4echo:late post', 400, 'text/plain', '"Unexpected HTTP request"'),
     ('GET', 400, 'text/plain', '"Unexpected HTTP request"'),
     ('ws', 'send', '4bye'),
     ('ws', 'recv', '1'),
     ('state',
      [['connect', '<SID1>', None],
       ['message', '<SID1>', {'str': 'echo:before'}],
       ['message', '<SID1>', {'str': 'transport'}],
       ['message', '<SID1>', {'bytes': 'ff00'}],
       ['message', '<SID1>', {'str': 'bye'}],
       ['disconnect', '<SID1>', 'server disconnect']])],
    "upgrade_refused": [('open',
      200,
      'text/plain; charset=UTF-8',
      '0{"sid":"<SID1>","upgrades":["websocket"],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('ws', 'send', '2nope'),
     ('ws', 'closed', None),
     ('POST 4echo:still polling', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4still polling'),
     ('state', [['connect', '<SID1>', None], ['message', '<SID1>', {'str': 'echo:still polling'}]])],
    "server_disconnect": [('ws',
      'recv',
      '0{"sid":"<SID1>","upgrades":[],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('ws', 'send', '4bye'),
     ('ws', 'recv', '1'),
     ('open',
      200,
      'text/plain; charset=UTF-8',
      '0{"sid":"<SID2>","upgrades":["websocket"],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('POST 4bye', 200, 'text/plain', 'OK'),
     ('state',
      [['connect', '<SID1>', None],
       ['message', '<SID1>', {'str': 'bye'}],
       ['disconnect', '<SID1>', 'server disconnect'],
       ['connect', '<SID2>', None],
       ['message', '<SID2>', {'str': 'bye'}],
       ['disconnect', '<SID2>', 'server disconnect']])],
    "disconnect_all": [('a',
      'recv',
      '0{"sid":"<SID1>","upgrades":[],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('b',
      'recv',
      '0{"sid":"<SID2>","upgrades":[],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('a', 'send', '4bye-all'),
     ('a', 'recv', '1'),
     ('b', 'recv', '1'),
     ('state',
      [['connect', '<SID1>', None],
       ['connect', '<SID2>', None],
       ['message', '<SID1>', {'str': 'bye-all'}],
       ['disconnect', '<SID1>', 'server disconnect'],
       ['disconnect', '<SID2>', 'server disconnect']])],
    "send_to_other": [('a',
      'recv',
      '0{"sid":"<SID1>","upgrades":[],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('b',
      'recv',
      '0{"sid":"<SID2>","upgrades":[],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('a', 'send', '4to:<SID2>:for b'),
     ('b', 'recv', '4for b'),
     ('a', 'send', '4to:nosuchsid:lost'),
     ('a', 'send', '4echo:ok'),
     ('a', 'recv', '4ok'),
     ('state',
      [['connect', '<SID1>', None],
       ['connect', '<SID2>', None],
       ['message', '<SID1>', {'str': 'to:<SID2>:for b'}],
       ['message', '<SID1>', {'str': 'to:nosuchsid:lost'}],
       ['message', '<SID1>', {'str': 'echo:ok'}],
       ['disconnect', '<SID1>', 'transport close'],
       ['disconnect', '<SID2>', 'transport close']])],
    "client_transport_close": [('ws',
      'recv',
      '0{"sid":"<SID1>","upgrades":[],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('state', [['connect', '<SID1>', None], ['disconnect', '<SID1>', 'transport close']])],
    "refusal": [('open', 401, 'application/json', '"Unauthorized"'),
     ('open', 401, 'application/json', '"go away"'),
     ('open', 401, 'application/json', '{"reason": "banned", "code": 7}'),
     ('open', 401, 'application/json', '"Unauthorized"'),
     ('websocket', 'refused', 403),
     ('state',
      [['connect', '<SID1>', 'false'],
       ['connect', '<SID2>', 'text'],
       ['connect', '<SID3>', 'dict'],
       ['connect', '<SID4>', 'raise'],
       ['connect', '<SID5>', 'false']])],
    "engineio_path": [('open', 404, 'application/json', 'Not Found'),
     ('open',
      200,
      'text/plain; charset=UTF-8',
      '0{"sid":"<SID1>","upgrades":["websocket"],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('POST 4echo:custom', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4custom'),
     ('ws',
      'recv',
      '0{"sid":"<SID2>","upgrades":[],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('ws', 'send', '4echo:ws custom'),
     ('ws', 'recv', '4ws custom')],
    "custom_json": [('open',
      200,
      'text/plain; charset=UTF-8',
      '0{"sid":"<SID1>","upgrades":["websocket"],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('POST 4{"f":1.5}', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4{"type":"dict","data":{"f":"1.5"}}'),
     ('POST 4[0.25]', 200, 'text/plain', 'OK'),
     ('GET', 200, 'text/plain; charset=UTF-8', '4{"type":"list","data":["0.25"]}'),
     ('bad sid', 400, 'text/plain', '"Invalid session nosuch"'),
     ('state',
      [['connect', '<SID1>', None],
       ['message', '<SID1>', {'dict': {'f': "Decimal('1.5')"}}],
       ['message', '<SID1>', {'list': ["Decimal('0.25')"]}]])],
    "legacy_disconnect": [('ws',
      'recv',
      '0{"sid":"<SID1>","upgrades":[],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'),
     ('ws', 'send', '1'),
     ('ws', 'still open after 1.0s'),
     ('state', [['connect', '<SID1>', None], ['disconnect', '<SID1>', '(legacy)']])],
}


async def run_scenario(start_server, impl, name):
    # fastsio answers as python-engineio does only with this compat (its
    # default follows the Engine.IO specification where the two differ)
    env = {"APP_COMPAT": "python-engineio", **ENV.get(name, {})}
    server = start_server(impl, APP, env=env)
    t = Transcript()
    await SCENARIOS[name](server.port, t)
    return t.normalized()


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_transcript(start_server, eio_impl, name):
    if eio_impl == REFERENCE:
        got = await run_scenario(start_server, REFERENCE, name)
        assert got == EXPECTED[name]
        return
    reference = await run_scenario(start_server, REFERENCE, name)
    got = await run_scenario(start_server, eio_impl, name)
    if NATIVE:
        reference = native_closes(reference)
    assert got == reference


# ------------------------------------------------------------- behaviour

async def server_events(port, sid=None):
    async with httpx.AsyncClient() as c:
        r = await c.get(f"http://127.0.0.1:{port}/state", timeout=T)
    return [e for e in r.json() if sid is None or e[1] == sid]


async def wait_disconnect(port, sid, timeout=T):
    """The reason the server's disconnect handler got for sid."""
    for _ in range(int(timeout / 0.05)):
        for name, _sid, reason in await server_events(port, sid):
            if name == "disconnect":
                return reason
        await asyncio.sleep(0.05)
    raise AssertionError(f"no disconnect for {sid}: {await server_events(port)}")


class Client:
    """python-engineio's AsyncClient with its messages and disconnect
    reasons collected."""

    def __init__(self):
        self.eio = engineio.AsyncClient(handle_sigint=False)
        self.messages = asyncio.Queue()
        self.reasons = []
        self.eio.on("message", self.messages.put_nowait)
        self.eio.on("disconnect", self.reasons.append)

    async def connect(self, port, **kwargs):
        await self.eio.connect(f"http://127.0.0.1:{port}", **kwargs)

    async def ask(self, data):
        await self.eio.send(data)
        return await asyncio.wait_for(self.messages.get(), T)


PING_ENV = {"APP_PING_INTERVAL": "0.3", "APP_PING_TIMEOUT": "0.5"}


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], None])
async def test_async_client(start_server, eio_impl, transports):
    """python-engineio's client: text, bytes and JSON both ways, pings
    answered over several intervals, then server and client disconnects."""
    server = start_server(eio_impl, APP, env=PING_ENV)
    a = Client()
    await a.connect(server.port, transports=transports)
    expected = "polling" if transports == ["polling"] else "websocket"
    if transports is None:                      # the upgrade runs in the background
        for _ in range(100):
            if a.eio.transport() == "websocket":
                break
            await asyncio.sleep(0.05)
    assert a.eio.transport() == expected
    sid_a = a.eio.sid
    assert await a.ask("transport") == expected
    assert await a.ask("echo:caf\u00e9") == "caf\u00e9"
    assert await a.ask(b"\x00\x01\xfe") == b"\xfe\x01\x00"
    assert await a.ask({"k": [1, "v"]}) == {"type": "dict", "data": {"k": [1, "v"]}}
    await asyncio.sleep(1.2)                    # > 3 ping intervals: pongs keep it open
    assert await a.ask("echo:alive") == "alive"
    await a.eio.send("types")
    got = [await asyncio.wait_for(a.messages.get(), T) for _ in range(6)]
    assert got == ["42", "", {"a": [1, "x"]}, ["l", 2.5], b"ba", "\u00fc\u2603"]

    await a.eio.send("bye")                     # server disconnect
    await asyncio.wait_for(a.eio.wait(), T)
    assert a.reasons == [a.eio.reason.SERVER_DISCONNECT]
    assert await wait_disconnect(server.port, sid_a) == "server disconnect"

    b = Client()
    await b.connect(server.port, transports=transports)
    sid = b.eio.sid
    assert await b.ask("echo:b") == "b"
    await b.eio.disconnect()                    # client disconnect
    # over websocket the client sends CLOSE and closes its socket at once:
    # the server may see either first
    assert await wait_disconnect(server.port, sid) in (
        ("client disconnect",) if expected == "polling"
        else ("client disconnect", "transport close"))
    assert b.reasons == [b.eio.reason.CLIENT_DISCONNECT]


async def test_async_client_refused(start_server, eio_impl):
    """A refused websocket handshake fails the client's connect; the 401
    bodies of refused polling handshakes are pinned by the refusal transcript
    (python-engineio's client closes its HTTP session before reading them)."""
    server = start_server(eio_impl, APP)
    c = Client()
    with pytest.raises(engineio.exceptions.ConnectionError):
        await c.eio.connect(f"http://127.0.0.1:{server.port}?refuse=dict",
                            transports=["websocket"])
    events = await server_events(server.port)
    assert [e[0] for e in events] == ["connect"]    # no disconnect for a refusal


async def test_async_client_engineio_path(start_server, eio_impl):
    server = start_server(eio_impl, APP, env={"APP_PATH": "/custom/eio/"})
    c = Client()
    await c.connect(server.port, engineio_path="custom/eio")
    assert await c.ask("echo:here") == "here"
    assert await c.ask("transport") == "websocket"
    await c.eio.disconnect()


async def test_ping_timeout_websocket(start_server, eio_impl):
    """A client that sends messages but never answers PING is disconnected
    with 'ping timeout' (messages do not count as pongs)."""
    server = start_server(eio_impl, APP, env=PING_ENV)
    t = Transcript()
    ws = await WS.open(t, server.port)
    sid = await ws.expect_open()

    async def ticks():
        try:
            while True:
                await ws.ws.send("4tick")
                await asyncio.sleep(0.1)
        except websockets.ConnectionClosed:
            pass

    ticker = asyncio.ensure_future(ticks())
    try:
        reason = await wait_disconnect(server.port, sid)
    finally:
        ticker.cancel()
    assert reason == "ping timeout"
    await ws.close()


async def test_ping_timeout_polling(start_server, eio_impl):
    server = start_server(eio_impl, APP, env=PING_ENV)
    t = Transcript()
    async with httpx.AsyncClient() as c:
        p = Polling(t, c, server.port)
        await p.handshake()
        r = await p.get()
        assert r.text == "2"                        # PING, never answered
        assert await wait_disconnect(server.port, p.sid) == "ping timeout"
        for _ in range(3):                          # the session ends for good
            r = await p.get()
            if r.text == f'"Invalid session {p.sid}"':
                break
        assert (r.status_code, r.text) == (400, f'"Invalid session {p.sid}"')


async def test_client_pong_keeps_session(start_server, eio_impl):
    """A raw websocket client answering each PING stays connected."""
    server = start_server(eio_impl, APP, env=PING_ENV)
    t = Transcript()
    ws = await WS.open(t, server.port)
    sid = await ws.expect_open()
    for _ in range(4):
        assert await ws.expect(1) == ["2"]
        await ws.send("3")
    await ws.send("4echo:pong")
    assert await ws.expect(1) == ["4pong"]
    await ws.close()
    assert await wait_disconnect(server.port, sid) == "transport close"


@pytest.mark.parametrize("async_handlers", ["1", "0"])
async def test_async_handlers(start_server, eio_impl, async_handlers):
    """async_handlers=True runs each message handler in its own task (a slow
    one does not hold the next); False runs them one after another."""
    server = start_server(eio_impl, APP, env={"APP_ASYNC_HANDLERS": async_handlers})
    t = Transcript()
    ws = await WS.open(t, server.port)
    await ws.expect_open()
    await ws.send("4slow:first")
    await ws.send("4echo:second")
    got = await ws.expect(2)
    assert got == (["4second", "4first"] if async_handlers == "1"
                   else ["4first", "4second"])
    await ws.close()


async def test_binary_polling_base64(start_server, eio_impl):
    """Binary messages over polling travel as b<base64> both ways."""
    server = start_server(eio_impl, APP)
    t = Transcript()
    data = bytes(range(256))
    async with httpx.AsyncClient() as c:
        p = Polling(t, c, server.port)
        await p.handshake()
        await p.post("b" + base64.b64encode(data).decode())
        r = await p.get()
        assert r.text == "b" + base64.b64encode(data[::-1]).decode()
