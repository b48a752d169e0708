// Open WebUI's frontend, as far as its socket goes, driven by node with the
// official socket.io-client 4.8 (the one tests/js installs).
//
// usage: node client.mjs '<config as JSON>'
//   {
//     "token": "...",                       // the user's JWT (sign-up / sign-in)
//     "clients": [{"name": "a", "url": "http://127.0.0.1:P"}, ...],
//     "usage": true,                        // optional: `usage` seen through /api/usage
//     "channelId": "...",                   // optional: typing relay over it
//     "chat": {                             // optional: one streamed chat
//       "via": "a",                         // the client whose sid is session_id
//       "url": "http://127.0.0.1:P",        // the instance the POST goes to
//       "model": "fake-model", "prompt": "...", "timeoutMs": 60000
//     },
//     "chats": [{...}, ...],                // optional: several, one after another
//     "chatRoom": true,                     // optional: join the (first) chat's room, typing
//     "limitMs": 90000
//   }
//
// Each client connects to /ws/socket.io with auth {token} over websocket (the
// frontend's transport), emits `user-join` {auth: {token}} and `heartbeat`
// like the frontend, and records every `events` message. Prints one line of
// JSON on stdout and exits 0; on failure prints the error on stderr and exits
// 1; exits 2 past limitMs.
import { randomUUID } from "node:crypto";
import { io } from "../js/node_modules/socket.io-client/build/esm-debug/index.js";

const config = JSON.parse(process.argv[2] || "{}");
const LIMIT_MS = config.limitMs || 90000;
const STEP_MS = config.stepMs || 10000;
const sockets = [];
const trace = [];
const step = (what) => trace.push(`${Date.now() % 100000} ${what}`);

function finish(code, result) {
  for (const s of sockets) {
    try { s.disconnect(); } catch { /* already gone */ }
  }
  setTimeout(() => process.exit(code), 3000);
  if (code !== 0) process.stderr.write("trace:\n  " + trace.join("\n  ") + "\n");
  process.stdout.write(result === undefined ? "" : JSON.stringify(result) + "\n", () => process.exit(code));
}

const limit = setTimeout(() => {
  process.stderr.write(`client.mjs timed out after ${LIMIT_MS} ms\n`);
  finish(2);
}, LIMIT_MS);

function withTimeout(promise, what, ms = STEP_MS) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

// Emits and resolves with the list of ack arguments.
const ack = (socket, ...args) => new Promise((resolve, reject) => {
  socket.timeout(STEP_MS).emit(...args, (err, ...reply) => {
    if (err) reject(new Error(`no ack for ${String(args[0])}`));
    else resolve(reply);
  });
});

async function connect({ name, url }) {
  const s = io(url, {
    path: "/ws/socket.io",
    transports: ["websocket"],
    auth: { token: config.token },
    reconnection: false,
    forceNew: true,
    timeout: STEP_MS,
  });
  sockets.push(s);
  const client = { name, socket: s, events: [], channelEvents: [] };
  s.on("events", (data) => client.events.push({ at: Date.now(), data }));
  s.on("events:channel", (data) => client.channelEvents.push(data));
  await withTimeout(new Promise((resolve, reject) => {
    s.once("connect", resolve);
    s.once("connect_error", (e) => reject(new Error(`${name}: connect_error ${e.message}`)));
  }), `${name} connect`);
  step(`${name} connected to ${url} as ${s.id}`);
  client.sid = s.id;
  client.transport = s.io.engine.transport.name;
  // what the frontend does once connected (src/routes/+layout.svelte)
  client.userJoin = (await ack(s, "user-join", { auth: { token: config.token } }))[0] ?? null;
  client.heartbeat = (await ack(s, "heartbeat", {})).length;
  return client;
}

// The text a chat's assistant message shows, rebuilt from its `events` the
// way Open WebUI's frontend does: `response:completion` events carry the
// Responses API's stream (`response.output_text.delta` deltas appended to an
// output item, `response.output_item.*` items), `chat:completion` events carry
// snapshots (`content`, or `output` items whose message text is the text).
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
  const deltas = new Map(); // output_index -> text from deltas
  const items = new Map(); // output_index -> text of a completed item
  let snapshot = null; // last chat:completion content or output text
  let done = false;
  const types = {};
  const responseTypes = {};
  for (const { data } of events) {
    const type = data.data && data.data.type;
    types[type] = (types[type] || 0) + 1;
    const d = (data.data && data.data.data) || {};
    if (type === "response:completion") {
      responseTypes[d.type] = (responseTypes[d.type] || 0) + 1;
      const idx = Number.isInteger(d.output_index) ? d.output_index : 0;
      if (typeof d.type === "string" && d.type.endsWith(".output_text.delta")) {
        deltas.set(idx, (deltas.get(idx) || "") + String(d.delta ?? ""));
      } else if (d.type === "response.output_item.done" && d.item) {
        const text = outputText([d.item]);
        if (text != null) items.set(idx, text);
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
      if (d.done === true) done = true;
    }
  }
  const order = (m) => [...m.keys()].sort((x, y) => x - y).map((k) => m.get(k));
  return {
    count: events.length,
    types,
    responseTypes,
    deltaText: deltas.size ? order(deltas).join("\n") : null,
    itemText: items.size ? order(items).join("\n") : null,
    snapshotText: snapshot,
    done,
  };
}

async function typing(clients, channelId) {
  const [a, b] = clients;
  const out = {};
  // the frontend joins its channels on user-join, and again on channel:created
  for (const c of clients) out[`${c.name}JoinChannels`] = (await ack(c.socket, "join-channels", { auth: { token: config.token } })).length;
  const got = (c) => withTimeout(new Promise((resolve) => {
    const check = () => {
      const hit = c.channelEvents.find((e) => e.channel_id === channelId && e.data && e.data.type === "typing");
      if (hit) resolve(hit); else setTimeout(check, 20);
    };
    check();
  }), `typing relay to ${c.name}`);
  await ack(a.socket, "events:channel", {
    channel_id: channelId, message_id: null, data: { type: "typing", data: { typing: true } },
  });
  out.toOther = await got(b);
  out.toSelf = await got(a);
  return out;
}

// `usage` {model} from every client (the frontend sends it while a model is
// in use), then GET /api/usage on every instance until it lists every
// client's model: Open WebUI's USAGE_POOL (a RedisDict under Redis) seen from
// each instance. Polled, bounded: a near cache may lag a write by a moment.
async function usage(clients, urls) {
  const models = clients.map((c) => `usage-probe-${c.name}`);
  for (const [i, c] of clients.entries()) {
    c.usageAck = (await ack(c.socket, "usage", { model: models[i] })).length;
  }
  const started = Date.now();
  const out = { models, seen: {} };
  for (const url of urls) {
    let ids = [];
    while (Date.now() - started < 3000) {
      const res = await withTimeout(fetch(`${url}/api/usage`, {
        headers: { authorization: `Bearer ${config.token}` },
      }), "GET /api/usage");
      ids = (await res.json()).model_ids || [];
      if (models.every((m) => ids.includes(m))) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    out.seen[url] = { modelIds: ids, ms: Date.now() - started };
  }
  return out;
}

// The frontend's chat page: `events:chat` join (ack true) puts the socket in
// room chat:<id> and publishes the chat's presence; typing from the first
// client reaches the others in the room but not itself (skip_sid).
async function chatRoom(clients, chatId) {
  const [a, ...others] = clients;
  const out = { joinAcks: {}, presence: {} };
  for (const c of clients) {
    out.joinAcks[c.name] = (await ack(c.socket, "events:chat", { chat_id: chatId, data: { type: "join" } }))[0];
  }
  const find = (c, pred, what) => withTimeout(new Promise((resolve) => {
    const check = () => {
      const hit = c.events.find((e) => e.data && e.data.chat_id === chatId && e.data.data && pred(e.data));
      if (hit) resolve(hit.data); else setTimeout(check, 20);
    };
    check();
  }), what);
  // every join publishes the presence: the last one lists every session's user
  for (const c of clients) {
    const p = await find(c, (d) => d.data.type === "chat:presence"
      && d.data.data.users.length > 0, `chat:presence on ${c.name}`);
    out.presence[c.name] = p.data.data.users;
  }
  out.typingAck = (await ack(a.socket, "events:chat", {
    chat_id: chatId, data: { type: "typing", data: { typing: true } },
  }))[0];
  out.toOthers = {};
  for (const c of others) out.toOthers[c.name] = await find(c, (d) => d.data.type === "typing", `chat typing on ${c.name}`);
  await new Promise((r) => setTimeout(r, 300));
  out.senderGotTyping = a.events.some((e) => e.data && e.data.chat_id === chatId && e.data.data
    && e.data.data.type === "typing");
  return out;
}

async function chat(clients, spec) {
  const via = clients.find((c) => c.name === spec.via) || clients[0];
  const userId = randomUUID();
  const assistantId = randomUUID();
  const body = {
    stream: true,
    model: spec.model,
    messages: [{ role: "user", content: spec.prompt }],
    params: {},
    tool_servers: [],
    features: { image_generation: false, code_interpreter: false, web_search: false, memory: false },
    variables: {},
    model_item: {},
    session_id: via.sid,
    chat_id: null,
    id: assistantId,
    parent_id: null,
    user_message: {
      id: userId, parentId: null, childrenIds: [], role: "user", content: spec.prompt,
      timestamp: Math.floor(Date.now() / 1000), models: [spec.model],
    },
    background_tasks: {},
  };
  const started = Date.now();
  const res = await withTimeout(fetch(`${spec.url}/api/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${config.token}` },
    body: JSON.stringify(body),
  }), "POST /api/chat/completions");
  const text = await res.text();
  let response;
  try { response = JSON.parse(text); } catch { response = text; }
  if (!res.ok) throw new Error(`POST /api/chat/completions: ${res.status} ${text.slice(0, 2000)}`);
  const chatId = response.chat_id;
  step(`chat ${chatId} started`);
  const mine = (c) => c.events.filter((e) => e.data && e.data.chat_id === chatId);
  const finished = (c) => mine(c).some((e) => e.data.message_id === assistantId
    && e.data.data && e.data.data.type === "chat:completion" && e.data.data.data && e.data.data.data.done === true);
  // every client has the final message; then a short quiet time for stragglers
  await withTimeout(new Promise((resolve) => {
    const check = () => (clients.every(finished) ? resolve() : setTimeout(check, 20));
    check();
  }), "the chat's done event on every client", spec.timeoutMs || 60000);
  const streamedMs = Date.now() - started;
  await new Promise((r) => setTimeout(r, 300));
  const per = {};
  for (const c of clients) {
    const events = mine(c);
    const assistant = events.filter((e) => e.data.message_id === assistantId);
    // everything but the per-token deltas, for the report (long values cut)
    const others = events.filter((e) => !(e.data.data && e.data.data.type === "response:completion"
      && e.data.data.data && String(e.data.data.data.type).endsWith(".delta")))
      .map((e) => JSON.stringify(e.data).slice(0, 400));
    // arrival span of the assistant's text deltas (first to last), to check
    // the merged emit rate against the merge window
    const deltaAt = assistant.filter((e) => e.data.data && e.data.data.type === "response:completion"
      && e.data.data.data && String(e.data.data.data.type).endsWith(".delta")).map((e) => e.at);
    per[c.name] = { ...rebuild(assistant), all: events.length, others,
      deltaEmits: deltaAt.length,
      deltaSpanMs: deltaAt.length ? deltaAt[deltaAt.length - 1] - deltaAt[0] : null,
      firstAt: events.length ? events[0].at - started : null,
      lastAt: events.length ? events[events.length - 1].at - started : null };
  }
  return { response, chatId, assistantId, streamedMs, clients: per };
}

async function main() {
  const clients = [];
  for (const spec of config.clients) clients.push(await connect(spec));
  const out = { clients: {} };
  for (const c of clients) {
    out.clients[c.name] = { sid: c.sid, transport: c.transport, userJoin: c.userJoin, heartbeat: c.heartbeat };
  }
  if (config.usage) out.usage = await usage(clients, [...new Set(config.clients.map((c) => c.url))]);
  if (config.channelId) out.typing = await typing(clients, config.channelId);
  if (config.chat) out.chat = await chat(clients, config.chat);
  if (config.chats) {
    out.chats = [];
    for (const spec of config.chats) out.chats.push(await chat(clients, spec));
  }
  const firstChat = out.chat || (out.chats && out.chats[0]);
  if (config.chatRoom && firstChat) out.chatRoom = await chatRoom(clients, firstChat.chatId);
  for (const c of clients) out.clients[c.name].connectedAtEnd = c.socket.connected;
  return out;
}

main().then(
  (result) => { clearTimeout(limit); finish(0, result); },
  (err) => { clearTimeout(limit); process.stderr.write(`${(err && err.stack) || err}\n`); finish(1); },
);
