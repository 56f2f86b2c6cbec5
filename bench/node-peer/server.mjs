// The Node.js peer of the fan-out benchmark: a socket.io@4 server doing the
// same work as the gateway for the price path, so the load generator
// (`cargo run -p gateway-bench --release --bin loadgen`) can measure both
// the same way.
//
// - Handshake: the JWT from `auth.token` (or `?token=`) is verified (HS256,
//   `JWT_SECRET`, `sub` and `exp` required); refusals are `connect_error`
//   with the gateway's codes. An admitted socket gets `connected`.
// - `subscribe:prices { symbols }`: validated like the gateway (symbol
//   pattern, at most MAX_SYMBOLS_PER_SOCKET per socket), joins one room per
//   symbol, emits `prices:initial { prices }` and acks
//   `{ ok: true, symbols, prices }`.
// - Every INTERVAL_MS, one tick `{ symbol, bid, ask, timestamp }` per symbol
//   (a random walk, bid/ask rounded like the gateway's simulated source) is
//   emitted to that symbol's room: `io.to(symbol).emit("price:update", tick)`.
// - `GET /health` answers `{"status":"ok"}` (the load generator waits on it).
//
// Environment: PORT (3007), HOST (127.0.0.1), JWT_SECRET (required),
// SYMBOLS (comma-separated), INTERVAL_MS (100), MAX_SYMBOLS_PER_SOCKET (50).

import { createServer } from "node:http";
import jwt from "jsonwebtoken";
import { Server } from "socket.io";

const port = Number(process.env.PORT ?? 3007);
const host = process.env.HOST ?? "127.0.0.1";
const secret = process.env.JWT_SECRET;
if (!secret) {
  console.error("JWT_SECRET is required");
  process.exit(2);
}
const symbols = (process.env.SYMBOLS ?? "EURUSD,GBPUSD,USDJPY")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
const intervalMs = Number(process.env.INTERVAL_MS ?? 100);
const maxSymbols = Number(process.env.MAX_SYMBOLS_PER_SOCKET ?? 50);
const SYMBOL = /^[A-Z0-9][A-Z0-9._:-]{0,31}$/;

const http = createServer((req, res) => {
  if (req.url === "/health") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"status":"ok"}');
    return;
  }
  res.writeHead(404).end();
});
const io = new Server(http, { serveClient: false, maxHttpBufferSize: 1 << 20 });

io.use((socket, next) => {
  const token = socket.handshake.auth?.token ?? socket.handshake.query?.token;
  if (typeof token !== "string" || token === "") {
    return next(new Error("AUTH_MISSING: no token in the handshake"));
  }
  try {
    const claims = jwt.verify(token, secret, { algorithms: ["HS256"], clockTolerance: 60 });
    if (typeof claims.sub !== "string" || typeof claims.exp !== "number") {
      return next(new Error("AUTH_INVALID: the token lacks sub or exp"));
    }
    socket.data.userId = claims.sub;
    socket.data.symbols = new Set();
    next();
  } catch (e) {
    const code = e.name === "TokenExpiredError" ? "AUTH_EXPIRED" : "AUTH_INVALID";
    next(new Error(`${code}: ${e.message}`));
  }
});

/** The latest tick of each symbol. */
const latest = new Map();

function reply(ack, body) {
  if (typeof ack === "function") ack(body);
}

io.on("connection", (socket) => {
  socket.emit("connected", {
    userId: socket.data.userId,
    socketId: socket.id,
    serverTime: Date.now(),
    limits: { messagesPerMinute: 60, maxSymbols },
  });
  socket.on("subscribe:prices", (payload, ack) => {
    const wanted = payload?.symbols;
    if (!Array.isArray(wanted) || !wanted.every((s) => typeof s === "string" && SYMBOL.test(s))) {
      reply(ack, { ok: false, error: { code: "INVALID_PAYLOAD", message: "symbols must be a list of symbols" } });
      return;
    }
    const mine = socket.data.symbols;
    const fresh = wanted.filter((s) => !mine.has(s));
    if (mine.size + new Set(fresh).size > maxSymbols) {
      reply(ack, { ok: false, error: { code: "LIMIT_EXCEEDED", message: `at most ${maxSymbols} symbols per connection` } });
      return;
    }
    for (const s of wanted) mine.add(s);
    socket.join(wanted);
    const prices = wanted.map((s) => latest.get(s)).filter(Boolean);
    socket.emit("prices:initial", { prices });
    reply(ack, { ok: true, prices, symbols: [...mine] });
  });
});

/** A geometric random walk per symbol with a 1.5 pip spread. */
const walks = symbols.map((symbol) => {
  const jpy = symbol.endsWith("JPY");
  return { symbol, mid: jpy ? 100 : 1, pip: jpy ? 0.01 : 0.0001, scale: jpy ? 1e3 : 1e5 };
});
let lastTimestamp = 0;
setInterval(() => {
  const timestamp = Math.max(Date.now(), lastTimestamp + 1);
  lastTimestamp = timestamp;
  for (const w of walks) {
    w.mid *= Math.exp(0.00005 * (Math.random() - 0.5));
    const half = 0.75 * w.pip;
    const bidPoints = Math.floor((w.mid - half) * w.scale);
    const askPoints = Math.max(Math.ceil((w.mid + half) * w.scale), bidPoints + 1);
    const tick = { symbol: w.symbol, bid: bidPoints / w.scale, ask: askPoints / w.scale, timestamp };
    latest.set(w.symbol, tick);
    io.to(w.symbol).emit("price:update", tick);
  }
}, intervalMs);

http.listen(port, host, () => {
  console.log(`node peer listening on http://${host}:${port} (${symbols.length} symbols every ${intervalMs} ms)`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
