// Load generator for benchmarks/openwebui_stream.py: N users of one Open WebUI,
// one socket each (the frontend's: /ws/socket.io, websocket, auth {token},
// `user-join`, `heartbeat`), one streamed chat each, all at once.
//
// usage: node openwebui_client.mjs CONFIG.json
//   {"url": "http://127.0.0.1:P", "model": "fake-model", "prompt": "...",
//    "expected": "<the text the fake model streams>",
//    "users": [{"name": "...", "token": "..."}, ...],
//    "chatTimeoutMs": 60000, "limitMs": 120000}
//
// Protocol on stdio, so that the caller measures CPU over the streaming window
// only (not the connects): prints `ready` once every socket has joined, waits
// for a line on stdin, starts every chat (POST /api/chat/completions with
// session_id = that user's socket), waits until every chat's final
// `chat:completion` {done: true} arrived (plus 300 ms for stragglers), prints
// `finished`, waits for a line on stdin, then prints one line of JSON (per
// chat: `events` received, bytes, times, whether the rebuilt text is the
// expected one) and exits 0. Errors: message on stderr, exit 1; past limitMs:
// exit 2.
//
// Counted per socket from `go` to `finished`: every Engine.IO packet received
// (bytes = its UTF-8 length + 1 for the Engine.IO type: the websocket message
// payload) and the TCP bytes read by the socket (ws's net.Socket bytesRead:
// what came over the wire, framing and any compression included). Open WebUI
// emits a chat's events to room user:<id>, so with one user per chat a socket
// receives exactly its chat's events.
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { chatBody, chatFailed, harness, isDone, rebuild } from "../tests/openwebui/owui_client_lib.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const { finish, withTimeout, openSocket, connected, frontendJoin, postChat, run } = harness({
  name: "openwebui_client.mjs",
  limitMs: config.limitMs || 120000,
  stepMs: config.stepMs || 20000,
});

const stdinLines = createInterface({ input: process.stdin });
const lineWaiters = [];
stdinLines.on("line", () => { const w = lineWaiters.shift(); if (w) w(); });
stdinLines.on("close", () => { process.stderr.write("stdin closed\n"); finish(1); });
const nextLine = () => new Promise((resolve) => lineWaiters.push(resolve));

let counting = false;

async function connect(user) {
  const s = openSocket(config.url, user.token);
  const c = { user, socket: s, events: [], packets: 0, payloadBytes: 0, wire0: 0 };
  s.on("events", (data) => {
    if (!counting) return;
    c.events.push({ at: Date.now(), data });
    // the chat's final event (checked here, once per event, not by rescanning)
    if (isDone(data) && c.assistantId && data.message_id === c.assistantId && c.onDone) c.onDone();
  });
  await connected(s, user.name);
  s.io.engine.on("packet", (p) => {
    if (!counting) return;
    c.packets += 1;
    c.payloadBytes += 1 + (typeof p.data === "string" ? Buffer.byteLength(p.data, "utf8")
      : (p.data ? p.data.length || 0 : 0));
  });
  c.sid = s.id;
  c.ws = s.io.engine.transport.ws;
  await frontendJoin(s, user.token);
  return c;
}

const wireRead = (c) => (c.ws && c.ws._socket ? c.ws._socket.bytesRead : NaN);

async function chat(c) {
  const assistantId = randomUUID();
  const body = chatBody({ model: config.model, prompt: config.prompt, sessionId: c.sid, assistantId });
  c.started = Date.now();
  c.assistantId = assistantId;
  const done = new Promise((resolve) => { c.onDone = resolve; });
  c.postRetries = 0;
  let res;
  let text;
  for (;;) {
    res = await postChat(config.url, c.user.token, body, config.chatTimeoutMs || 60000);
    text = await res.text();
    // SQLite under 50 simultaneous chat creations: retried, and counted
    if (res.ok || !text.includes("database is locked") || c.postRetries >= 3) break;
    c.postRetries += 1;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!res.ok) throw chatFailed(res, text);
  c.postMs = Date.now() - c.started;
  c.chatId = JSON.parse(text).chat_id;
  await withTimeout(done, `chat of ${c.user.name}: its done event`, config.chatTimeoutMs || 60000);
}

// The text the frontend shows, rebuilt from the events of the assistant
// message (rebuild, shared with tests/openwebui/client.mjs):
// `response.output_text.delta` deltas per output index, and the last
// `chat:completion` snapshot.
function report(c) {
  const mine = c.events.filter((e) => e.data && e.data.message_id === c.assistantId);
  const r = rebuild(mine);
  const rel = (t) => (t === null ? null : t - c.started);
  return {
    user: c.user.name,
    chatId: c.chatId,
    events: c.events.length,              // every `events` message on the socket
    assistantEvents: mine.length,
    deltaEvents: r.deltaEvents,
    packets: c.packets,
    payloadBytes: c.payloadBytes,
    wireBytes: c.wire1 - c.wire0,
    postMs: c.postMs,
    postRetries: c.postRetries,
    firstEventMs: c.events.length ? c.events[0].at - c.started : null,
    lastDeltaMs: rel(r.lastDeltaAt),
    doneMs: rel(r.doneAt),
    done: r.done,
    types: r.types,
    deltaTextOk: r.deltaText === config.expected,
    snapshotTextOk: r.snapshotText === config.expected,
    deltaTextLength: r.deltaText === null ? null : r.deltaText.length,
  };
}

async function main() {
  const clients = await Promise.all(config.users.map(connect));
  const extensions = clients[0].ws ? String(clients[0].ws.extensions || "") : "?";
  process.stdout.write("ready\n");
  await nextLine();
  for (const c of clients) c.wire0 = wireRead(c);
  counting = true;
  const t0 = Date.now();
  await Promise.all(clients.map(chat));
  const allDoneMs = Date.now() - t0;
  await new Promise((r) => setTimeout(r, 300));
  counting = false;
  for (const c of clients) c.wire1 = wireRead(c);
  process.stdout.write("finished\n");
  await nextLine();
  return { allDoneMs, extensions, chats: clients.map(report) };
}

run(main);
