// Drives the official socket.io-client against tests/apps/js_app.py.
//
// usage: node runner.mjs <scenario> <server url> [transports as JSON]
//   e.g. node runner.mjs echo http://127.0.0.1:8000 '["websocket"]'
//
// Prints one line of JSON (what the client observed) on stdout and exits 0;
// on failure prints the error and a trace on stderr and exits 1; exits 2 if
// the scenario does not finish within LIMIT_MS. Binary values are printed as
// {"$bin": hex, "$type": constructor name}, undefined as {"$undefined": true}.
import { createHash } from "node:crypto";
import { io } from "socket.io-client";

const LIMIT_MS = 10000; // whole scenario
const STEP_MS = 5000; // any single wait

const [scenarioName, url, transportsJson] = process.argv.slice(2);
const transports = JSON.parse(transportsJson || '["polling", "websocket"]');
const upgrading = transports.includes("polling") && transports.includes("websocket");
const sockets = [];
const trace = [];

function finish(code, result) {
  for (const s of sockets) {
    try { s.disconnect(); } catch { /* already gone */ }
    try { s.io.engine && s.io.engine.close(); } catch { /* already gone */ }
  }
  // stdout may be a pipe: exit only once the whole line has been written
  setTimeout(() => process.exit(code), 3000);
  if (code !== 0) process.stderr.write("trace:\n  " + trace.join("\n  ") + "\n");
  process.stdout.write(result === undefined ? "" : JSON.stringify(result) + "\n", () => process.exit(code));
}

const limit = setTimeout(() => {
  process.stderr.write(`scenario ${scenarioName} timed out after ${LIMIT_MS} ms\n`);
  finish(2);
}, LIMIT_MS);

const step = (what) => trace.push(`${Date.now() % 100000} ${what}`);

function withTimeout(promise, what, ms = STEP_MS) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

// Resolves with the argument list of the next `event` on `emitter`.
const next = (emitter, event, ms = STEP_MS) =>
  withTimeout(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))),
    `event ${event}`, ms);

// Appends the argument list of every `event` to the returned array.
function collect(emitter, event) {
  const got = [];
  emitter.on(event, (...args) => got.push(args));
  return got;
}

// Emits and resolves with the list of ack arguments.
const ack = (socket, ...args) => new Promise((resolve, reject) => {
  socket.timeout(STEP_MS).emit(...args, (err, ...reply) => {
    if (err) reject(new Error(`no ack for ${String(args[0])} on ${socket.nsp}`));
    else resolve(reply);
  });
});
const ack1 = async (socket, ...args) => (await ack(socket, ...args))[0];

// JSON-safe view of received values (bytes and undefined made visible);
// binary longer than 1 KiB is shown by length and sha256.
function bin(buf, type) {
  if (buf.length <= 1024) return { $bin: buf.toString("hex"), $type: type };
  return { $len: buf.length, $sha256: createHash("sha256").update(buf).digest("hex"), $type: type };
}

function enc(v) {
  if (v === undefined) return { $undefined: true };
  if (Buffer.isBuffer(v)) return bin(v, "Buffer");
  if (v instanceof ArrayBuffer) return bin(Buffer.from(v), "ArrayBuffer");
  if (ArrayBuffer.isView(v)) return bin(Buffer.from(v.buffer, v.byteOffset, v.byteLength), v.constructor.name);
  if (Array.isArray(v)) return v.map(enc);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, enc(x)]));
  }
  return v;
}

// A socket (own manager unless `manager` given) that has not necessarily connected.
function open(path = "", extra = {}, manager = null) {
  const s = manager ? manager.socket(path, extra)
    : io(url + path, { transports, reconnection: false, forceNew: true, timeout: STEP_MS, ...extra });
  sockets.push(s);
  const engine = s.io.engine;
  if (!manager && engine) {
    s.initialTransport = engine.transport && engine.transport.name;
    s.upgradeSeen = false;
    engine.on("upgrade", (t) => { s.upgradeSeen = true; step(`${path || "/"} upgraded to ${t.name}`); });
  }
  return s;
}

// Waits for the socket's connect (rejects on connect_error) and, when both
// transports are allowed, for the engine's upgrade to websocket.
async function connected(s, label = "socket") {
  if (!s.connected) {
    await withTimeout(new Promise((resolve, reject) => {
      s.once("connect", resolve);
      s.once("connect_error", (e) => reject(new Error(`${label}: connect_error ${e.message}`)));
    }), `${label} connect`);
  }
  step(`${label} connected as ${s.id}`);
  if (upgrading && s.io.engine.transport.name !== "websocket") {
    await next(s.io.engine, "upgrade");
  }
  return s;
}

const connect = (path = "", extra = {}) => connected(open(path, extra), path || "/");

function transportInfo(s) {
  return { initial: s.initialTransport, final: s.io.engine.transport.name, upgradeSeen: s.upgradeSeen };
}

// ---------------------------------------------------------------- scenarios

const scenarios = {};

scenarios.connect = async () => {
  const a = await connect();
  const b = await connect();
  return {
    a: { id: a.id, connected: a.connected, whoami: await ack1(a, "whoami"), engine: transportInfo(a) },
    b: { id: b.id, whoami: await ack1(b, "whoami"), engine: transportInfo(b) },
  };
};

const ECHO_VALUES = [
  "hello", "", 42, -7, 0, 3.5, 0.1, 9007199254740991, true, false,
  { a: 1, b: { c: [1, 2, { d: "x" }] }, e: null },
  [1, "two", null, [3, [4]], {}],
  [],
  {},
  "ünïcødé ☃ 😀 中文 \"quoted\" \\ back/slash\nnew line\ttab",
  { "ключ": "значение", "emoji 🎉": ["✓"] },
  "x".repeat(20000),
];

scenarios.echo = async () => {
  const a = await connect();
  const out = { single: [], engine: null };
  for (const value of ECHO_VALUES) {
    const event = next(a, "echoed_one");
    const reply = await ack(a, "echo_one", value);
    out.single.push({ sent: value, ack: enc(reply), event: enc(await event) });
  }
  // null as the only argument
  {
    const event = next(a, "echoed_one");
    const reply = await ack(a, "echo_one", null);
    out.nullOnly = { ack: enc(reply), event: enc(await event) };
  }
  // several arguments: the tuple return gives one ack argument each
  {
    const event = next(a, "echoed");
    const reply = await ack(a, "echo", "a", 1, { x: null }, [true, false], "ü", null);
    out.multi = { ack: enc(reply), event: enc(await event) };
  }
  {
    const event = next(a, "echoed");
    const reply = await ack(a, "echo");
    out.noArgs = { ack: enc(reply), event: enc(await event) };
  }
  {
    const event = next(a, "echoed");
    a.emit("echo", "fire and forget", 2);
    out.noAck = { event: enc(await event) };
  }
  out.returnsNone = enc(await ack(a, "returns_none"));
  out.returnsList = enc(await ack(a, "returns_list"));
  out.engine = transportInfo(a);
  out.transport = (await ack1(a, "whoami")).transport;
  return out;
};

scenarios.ack = async () => {
  const a = await connect();
  const silent = [];
  a.on("question", (data, cb) => cb({ got: data, from: "js" }));
  a.on("question_multi", (data, cb) => cb("a", 2, { three: 3 }, null));
  a.on("question_bin", (data, cb) => cb(Buffer.from([1, 2, 3]), { nested: Buffer.from("hi") }));
  a.on("question_silent", (data) => silent.push(data));
  const out = {};
  out.single = await ack1(a, "ask", { event: "question", data: { q: "life", n: [4, 2] }, timeout: 5 });
  out.multi = await ack1(a, "ask", { event: "question_multi", data: "m", timeout: 5 });
  out.binary = await ack1(a, "ask", { event: "question_bin", data: "b", timeout: 5 });
  const t0 = Date.now();
  out.silent = await ack1(a, "ask", { event: "question_silent", data: "nobody answers", timeout: 1 });
  out.silentMs = Date.now() - t0;
  out.silentSeen = silent;
  const result = next(a, "cb_result");
  out.callbackAck = await ack(a, "ask_callback", { event: "question_multi", data: "via callback" });
  out.callback = (await result)[0];
  out.transport = (await ack1(a, "whoami")).transport;
  out.engine = transportInfo(a);
  return out;
};

scenarios.rooms = async () => {
  const a = await connect();
  const b = await connect();
  const c = await connect();
  const clients = { a, b, c };
  const news = {};
  for (const [k, s] of Object.entries(clients)) {
    news[k] = [];
    s.on("news", (...args) => news[k].push(args.length === 1 ? args[0] : args));
  }
  const out = { joins: {} };
  out.joins.a = await ack1(a, "join", "red");
  out.joins.a = await ack1(a, "join", "blue");
  out.joins.b = await ack1(b, "join", "blue");
  out.joins.c = await ack1(c, "join", "green");
  const shouts = [
    { to: "red", data: 1 },
    { to: ["red", "blue"], data: 2 },
    { to: "blue", skip: a.id, data: 3 },
    { data: 4 },
    { skip: c.id, data: 5 },
    { to: ["red", "green"], skip: a.id, data: 6 },
    { to: c.id, data: 7 },
    { skip: [a.id, b.id], data: 8 },
  ];
  for (const spec of shouts) await ack(c, "shout", spec);
  out.leave = await ack1(b, "leave", "blue");
  await ack(c, "shout", { to: "blue", data: 9 });
  await ack(c, "close", "red");
  await ack(c, "shout", { to: "red", data: 10 });
  await ack(c, "shout", { to: "no such room", data: 11 });
  // everything queued for a client before its barrier ack has arrived
  await Promise.all(Object.values(clients).map((s) => ack(s, "barrier")));
  out.news = news;
  out.ids = { a: a.id, b: b.id, c: c.id };
  out.roomsAfter = {};
  for (const [k, s] of Object.entries(clients)) out.roomsAfter[k] = (await ack1(s, "whoami")).rooms;
  return out;
};

scenarios.namespaces = async () => {
  const main = await connect();
  const chat = await connect("/chat");
  const chat2 = await connected(open("/chat", {}, main.io), "multiplexed /chat");
  const clients = { main, chat, chat2 };
  const said = {};
  const news = {};
  for (const [k, s] of Object.entries(clients)) {
    said[k] = collect(s, "said");
    news[k] = collect(s, "news");
  }
  const out = { ids: {}, whoami: {} };
  for (const [k, s] of Object.entries(clients)) {
    out.ids[k] = s.id;
    out.whoami[k] = await ack1(s, "whoami");
  }
  out.sameEngine = chat2.io === main.io;
  out.say = await ack1(chat, "say", "yo");
  await ack(main, "shout", { namespace: "/chat", data: "to chat" });
  await ack(main, "shout", { data: "to root" });
  await Promise.all(Object.values(clients).map((s) => ack(s, "barrier")));
  out.said = said;
  out.news = news;

  const nowhere = open("/nowhere");
  const [err] = await next(nowhere, "connect_error");
  out.nowhere = { message: err.message, data: enc(err.data), isError: err instanceof Error,
    connected: nowhere.connected };
  const nowhere2 = open("/nowhere2", {}, main.io);
  const [err2] = await next(nowhere2, "connect_error");
  out.nowhereMultiplexed = { message: err2.message, data: enc(err2.data) };
  out.mainAfter = { connected: main.connected, sid: (await ack1(main, "whoami")).sid };
  return out;
};

scenarios.binary = async () => {
  const a = await connect();
  const big = Buffer.from(Array.from({ length: 70000 }, (_, i) => i % 251));
  const payload = {
    a: Buffer.from([0, 1, 2, 255]),
    nested: {
      ab: new Uint8Array([10, 20, 30]).buffer,
      list: [Buffer.from("héllo"), "text", 5, new Uint8Array([7, 8, 9])],
    },
  };
  const out = {};
  out.described = await ack1(a, "describe_args", payload, big, "plain");
  const event = next(a, "echoed");
  const reply = await ack(a, "echo", payload, big);
  out.echoAck = enc(reply);
  out.echoEvent = enc(await event);
  out.echoExact = Buffer.isBuffer(reply[0].a) && reply[0].a.equals(payload.a)
    && Buffer.from(reply[0].nested.ab).equals(Buffer.from([10, 20, 30]))
    && Buffer.from(reply[0].nested.list[0]).equals(Buffer.from("héllo"))
    && Buffer.from(reply[1]).equals(big);
  const bytes = next(a, "bytes");
  out.sendAck = enc(await ack(a, "send_bytes"));
  const got = await bytes;
  out.bytesEvent = enc(got);
  out.bytesExact = Buffer.isBuffer(got[0]) && got[0].equals(Buffer.from(Array.from({ length: 256 }, (_, i) => i)))
    && Buffer.from(got[1].list[2]).equals(Buffer.alloc(70000, 1));
  out.transport = (await ack1(a, "whoami")).transport;
  return out;
};

const REFUSALS = ["custom", "message", "multi", "bare", "builtin", "false"];

scenarios.auth = async () => {
  const out = { refused: {} };
  const a = await connect("", { auth: { token: "x", n: 1, nested: { list: [1, "two"] } }, query: { q: "v w" } });
  out.withAuth = await ack1(a, "whoami");
  const b = await connect();
  out.noAuth = await ack1(b, "whoami");
  const e = await connect("", { auth: {} });
  out.emptyAuth = await ack1(e, "whoami");
  const f = await connect("", { auth: (cb) => cb({ token: "from a function" }) });
  out.fnAuth = await ack1(f, "whoami");
  for (const mode of REFUSALS) {
    const s = open("", { auth: { refuse: mode } });
    const [err] = await next(s, "connect_error");
    out.refused[mode] = { message: err.message, data: enc(err.data), connected: s.connected, id: enc(s.id) };
  }
  const rc = open("/chat", { auth: { refuse: "custom" } });
  const [errc] = await next(rc, "connect_error");
  out.refusedChat = { message: errc.message, data: enc(errc.data) };
  out.stillThere = (await ack1(a, "whoami")).sid === a.id;
  return out;
};

scenarios.disconnect = async () => {
  const out = {};
  const a = await connect();
  // client-side disconnect
  {
    const c = await connect();
    const cid = c.id;
    const reason = next(c, "disconnect");
    c.disconnect();
    out.clientDisconnect = { client: (await reason)[0], server: await ack1(a, "reason_of", cid),
      connected: c.connected };
  }
  // server-side disconnect of another client
  {
    const b = await connect();
    const bid = b.id;
    const reason = next(b, "disconnect");
    out.kickAck = await ack1(a, "kick", { sid: bid });
    out.serverDisconnect = { client: (await reason)[0], server: await ack1(a, "reason_of", bid),
      connected: b.connected };
  }
  // server disconnects only the /chat socket multiplexed on a's connection
  {
    const chat = await connected(open("/chat", {}, a.io), "multiplexed /chat");
    const chatId = chat.id;
    const reason = next(chat, "disconnect");
    await ack(a, "kick", { sid: chatId, namespace: "/chat" });
    out.namespaceKick = { client: (await reason)[0], server: await ack1(a, "reason_of", chatId),
      mainStillConnected: a.connected, mainSid: (await ack1(a, "whoami")).sid === a.id };
  }
  // the client leaves only /chat on a shared connection
  {
    const d = await connect();
    const dchat = await connected(open("/chat", {}, d.io), "multiplexed /chat");
    const dchatId = dchat.id;
    dchat.disconnect();
    out.namespaceLeave = { server: await ack1(a, "reason_of", dchatId),
      mainStillConnected: d.connected, mainSid: (await ack1(d, "whoami")).sid === d.id };
  }
  // the client drops the whole connection (engine close, no DISCONNECT packet)
  {
    const e = await connect();
    const eid = e.id;
    const reason = next(e, "disconnect");
    e.io.engine.close();
    out.engineClose = { client: (await reason)[0], server: await ack1(a, "reason_of", eid) };
  }
  out.ids = { a: a.id };
  return out;
};

// ---------------------------------------------------------------- main

const scenario = scenarios[scenarioName];
if (!scenario || !url) {
  process.stderr.write(`usage: node runner.mjs <${Object.keys(scenarios).join("|")}> <url> [transports]\n`);
  process.exit(64);
}
step(`${scenarioName} against ${url} over ${JSON.stringify(transports)}`);
scenario().then(
  (result) => { clearTimeout(limit); finish(0, result); },
  (err) => { clearTimeout(limit); process.stderr.write(`${(err && err.stack) || err}\n`); finish(1); },
);
