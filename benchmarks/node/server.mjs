// The Node socket.io 4 server of benchmarks/native_compare.py: the same events
// and answers as benchmarks/bench_app.py (python-socketio / fastsio), so the
// load generator (benchmarks/loadgen) drives all of them alike.
//
//   node benchmarks/node/server.mjs --port P [--host 127.0.0.1]
//
// Listens on loopback only; prints "listening <port>" once ready; exits on
// SIGTERM / SIGINT. socket.io's own defaults otherwise (path /socket.io/,
// pingInterval 25 s, pingTimeout 20 s, no per-message deflate).
import { createServer } from "node:http";
import { Server } from "socket.io";

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const host = arg("--host", "127.0.0.1");
const port = Number(arg("--port", "0"));
if (!["127.0.0.1", "localhost", "::1"].includes(host)) {
  console.error("server.mjs: --host must be a loopback address");
  process.exit(2);
}

const httpServer = createServer();
const io = new Server(httpServer, { cors: { origin: "*" } });

io.on("connection", (socket) => {
  // join(room) -> ack true
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack(true);
  });
  // blast({room, count, size}) -> `count` "tick" events {i, text} to room, ack count
  socket.on("blast", (spec, ack) => {
    const text = "x".repeat(spec.size);
    for (let i = 0; i < spec.count; i++) io.to(spec.room).emit("tick", { i, text });
    if (typeof ack === "function") ack(spec.count);
  });
  // echo(data) -> ack data
  socket.on("echo", (data, ack) => {
    if (typeof ack === "function") ack(data);
  });
});

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}

httpServer.listen(port, host, () => {
  console.log(`listening ${httpServer.address().port}`);
});
