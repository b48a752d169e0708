"""Engine.IO server app for tests/test_engineio_api.py.

Identical source for both implementations: FASTSIO_TEST_IMPL=python-engineio
serves python-engineio's AsyncServer/ASGIApp (the reference), anything else
fastsio.engineio's. Options from the environment:

  APP_PING_INTERVAL / APP_PING_TIMEOUT   seconds
  APP_PATH=<path>          engineio_path (unset: the default "engine.io")
  APP_LEGACY_DISCONNECT=1  disconnect handler without the reason argument
  APP_ASYNC_HANDLERS=0     async_handlers=False
  APP_COMPAT=<name>        compat= (fastsio only; python-engineio ignores it)
  APP_JSON=decimal         json= a module reading floats as Decimal and
                           writing Decimal as a string

The connect handler refuses when the query has refuse=false|text|dict|raise
and sends "hello" first when it has greet=1. Text messages are commands
(see `message`); bytes are echoed reversed; other messages come back as
{"type": <python type name>, "data": <value>}. Every handler call is logged
and GET /state (the other_asgi_app) returns the log as JSON.
"""
import asyncio
import decimal
import json
import os
import types
import urllib.parse

if os.environ.get("FASTSIO_TEST_IMPL") == "python-engineio":
    import engineio
else:
    from fastsio import engineio

options = {}
if os.environ.get("APP_PING_INTERVAL"):
    options["ping_interval"] = float(os.environ["APP_PING_INTERVAL"])
if os.environ.get("APP_PING_TIMEOUT"):
    options["ping_timeout"] = float(os.environ["APP_PING_TIMEOUT"])
if os.environ.get("APP_ASYNC_HANDLERS") == "0":
    options["async_handlers"] = False
if os.environ.get("APP_COMPAT"):
    options["compat"] = os.environ["APP_COMPAT"]
if os.environ.get("APP_JSON") == "decimal":
    options["json"] = types.SimpleNamespace(
        loads=lambda s, **kw: json.loads(s, parse_float=decimal.Decimal, **kw),
        dumps=lambda obj, **kw: json.dumps(obj, default=str, **kw))

eio = engineio.AsyncServer(async_mode="asgi", **options)
events = []


def describe(data):
    if isinstance(data, bytes):
        return {"bytes": data.hex()}
    return {type(data).__name__: data}


@eio.on("connect")
async def connect(sid, environ):
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    refuse = query.get("refuse", [None])[0]
    events.append(["connect", sid, refuse])
    if refuse == "false":
        return False
    if refuse == "text":
        return "go away"
    if refuse == "dict":
        return {"reason": "banned", "code": 7}
    if refuse == "raise":
        raise RuntimeError("connect handler failed")
    if query.get("greet") == ["1"]:
        await eio.send(sid, "hello")
    return True


COMMANDS = ("types", "transport", "session-get", "bye", "bye-all", "boom")


@eio.on("message")
async def message(sid, data):
    events.append(["message", sid, describe(data)])
    if isinstance(data, bytes):
        await eio.send(sid, data[::-1])
    elif not isinstance(data, str):
        await eio.send(sid, {"type": type(data).__name__, "data": data})
    elif ":" not in data and data not in COMMANDS:
        await eio.send(sid, {"type": "str", "data": data})
    elif data.startswith("echo:"):
        await eio.send(sid, data[5:])
    elif data == "types":
        for value in (42, None, {"a": [1, "x"]}, ["l", 2.5], bytearray(b"ba"), "\u00fc\u2603"):
            await eio.send(sid, value)
    elif data == "transport":
        await eio.send(sid, eio.transport(sid))
    elif data.startswith("session-set:"):
        async with eio.session(sid) as session:
            session["v"] = data[12:]
        await eio.send(sid, "set")
    elif data.startswith("save-session:"):
        await eio.save_session(sid, {"v": data[13:]})
        await eio.send(sid, "saved")
    elif data == "session-get":
        await eio.send(sid, (await eio.get_session(sid)).get("v", "none"))
    elif data.startswith("to:"):
        _, to, text = data.split(":", 2)
        await eio.send(to, text)
    elif data.startswith("slow:"):
        await asyncio.sleep(0.5)
        await eio.send(sid, data[5:])
    elif data == "bye":
        await eio.disconnect(sid)
    elif data == "bye-all":
        await eio.disconnect()
    elif data == "boom":
        raise RuntimeError("message handler failed")


if os.environ.get("APP_LEGACY_DISCONNECT") == "1":
    @eio.on("disconnect")
    async def disconnect(sid):
        events.append(["disconnect", sid, "(legacy)"])
else:
    @eio.on("disconnect")
    async def disconnect(sid, reason):
        events.append(["disconnect", sid, reason])


async def state_app(scope, receive, send):
    """GET /state: the handler log."""
    if scope["type"] != "http":
        return
    await receive()
    status, body = 404, b"Not Found"
    if scope["path"] == "/state":
        status, body = 200, json.dumps(events, default=repr).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


app_options = {}
if os.environ.get("APP_PATH"):
    app_options["engineio_path"] = os.environ["APP_PATH"]
app = engineio.ASGIApp(eio, other_asgi_app=state_app, **app_options)
