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
import { io } from "../tests/js/node_modules/socket.io-client/build/esm-debug/index.js";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const LIMIT_MS = config.limitMs || 120000;
const STEP_MS = config.stepMs || 20000;
const sockets = [];

function finish(code, result) {
  for (const s of sockets) {
    try { s.disconnect(); } catch { /* already gone */ }
  }
  setTimeout(() => process.exit(code), 3000);
  process.stdout.write(result === undefined ? "" : JSON.stringify(result) + "\n", () => process.exit(code));
}

const limit = setTimeout(() => {
  process.stderr.write(`openwebui_client.mjs timed out after ${LIMIT_MS} ms\n`);
  finish(2);
}, LIMIT_MS);

function withTimeout(promise, what, ms = STEP_MS) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

const ack = (socket, ...args) => new Promise((resolve, reject) => {
  socket.timeout(STEP_MS).emit(...args, (err, ...reply) => {
    if (err) reject(new Error(`no ack for ${String(args[0])}`));
    else resolve(reply);
  });
});

const stdinLines = createInterface({ input: process.stdin });
const lineWaiters = [];
stdinLines.on("line", () => { const w = lineWaiters.shift(); if (w) w(); });
stdinLines.on("close", () => { process.stderr.write("stdin closed\n"); finish(1); });
const nextLine = () => new Promise((resolve) => lineWaiters.push(resolve));

let counting = false;

async function connect(user) {
  const s = io(config.url, {
    path: "/ws/socket.io",
    transports: ["websocket"],
    auth: { token: user.token },
    reconnection: false,
    forceNew: true,
    timeout: STEP_MS,
  });
  sockets.push(s);
  const c = { user, socket: s, events: [], packets: 0, payloadBytes: 0, wire0: 0 };
  s.on("events", (data) => {
    if (!counting) return;
    c.events.push({ at: Date.now(), data });
    // the chat's final event (checked here, once per event, not by rescanning)
    const d = data && data.data;
    if (d && d.type === "chat:completion" && d.data && d.data.done === true
        && c.assistantId && data.message_id === c.assistantId && c.onDone) c.onDone();
  });
  await withTimeout(new Promise((resolve, reject) => {
    s.once("connect", resolve);
    s.once("connect_error", (e) => reject(new Error(`${user.name}: connect_error ${e.message}`)));
  }), `${user.name} connect`);
  s.io.engine.on("packet", (p) => {
    if (!counting) return;
    c.packets += 1;
    c.payloadBytes += 1 + (typeof p.data === "string" ? Buffer.byteLength(p.data, "utf8")
      : (p.data ? p.data.length || 0 : 0));
  });
  c.sid = s.id;
  c.ws = s.io.engine.transport.ws;
  await ack(s, "user-join", { auth: { token: user.token } });
  await ack(s, "heartbeat", {});
  return c;
}

const wireRead = (c) => (c.ws && c.ws._socket ? c.ws._socket.bytesRead : NaN);

// The text the frontend shows, rebuilt from the events of the assistant
// message (as tests/openwebui/client.mjs): `response.output_text.delta`
// deltas per output index, and the last `chat:completion` snapshot.
function outputText(output) {
  if (!Array.isArray(output)) return null;
  const texts = [];
  for (const item of output) {
    if (!item || item.type !== "message" || !Array.isArray(item.content)) continue;
    const text = item.content.map((p) => (p && p.text != null ? String(p.text) : "")).join("");
    if (text && text.trim()) texts.push(text);
  }
  return texts.join("\n");
}

function rebuild(events) {
  const deltas = new Map();
  let snapshot = null;
  let done = false;
  let deltaEvents = 0;
  let lastDeltaAt = null;
  let doneAt = null;
  const types = {};
  for (const { at, data } of events) {
    const type = data.data && data.data.type;
    types[type] = (types[type] || 0) + 1;
    const d = (data.data && data.data.data) || {};
    if (type === "response:completion") {
      const idx = Number.isInteger(d.output_index) ? d.output_index : 0;
      if (typeof d.type === "string" && d.type.endsWith(".output_text.delta")) {
        deltas.set(idx, (deltas.get(idx) || "") + String(d.delta ?? ""));
        deltaEvents += 1;
        lastDeltaAt = at;
      } else if (d.type === "response.completed" && d.response && Array.isArray(d.response.output)) {
        const text = outputText(d.response.output);
        if (text) snapshot = text;
      }
    } else if (type === "chat:completion") {
      if (typeof d.content === "string" && d.content) snapshot = d.content;
      else if (Array.isArray(d.output)) {
        const text = outputText(d.output);
        if (text) snapshot = text;
      }
      if (d.done === true && doneAt === null) { done = true; doneAt = at; }
    }
  }
  const order = [...deltas.keys()].sort((x, y) => x - y).map((k) => deltas.get(k));
  return { types, deltaEvents, lastDeltaAt, doneAt, done,
    deltaText: deltas.size ? order.join("\n") : null, snapshotText: snapshot };
}

async function chat(c) {
  const userId = randomUUID();
  const assistantId = randomUUID();
  const body = {
    stream: true,
    model: config.model,
    messages: [{ role: "user", content: config.prompt }],
    params: {},
    tool_servers: [],
    features: { image_generation: false, code_interpreter: false, web_search: false, memory: false },
    variables: {},
    model_item: {},
    session_id: c.sid,
    chat_id: null,
    id: assistantId,
    parent_id: null,
    user_message: {
      id: userId, parentId: null, childrenIds: [], role: "user", content: config.prompt,
      timestamp: Math.floor(Date.now() / 1000), models: [config.model],
    },
    background_tasks: {},
  };
  c.started = Date.now();
  c.assistantId = assistantId;
  const done = new Promise((resolve) => { c.onDone = resolve; });
  c.postRetries = 0;
  let res;
  let text;
  for (;;) {
    res = await withTimeout(fetch(`${config.url}/api/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${c.user.token}` },
      body: JSON.stringify(body),
    }), "POST /api/chat/completions", config.chatTimeoutMs || 60000);
    text = await res.text();
    // SQLite under 50 simultaneous chat creations: retried, and counted
    if (res.ok || !text.includes("database is locked") || c.postRetries >= 3) break;
    c.postRetries += 1;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!res.ok) throw new Error(`POST /api/chat/completions: ${res.status} ${text.slice(0, 2000)}`);
  c.postMs = Date.now() - c.started;
  c.chatId = JSON.parse(text).chat_id;
  await withTimeout(done, `chat of ${c.user.name}: its done event`, config.chatTimeoutMs || 60000);
}

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

main().then(
  (result) => { clearTimeout(limit); finish(0, result); },
  (err) => { clearTimeout(limit); process.stderr.write(`${(err && err.stack) || err}\n`); finish(1); },
);
