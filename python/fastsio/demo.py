"""Demo chat server: ``python -m fastsio demo`` then open http://127.0.0.1:8000/.

Everything is in memory (no Redis). The page uses the official
socket.io-client bundle when one is installed (FASTSIO_CLIENT_JS, or
tests/js/node_modules after ``npm install`` there).
"""
import os

import fastsio as socketio

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>fastsio demo</title></head>
<body>
<h1>fastsio demo chat</h1>
<p id="status">connecting...</p>
<form id="f"><input id="room" value="lobby" size="8">
<input id="msg" autocomplete="off" placeholder="message"><button>send</button></form>
<ul id="log"></ul>
<script src="/socket.io.min.js"></script>
<script>
const log = (t) => { const li = document.createElement('li'); li.textContent = t;
  document.getElementById('log').prepend(li); };
const socket = io();
socket.on('connect', () => { document.getElementById('status').textContent =
  'connected as ' + socket.id + ' over ' + socket.io.engine.transport.name;
  socket.emit('join', document.getElementById('room').value); });
socket.on('chat', (m) => log(m.from + ': ' + m.text));
socket.on('joined', (m) => log('* ' + m.sid + ' joined ' + m.room + ' (' + m.members + ' here)'));
document.getElementById('f').onsubmit = (e) => { e.preventDefault();
  const room = document.getElementById('room').value;
  socket.emit('chat', {room, text: document.getElementById('msg').value},
              (n) => log('(delivered to ' + n + ' in ' + room + ')'));
  document.getElementById('msg').value = ''; };
</script></body></html>
"""


def _client_bundle():
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("FASTSIO_CLIENT_JS", ""),
                  os.path.join(here, "..", "..", "tests", "js", "node_modules",
                               "socket.io-client", "dist", "socket.io.min.js")]
    for path in candidates:
        if path and os.path.exists(path):
            return path
    return None


@sio.event
async def connect(sid, environ, auth=None):
    await sio.save_session(sid, {"rooms": []})


@sio.event
async def join(sid, room):
    await sio.enter_room(sid, room)
    members = len(list(sio.manager.get_participants("/", room)))
    await sio.emit("joined", {"sid": sid, "room": room, "members": members}, to=room)


@sio.event
async def chat(sid, message):
    room = message.get("room", "lobby")
    await sio.emit("chat", {"from": sid, "text": message.get("text", "")}, to=room)
    return len(list(sio.manager.get_participants("/", room)))


async def _page(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    bundle = _client_bundle() if path == "/socket.io.min.js" else None
    if path == "/":
        body, ctype, status = PAGE.encode(), b"text/html; charset=utf-8", 200
    elif bundle:
        with open(bundle, "rb") as f:
            body, ctype, status = f.read(), b"application/javascript", 200
    else:
        body, ctype, status = b"Not Found", b"text/plain", 404
    await receive()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype)]})
    await send({"type": "http.response.body", "body": body})


app = socketio.ASGIApp(sio, other_asgi_app=_page)
