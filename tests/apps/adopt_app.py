"""Raw ASGI app for the fastsio.adopt contract (tests/test_native_uvicorn.py),
no engine involved.

Two fastsio ASGIApps (socketio_path "/adopt" and "/r/adopt") are built only so
that the claim registry (fastsio.asgi.claims_websocket) covers /adopt/, with
and without --root-path /r; they never serve. The websocket requests
themselves are served here, by ?mode=:

  take       (after ?delay= seconds) take() the socket; take() again; send
             accept/send/close (ignored after take); receive() once; then,
             0.3 s later from a thread, write a 101 + one binary frame on the
             fd (payload: the head take() returned, "|", the second take()'s
             error, "|", the receive() event type) and close it
  take_hold  take() and keep the fd open for 30 s (then close it)
  close      websocket.close                -> 403
  http       websocket.http.response.*      -> 418, x-test header, body in 2 parts
  accept     websocket.accept               -> 500; reports what send raised
  raise      an exception                   -> 500
  return     returns without answering      -> 500
  lost       receive() until disconnect, then take(); reports both
  scope      answers 200 with the scope as JSON (extension names, not values)

GET /report?key=K: what mode lost/accept recorded under ?key=K.
"""
import asyncio
import base64
import hashlib
import json
import os
import threading
import time
from urllib.parse import parse_qs

import fastsio

sio = fastsio.AsyncServer(async_mode="asgi")
registered = [fastsio.ASGIApp(sio, socketio_path="/adopt"),
              # for the same request under --root-path /r
              fastsio.ASGIApp(sio, socketio_path="/r/adopt")]
reports = {}

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(head):
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return base64.b64encode(hashlib.sha1(value.strip() + GUID).digest())
    return b""


def binary_frame(payload):
    n = len(payload)
    if n < 126:
        return bytes([0x82, n]) + payload
    return bytes([0x82, 126]) + n.to_bytes(2, "big") + payload


def canned_answer(head, payload):
    return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_key(head) + b"\r\n\r\n"
            + binary_frame(payload))


def write_later(fd, data, delay):
    def run():
        time.sleep(delay)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    threading.Thread(target=run, daemon=True).start()


def hold(fd, seconds):
    def run():
        time.sleep(seconds)
        os.close(fd)
    threading.Thread(target=run, daemon=True).start()


def scope_json(scope):
    out = {}
    for key, value in scope.items():
        if key == "extensions":
            value = sorted(value)
        elif key == "state":
            value = sorted(value)
        elif key == "headers":
            value = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in value]
        elif isinstance(value, bytes):
            value = value.decode("latin-1")
        elif isinstance(value, tuple):
            value = list(value)
        elif key == "app":
            continue
        out[key] = value
    return out


async def serve_websocket(scope, receive, send):
    query = parse_qs(scope["query_string"].decode())
    mode = query.get("mode", [""])[0]
    key = query.get("key", [""])[0]
    assert (await receive())["type"] == "websocket.connect"
    if mode in ("take", "take_hold"):
        await asyncio.sleep(float(query.get("delay", ["0"])[0]))
        fd, head = scope["extensions"]["fastsio.adopt"].take()
        if mode == "take_hold":
            hold(fd, 30)
            return
        try:
            scope["extensions"]["fastsio.adopt"].take()
            second = "no error"
        except RuntimeError as e:
            second = "RuntimeError: " + str(e)
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "must not appear"})
        await send({"type": "websocket.close", "code": 1000})
        event = await receive()
        payload = head + b"|" + second.encode() + b"|" + event["type"].encode()
        write_later(fd, canned_answer(head, payload), 0.3)
    elif mode == "close":
        await send({"type": "websocket.close"})
    elif mode == "http":
        await send({"type": "websocket.http.response.start", "status": 418,
                    "headers": [(b"x-test", b"yes"), (b"content-type", b"application/json")]})
        await send({"type": "websocket.http.response.body", "body": b'{"a":',
                    "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b'"b"}'})
    elif mode == "accept":
        try:
            await send({"type": "websocket.accept"})
            reports[key] = {"accept": "returned"}
        except Exception as e:
            reports[key] = {"accept": type(e).__name__}
            raise
    elif mode == "raise":
        raise ValueError("app failure on purpose")
    elif mode == "return":
        return
    elif mode == "lost":
        event = await receive()
        try:
            scope["extensions"]["fastsio.adopt"].take()
            taken = "no error"
        except RuntimeError as e:
            taken = "RuntimeError: " + str(e)
        reports[key] = {"event": event, "take": taken}
    elif mode == "scope":
        body = json.dumps(scope_json(scope)).encode()
        await send({"type": "websocket.http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close"})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            event = await receive()
            if event["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif event["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await serve_websocket(scope, receive, send)
        return
    query = parse_qs(scope["query_string"].decode())
    body = json.dumps(reports.get(query.get("key", [""])[0])).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
