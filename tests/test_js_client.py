"""The official JavaScript socket.io-client (npm, run by node) against both
servers over websocket, polling, and polling upgraded to websocket."""
import json
import os
import shutil
import subprocess

import pytest

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
APP = "tests.apps.chat:app"


def run_scenario(url, transports):
    node = shutil.which("node")
    assert node, "node is required (scripts/test.sh installs it)"
    assert os.path.isdir(os.path.join(JS_DIR, "node_modules", "socket.io-client")), \
        "run `npm install` in tests/js (scripts/test.sh does)"
    proc = subprocess.run([node, "scenario.mjs", url, json.dumps(transports)], cwd=JS_DIR,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("transports", [["websocket"], ["polling"], ["polling", "websocket"]],
                         ids=["websocket", "polling", "upgrade"])
def test_js_client(impl, transports, start_server):
    server = start_server(impl, APP)
    out = run_scenario(server.url, transports)
    expected_transport = "polling" if transports == ["polling"] else "websocket"
    assert out["transport"] == expected_transport
    assert out["whoami"]["sid"] == out["id"]
    assert out["whoami"]["transport"] == expected_transport
    assert out["whoami"]["auth"] == {"token": "js"} and out["whoami"]["query_has_x"]
    assert out["echo"] == ["text", 7, {"nested": ["ü", None]}]
    assert out["binary_ok"] is True
    assert out["ask"] == "answer to life"
    assert out["news"] == {"a": [1], "b": [1, 2]}
    assert out["say"] == "ok"
    assert out["said"]["text"] == "yo" and out["chat_id_differs"]
    # python-socketio refuses an unknown namespace with the bare string
    # "Unable to connect", which the JS client turns into an empty message
    assert out["nowhere"] == ""
    assert out["refused"] == {"message": "auth failed", "data": {"code": 401}}
    assert out["kicked"] == "io server disconnect"
    assert out["client_reason"] == "client disconnect"
