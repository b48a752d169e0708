// What tests/openwebui/client.mjs and benchmarks/openwebui_client.mjs share:
// Open WebUI's frontend as far as its socket goes (the official
// socket.io-client 4.8 that tests/js installs), the script's run and exit
// protocol, the chat POST and the text rebuilt from a chat's `events`.
import { randomUUID } from "node:crypto";
import { io } from "../js/node_modules/socket.io-client/build/esm-debug/index.js";

// A script's run: its sockets, a limit on its whole run (exit 2 past
// limitMs), bounded waits (stepMs by default) and its end. `run(main)`: the
// result of main() as one line of JSON on stdout and exit 0; on failure the
// error on stderr and exit 1. `onFailure` is called on any exit but 0 (before
// the result, if any, is written).
export function harness({ name, limitMs, stepMs, onFailure }) {
  const sockets = [];

  function finish(code, result) {
    for (const s of sockets) {
      try { s.disconnect(); } catch { /* already gone */ }
    }
    setTimeout(() => process.exit(code), 3000);
    if (code !== 0 && onFailure) onFailure();
    process.stdout.write(result === undefined ? "" : JSON.stringify(result) + "\n", () => process.exit(code));
  }

  const limit = setTimeout(() => {
    process.stderr.write(`${name} timed out after ${limitMs} ms\n`);
    finish(2);
  }, limitMs);

  function withTimeout(promise, what, ms = stepMs) {
    let t;
    const timeout = new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
  }

  // Emits and resolves with the list of ack arguments.
  const ack = (socket, ...args) => new Promise((resolve, reject) => {
    socket.timeout(stepMs).emit(...args, (err, ...reply) => {
      if (err) reject(new Error(`no ack for ${String(args[0])}`));
      else resolve(reply);
    });
  });

  // The frontend's socket: /ws/socket.io over websocket with auth {token}.
  // Returned at once, so that handlers are on before it connects.
  function openSocket(url, token) {
    const s = io(url, {
      path: "/ws/socket.io",
      transports: ["websocket"],
      auth: { token },
      reconnection: false,
      forceNew: true,
      timeout: stepMs,
    });
    sockets.push(s);
    return s;
  }

  const connected = (s, who) => withTimeout(new Promise((resolve, reject) => {
    s.once("connect", resolve);
    s.once("connect_error", (e) => reject(new Error(`${who}: connect_error ${e.message}`)));
  }), `${who} connect`);

  // What the frontend does once connected (src/routes/+layout.svelte):
  // `user-join` {auth: {token}}, then `heartbeat`; resolves with both acks.
  async function frontendJoin(s, token) {
    const userJoin = await ack(s, "user-join", { auth: { token } });
    const heartbeat = await ack(s, "heartbeat", {});
    return { userJoin, heartbeat };
  }

  // POST /api/chat/completions as `token`, bounded by ms.
  const postChat = (url, token, body, ms) => withTimeout(fetch(`${url}/api/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  }), "POST /api/chat/completions", ms);

  function run(main) {
    main().then(
      (result) => { clearTimeout(limit); finish(0, result); },
      (err) => { clearTimeout(limit); process.stderr.write(`${(err && err.stack) || err}\n`); finish(1); },
    );
  }

  return { finish, withTimeout, ack, openSocket, connected, frontendJoin, postChat, run };
}

// The frontend's body of POST /api/chat/completions: one user message
// `prompt` to `model`, a new chat, streamed to the socket `sessionId`, the
// assistant message's id `assistantId`.
export function chatBody({ model, prompt, sessionId, assistantId }) {
  const userId = randomUUID();
  return {
    stream: true,
    model,
    messages: [{ role: "user", content: prompt }],
    params: {},
    tool_servers: [],
    features: { image_generation: false, code_interpreter: false, web_search: false, memory: false },
    variables: {},
    model_item: {},
    session_id: sessionId,
    chat_id: null,
    id: assistantId,
    parent_id: null,
    user_message: {
      id: userId, parentId: null, childrenIds: [], role: "user", content: prompt,
      timestamp: Math.floor(Date.now() / 1000), models: [model],
    },
    background_tasks: {},
  };
}

export function chatFailed(res, text) {
  return new Error(`POST /api/chat/completions: ${res.status} ${text.slice(0, 2000)}`);
}

// Whether an `events` message is a chat's final `chat:completion` {done: true}.
export function isDone(message) {
  const d = message && message.data;
  return Boolean(d && d.type === "chat:completion" && d.data && d.data.done === true);
}

// The text a chat's assistant message shows, rebuilt from its `events`
// ({at, data} each) the way Open WebUI's frontend does: `response:completion`
// events carry the Responses API's stream (`response.output_text.delta`
// deltas appended to an output item, `response.output_item.*` items),
// `chat:completion` events carry snapshots (`content`, or `output` items whose
// message text is the text).
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

export function rebuild(events) {
  const deltas = new Map(); // output_index -> text from deltas
  const items = new Map(); // output_index -> text of a completed item
  let snapshot = null; // last chat:completion content or output text
  let done = false;
  let deltaEvents = 0;
  let lastDeltaAt = null; // `at` of the last text delta
  let doneAt = null; // `at` of the first done
  const types = {};
  const responseTypes = {};
  for (const { at, data } of events) {
    const type = data.data && data.data.type;
    types[type] = (types[type] || 0) + 1;
    const d = (data.data && data.data.data) || {};
    if (type === "response:completion") {
      responseTypes[d.type] = (responseTypes[d.type] || 0) + 1;
      const idx = Number.isInteger(d.output_index) ? d.output_index : 0;
      if (typeof d.type === "string" && d.type.endsWith(".output_text.delta")) {
        deltas.set(idx, (deltas.get(idx) || "") + String(d.delta ?? ""));
        deltaEvents += 1;
        lastDeltaAt = at;
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
      if (d.done === true && !done) { done = true; doneAt = at; }
    }
  }
  const order = (m) => [...m.keys()].sort((x, y) => x - y).map((k) => m.get(k));
  return {
    count: events.length,
    types,
    responseTypes,
    deltaEvents,
    lastDeltaAt,
    doneAt,
    deltaText: deltas.size ? order(deltas).join("\n") : null,
    itemText: items.size ? order(items).join("\n") : null,
    snapshotText: snapshot,
    done,
  };
}
