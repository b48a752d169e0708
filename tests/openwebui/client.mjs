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
import { chatBody, chatFailed, harness, isDone, rebuild } from "./owui_client_lib.mjs";

const config = JSON.parse(process.argv[2] || "{}");
const trace = [];
const step = (what) => trace.push(`${Date.now() % 100000} ${what}`);
const { withTimeout, ack, openSocket, connected, frontendJoin, postChat, run } = harness({
  name: "client.mjs",
  limitMs: config.limitMs || 90000,
  stepMs: config.stepMs || 10000,
  onFailure: () => process.stderr.write("trace:\n  " + trace.join("\n  ") + "\n"),
});

async function connect({ name, url }) {
  const s = openSocket(url, config.token);
  const client = { name, socket: s, events: [], channelEvents: [] };
  s.on("events", (data) => client.events.push({ at: Date.now(), data }));
  s.on("events:channel", (data) => client.channelEvents.push(data));
  await connected(s, name);
  step(`${name} connected to ${url} as ${s.id}`);
  client.sid = s.id;
  client.transport = s.io.engine.transport.name;
  // what the frontend does once connected (src/routes/+layout.svelte)
  const joined = await frontendJoin(s, config.token);
  client.userJoin = joined.userJoin[0] ?? null;
  client.heartbeat = joined.heartbeat.length;
  return client;
}

// The text a chat's assistant message shows: rebuild() in owui_client_lib.mjs,
// the way Open WebUI's frontend does; these are the fields reported.
function shown(events) {
  const r = rebuild(events);
  return {
    count: r.count,
    types: r.types,
    responseTypes: r.responseTypes,
    deltaText: r.deltaText,
    itemText: r.itemText,
    snapshotText: r.snapshotText,
    done: r.done,
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
  const assistantId = randomUUID();
  const body = chatBody({ model: spec.model, prompt: spec.prompt, sessionId: via.sid, assistantId });
  const started = Date.now();
  const res = await postChat(spec.url, config.token, body);
  const text = await res.text();
  let response;
  try { response = JSON.parse(text); } catch { response = text; }
  if (!res.ok) throw chatFailed(res, text);
  const chatId = response.chat_id;
  step(`chat ${chatId} started`);
  const mine = (c) => c.events.filter((e) => e.data && e.data.chat_id === chatId);
  const finished = (c) => mine(c).some((e) => e.data.message_id === assistantId && isDone(e.data));
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
    per[c.name] = { ...shown(assistant), all: events.length, others,
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

run(main);
