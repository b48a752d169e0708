// Drives the official socket.io-client against a test server (tests/apps/chat.py)
// and prints one JSON object with everything it observed.
// usage: node scenario.mjs <url> <transports as JSON, e.g. ["websocket"]>
import { io } from "socket.io-client";

const [url, transportsJson] = process.argv.slice(2);
const transports = JSON.parse(transportsJson);
const deadline = setTimeout(() => { console.error("scenario timed out"); process.exit(2); }, 15000);

const opts = (extra = {}) => ({ transports, reconnection: false, forceNew: true, ...extra });
const once = (socket, event) => new Promise((resolve) => socket.once(event, (...a) => resolve(a)));
const ack = (socket, ...args) => socket.timeout(5000).emitWithAck(...args);
const ackAll = (socket, ...args) => new Promise((resolve, reject) =>
  socket.timeout(5000).emit(...args, (err, ...reply) => (err ? reject(err) : resolve(reply))));
const connected = async (socket) => { if (!socket.connected) await once(socket, "connect"); return socket; };

async function main() {
  const out = {};
  const a = await connected(io(url + "?x=1", opts({ auth: { token: "js" } })));
  if (transports.length > 1 && a.io.engine.transport.name !== "websocket") {
    await once(a.io.engine, "upgrade");
  }
  out.transport = a.io.engine.transport.name;
  out.whoami = await ack(a, "whoami");
  out.id = a.id;
  out.echo = await ackAll(a, "echo", "text", 7, { nested: ["ü", null] });
  out.binary = await ack(a, "echo", { blob: Buffer.from([0, 1, 255]), list: [new Uint8Array([9, 8])] });
  out.binary_ok = Buffer.isBuffer(out.binary.blob) && out.binary.blob.equals(Buffer.from([0, 1, 255]))
    && Buffer.from(out.binary.list[0]).equals(Buffer.from([9, 8]));
  delete out.binary;

  a.on("question", (q, reply) => reply("answer to " + q));
  out.ask = await ack(a, "ask", { q: "life", timeout: 5 });

  // rooms: b in blue only, a in red and blue; c shouts
  const news = { a: [], b: [] };
  const b = await connected(io(url, opts()));
  const c = await connected(io(url, opts()));
  a.on("news", (d) => news.a.push(d));
  b.on("news", (d) => news.b.push(d));
  await ack(a, "join", "red");
  await ack(a, "join", "blue");
  await ack(b, "join", "blue");
  await ack(c, "shout", { to: ["red", "blue"], data: 1 });
  await ack(c, "shout", { to: "blue", skip: a.id, data: 2 });
  await new Promise((r) => setTimeout(r, 300));
  out.news = news;

  // namespaces
  const chat = await connected(io(url + "/chat", opts()));
  const said = once(chat, "said");
  out.say = await ack(chat, "say", "yo");
  out.said = (await said)[0];
  out.chat_id_differs = chat.id !== a.id;

  const nowhere = io(url + "/nowhere", opts());
  out.nowhere = (await once(nowhere, "connect_error"))[0].message;

  // refusal with data
  const refused = io(url, opts({ auth: { refuse: "custom" } }));
  const err = (await once(refused, "connect_error"))[0];
  out.refused = { message: err.message, data: err.data };

  // server-side disconnect
  const gone = once(b, "disconnect");
  b.emit("kick");
  out.kicked = (await gone)[0];

  // client-side disconnect, as the server saw it
  const cid = c.id;
  c.disconnect();
  out.client_reason = await ack(a, "reason_of", cid);

  for (const s of [a, chat, nowhere, refused]) s.disconnect();
  clearTimeout(deadline);
  console.log(JSON.stringify(out));
  process.exit(0);
}

main().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
