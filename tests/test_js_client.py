"""The official JavaScript socket.io-client (npm `socket.io-client` 4.x, run by
node) against both servers, over websocket only, polling only, and polling
upgraded to websocket.

Each test starts tests/apps/js_app.py under uvicorn, runs one scenario of
tests/js/runner.mjs against it and asserts on the JSON the client printed.
The expected values are what python-socketio 5.16 sends; fastsio must match.

Install the client once with: npm install --prefix tests/js
"""
import hashlib
import json
import os
import shutil
import subprocess

import pytest

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
RUNNER = os.path.join(JS_DIR, "runner.mjs")
APP = "tests.apps.js_app:app"
NODE_TIMEOUT = 30  # seconds; the runner gives up on its own after 10

TRANSPORTS = {
    "websocket": ["websocket"],
    "polling": ["polling"],
    "upgrade": ["polling", "websocket"],
}


@pytest.fixture(params=list(TRANSPORTS))
def transport(request):
    return request.param


def node_or_fail():
    node = shutil.which("node")
    if not node:
        pytest.fail("node (v18 or later) is not on PATH; these tests need it "
                    "(scripts/test.sh installs it)")
    if not os.path.isfile(os.path.join(JS_DIR, "node_modules", "socket.io-client",
                                       "package.json")):
        pytest.fail("socket.io-client is not installed: run "
                    "`npm install --prefix tests/js` (scripts/test.sh does)")
    return node


def run(server, scenario, transport):
    """Runs one runner.mjs scenario against `server`; returns its JSON result."""
    node = node_or_fail()
    cmd = [node, RUNNER, scenario, server.url, json.dumps(TRANSPORTS[transport])]
    try:
        proc = subprocess.run(cmd, cwd=JS_DIR, capture_output=True, text=True,
                              timeout=NODE_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"node scenario {scenario!r} did not exit within {NODE_TIMEOUT}s\n"
                    f"stderr:\n{exc.stderr}\nserver log:\n{server.output()[-4000:]}")
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail(f"node scenario {scenario!r} over {transport} exited with "
                    f"{proc.returncode}\nstderr:\n{proc.stderr}\n"
                    f"stdout:\n{proc.stdout[-2000:]}\nserver log:\n{server.output()[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def scenario(impl, transport, start_server):
    """scenario(name) -> what the JS client observed against `impl`."""
    server = start_server(impl, APP)
    return lambda name: run(server, name, transport)


def final_transport(transport):
    return "polling" if transport == "polling" else "websocket"


def check_engine(info, transport):
    """The client's engine.io transport history: an upgrade really happened in
    the 'upgrade' case, and never otherwise."""
    if transport == "websocket":
        assert info == {"initial": "websocket", "final": "websocket", "upgradeSeen": False}
    elif transport == "polling":
        assert info == {"initial": "polling", "final": "polling", "upgradeSeen": False}
    else:
        assert info == {"initial": "polling", "final": "websocket", "upgradeSeen": True}


def b(data, type_):
    """The runner's / the app's JSON view of binary data."""
    if len(data) > 1024:
        return {"$len": len(data), "$sha256": hashlib.sha256(data).hexdigest(), "$type": type_}
    return {"$bin": data.hex(), "$type": type_}


UNDEFINED = {"$undefined": True}


def test_connect_sid(scenario, transport):
    out = scenario("connect")
    for name in ("a", "b"):
        c = out[name]
        assert c["whoami"]["sid"] == c["id"], "socket.id must be the server's sid"
        assert c["whoami"]["transport"] == final_transport(transport)
        assert c["whoami"]["rooms"] == [c["id"]]
        assert c["whoami"]["auth"] is None
        assert "EIO=4" in c["whoami"]["query"]
        assert f"transport={TRANSPORTS[transport][0]}" in c["whoami"]["query"]
        check_engine(c["engine"], transport)
    assert out["a"]["connected"] is True
    assert out["a"]["id"] != out["b"]["id"]


def py_type(value):
    if isinstance(value, bool):
        return "bool"
    return {str: "str", int: "int", float: "float", dict: "dict", list: "list"}[type(value)]


def test_echo(scenario, transport):
    out = scenario("echo")
    assert len(out["single"]) == 17
    for item in out["single"]:
        sent = item["sent"]
        assert item["ack"] == [{"value": sent, "type": py_type(sent)}], sent
        assert item["event"] == [sent], sent
    assert {py_type(i["sent"]) for i in out["single"]} == {
        "str", "int", "float", "bool", "dict", "list"}
    assert "ünïcødé ☃ 😀 中文" in out["single"][14]["sent"]
    assert out["single"][16]["ack"][0]["value"] == "x" * 20000
    # null reaches the handler as None; emitting None sends an event without arguments
    assert out["nullOnly"] == {"ack": [{"value": None, "type": "NoneType"}], "event": []}
    # a tuple return value is one ack argument per element
    args = ["a", 1, {"x": None}, [True, False], "ü", None]
    assert out["multi"] == {"ack": args, "event": args}
    assert out["noArgs"] == {"ack": [], "event": []}
    assert out["noAck"] == {"event": ["fire and forget", 2]}
    assert out["returnsNone"] == []
    assert out["returnsList"] == [[1, "two", None]]
    assert out["transport"] == final_transport(transport)
    check_engine(out["engine"], transport)


def test_server_calls_client(scenario, transport):
    out = scenario("ack")
    assert out["single"] == {"answer": {"got": {"q": "life", "n": [4, 2]}, "from": "js"},
                             "answer_is_tuple": False}
    assert out["multi"] == {"answer": ["a", 2, {"three": 3}, None], "answer_is_tuple": True}
    assert out["binary"] == {"answer": [b(b"\x01\x02\x03", "bytes"),
                                        {"nested": b(b"hi", "bytes")}],
                             "answer_is_tuple": True}
    # the client got the question but never acked: sio.call raised TimeoutError
    assert out["silent"] == {"timeout": True, "exception": "TimeoutError"}
    assert out["silentSeen"] == ["nobody answers"]
    assert 900 <= out["silentMs"] < 4000
    # emit(..., callback=cb): cb gets the client's ack arguments
    assert out["callbackAck"] == [True]
    assert out["callback"] == [["a", 2, {"three": 3}, None]]
    assert out["transport"] == final_transport(transport)
    check_engine(out["engine"], transport)


def test_rooms(scenario, transport):
    out = scenario("rooms")
    ids = out["ids"]
    assert out["joins"] == {"a": sorted([ids["a"], "red", "blue"]),
                            "b": sorted([ids["b"], "blue"]),
                            "c": sorted([ids["c"], "green"])}
    assert out["leave"] == [ids["b"]]
    # 1 red; 2 [red, blue] (a is in both: once); 3 blue skip a; 4 broadcast;
    # 5 broadcast skip c; 6 [red, green] skip a; 7 to c's sid; 8 skip [a, b];
    # 9 blue after b left; 10 red after close_room; 11 unknown room
    assert out["news"] == {"a": [1, 2, 4, 5, 9], "b": [2, 3, 4, 5], "c": [4, 6, 7, 8]}
    assert out["roomsAfter"] == {"a": sorted([ids["a"], "blue"]), "b": [ids["b"]],
                                 "c": sorted([ids["c"], "green"])}


def test_namespaces(scenario, impl, transport):
    out = scenario("namespaces")
    ids, who = out["ids"], out["whoami"]
    assert len(set(ids.values())) == 3, "every namespace connection has its own sid"
    for name in ids:
        assert who[name]["sid"] == ids[name]
        assert who[name]["transport"] == final_transport(transport)
    assert who["chat"]["namespace"] == who["chat2"]["namespace"] == "/chat"
    assert who["chat"]["rooms"] == sorted([ids["chat"], "chatters"])
    assert who["chat2"]["rooms"] == sorted([ids["chat2"], "chatters"])
    assert who["main"]["rooms"] == [ids["main"]]
    assert out["sameEngine"] is True
    assert out["say"] == "ok"
    said = [[{"from": ids["chat"], "text": "yo"}]]
    assert out["said"] == {"main": [], "chat": said, "chat2": said}
    assert out["news"] == {"main": [["to root"]], "chat": [["to chat"]],
                           "chat2": [["to chat"]]}
    # python-socketio answers an unknown namespace with CONNECT_ERROR carrying
    # the bare string "Unable to connect" (not {"message": ...}); the JS client
    # reads .message of a string, so err.message is "" and err.data undefined.
    # fastsio answers {"message": "Invalid namespace"}, as the JS server does.
    message = "Invalid namespace" if impl == "fastsio" else ""
    assert out["nowhere"] == {"message": message, "data": UNDEFINED, "isError": True,
                              "connected": False}
    assert out["nowhereMultiplexed"] == {"message": message, "data": UNDEFINED}
    assert out["mainAfter"] == {"connected": True, "sid": ids["main"]}


def test_binary(scenario, transport):
    out = scenario("binary")
    big = bytes(i % 251 for i in range(70000))

    def payload(t):
        return {"a": b(b"\x00\x01\x02\xff", t),
                "nested": {"ab": b(b"\x0a\x14\x1e", t),
                           "list": [b("héllo".encode(), t), "text", 5, b(b"\x07\x08\x09", t)]}}

    # Buffer, ArrayBuffer and Uint8Array all arrive as bytes
    assert out["described"] == [payload("bytes"), b(big, "bytes"), "plain"]
    assert out["echoAck"] == [payload("Buffer"), b(big, "Buffer")]
    assert out["echoEvent"] == out["echoAck"]
    assert out["echoExact"] is True
    assert out["sendAck"] == [b(b"ack-bytes\x00", "Buffer")]
    assert out["bytesEvent"] == [
        b(bytes(range(256)), "Buffer"),
        {"x": b(b"\x00\xff", "Buffer"),
         "list": [b(b"abc", "Buffer"), "text", b(b"\x01" * 70000, "Buffer")]}]
    assert out["bytesExact"] is True
    assert out["transport"] == final_transport(transport)


def test_auth_and_refusal(scenario, transport):
    out = scenario("auth")
    assert out["withAuth"]["auth"] == {"token": "x", "n": 1, "nested": {"list": [1, "two"]}}
    assert "q=v%20w" in out["withAuth"]["query"]
    assert out["withAuth"]["transport"] == final_transport(transport)
    assert out["noAuth"]["auth"] is None
    # an empty auth object is falsy: the handler is called without auth
    assert out["emptyAuth"]["auth"] is None
    assert out["fnAuth"]["auth"] == {"token": "from a function"}

    def refused(message, data=UNDEFINED):
        return {"message": message, "data": data, "connected": False, "id": UNDEFINED}

    assert out["refused"] == {
        "custom": refused("auth failed", {"code": 401}),
        "message": refused("just a message"),
        "multi": refused("several", ["b", 3]),
        "bare": refused("Connection rejected by server"),
        "builtin": refused("Connection refused by server"),
        "false": refused("Connection rejected by server"),
    }
    assert out["refusedChat"] == {"message": "auth failed", "data": {"code": 401}}
    assert out["stillThere"] is True


def test_disconnect_reasons(scenario, transport):
    out = scenario("disconnect")
    assert out["clientDisconnect"] == {"client": "io client disconnect",
                                       "server": "client disconnect", "connected": False}
    assert out["kickAck"] is True
    assert out["serverDisconnect"] == {"client": "io server disconnect",
                                       "server": "server disconnect", "connected": False}
    assert out["namespaceKick"] == {"client": "io server disconnect",
                                    "server": "server disconnect",
                                    "mainStillConnected": True, "mainSid": True}
    assert out["namespaceLeave"] == {"server": "client disconnect",
                                     "mainStillConnected": True, "mainSid": True}
    # engine.close(): over polling the client still posts a CLOSE packet;
    # over websocket it just closes the socket
    expected = "client disconnect" if transport == "polling" else "transport close"
    assert out["engineClose"] == {"client": "forced close", "server": expected}
