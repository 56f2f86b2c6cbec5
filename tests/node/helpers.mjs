// Shared helpers of the contract suite: environment, JWT minting (HS256 with
// node:crypto), Socket.IO connections that always close, event waiting with
// timeouts, and small HTTP helpers for the API and the fake trading service.

import crypto from "node:crypto";
import { io } from "socket.io-client";

// ---------------------------------------------------------------- environment

const REQUIRED = ["GATEWAY_URL", "JWT_SECRET", "SERVICE_TOKEN", "TRADING_CONTROL_URL"];
const missing = REQUIRED.filter((k) => !process.env[k]);
if (missing.length > 0) {
  throw new Error(
    `contract tests need the environment variables ${missing.join(", ")} ` +
      "(they are set by the Rust driver that starts the gateway and its fake upstreams)",
  );
}

function intEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return n;
}

export const GATEWAY_URL = process.env.GATEWAY_URL.replace(/\/+$/, "");
export const JWT_SECRET = process.env.JWT_SECRET;
export const SERVICE_TOKEN = process.env.SERVICE_TOKEN;
export const TRADING_CONTROL_URL = process.env.TRADING_CONTROL_URL.replace(/\/+$/, "");
export const LIMITS = Object.freeze({
  connectionsPerUser: intEnv("MAX_CONNECTIONS_PER_USER", 3),
  messagesPerMinute: intEnv("MAX_MESSAGES_PER_MINUTE", 30),
  symbolsPerSocket: intEnv("MAX_SYMBOLS_PER_SOCKET", 5),
  floodDisconnectAfter: intEnv("FLOOD_DISCONNECT_AFTER", 10),
  jwtLeewaySecs: intEnv("JWT_LEEWAY_SECS", 0),
});
export const SYMBOLS = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD"];

// ---------------------------------------------------------------- small utils

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const nowSecs = () => Math.floor(Date.now() / 1000);

/** A fresh user id, so that per-user limits never leak between tests. */
export const newUser = (prefix = "u") => `${prefix}-${crypto.randomUUID()}`;

// ---------------------------------------------------------------- JWTs

export function b64url(input) {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(typeof input === "string" ? input : JSON.stringify(input));
  return buf.toString("base64url");
}

const HMAC = { HS256: "sha256", HS384: "sha384", HS512: "sha512" };

/**
 * Signs `payload` with `header` (default `{ alg: "HS256", typ: "JWT" }`).
 * `alg: "none"` yields an unsigned token (empty signature).
 */
export function signJwt(payload, { header = { alg: "HS256", typ: "JWT" }, secret = JWT_SECRET } = {}) {
  const input = `${b64url(header)}.${b64url(payload)}`;
  if (header.alg === "none") return `${input}.`;
  const hash = HMAC[header.alg];
  if (!hash) throw new Error(`signJwt: unsupported alg ${header.alg}`);
  return `${input}.${crypto.createHmac(hash, secret).update(input).digest("base64url")}`;
}

/**
 * An HS256 token for `sub`. Options: `ttl` (seconds, default 3600), `exp`
 * (absolute, seconds), `roles`, `admin` (adds the admin role), `name`, `nbf`,
 * `extra` (more claims), `noSub`, `secret`, `alg`.
 */
export function mintToken(sub, opts = {}) {
  const claims = { ...(opts.noSub ? {} : { sub }), exp: opts.exp ?? nowSecs() + (opts.ttl ?? 3600), iat: nowSecs() };
  const roles = opts.roles ?? (opts.admin ? ["admin"] : undefined);
  if (roles) claims.roles = roles;
  if (opts.name !== undefined) claims.name = opts.name;
  if (opts.nbf !== undefined) claims.nbf = opts.nbf;
  Object.assign(claims, opts.extra ?? {});
  return signJwt(claims, { header: { alg: opts.alg ?? "HS256", typ: "JWT" }, secret: opts.secret ?? JWT_SECRET });
}

export const adminToken = () => mintToken(newUser("admin"), { admin: true });

// ---------------------------------------------------------------- sockets

const open = new Set();

/**
 * Starts a connection and settles once it is either accepted (after the
 * `connected` greeting) or refused. Resolves `{ socket, greeting }` or
 * `{ error }`; never rejects, never hangs (timeout `timeoutMs`).
 *
 * Options: `token` (sent as `auth.token`), or `auth`, `extraHeaders`,
 * `query`, `transports` (default websocket only), `timeoutMs`, any other
 * socket.io-client option.
 */
export function tryConnect(opts = {}) {
  const { token, timeoutMs = 5000, transports = ["websocket"], ...rest } = opts;
  const options = {
    forceNew: true,
    reconnection: false,
    timeout: timeoutMs,
    transports,
    ...rest,
  };
  if (token !== undefined) options.auth = { ...(rest.auth ?? {}), token };
  const socket = io(GATEWAY_URL, options);
  open.add(socket);
  socket.on("disconnect", (reason) => {
    socket.disconnectReason = reason;
  });
  return new Promise((resolve) => {
    let connected = false;
    let greeting;
    const finish = (result) => {
      clearTimeout(timer);
      socket.off("connected", onGreeting);
      socket.off("connect", onConnect);
      socket.off("connect_error", onError);
      resolve(result);
    };
    const maybeDone = () => {
      if (connected && greeting !== undefined) {
        socket.greeting = greeting;
        finish({ socket, greeting });
      }
    };
    const onGreeting = (g) => {
      greeting = g;
      maybeDone();
    };
    const onConnect = () => {
      connected = true;
      maybeDone();
    };
    const onError = (error) => {
      close(socket);
      finish({ error });
    };
    const timer = setTimeout(() => {
      close(socket);
      finish({
        error: new Error(`TIMEOUT: no connect/connected/connect_error within ${timeoutMs} ms (connected=${connected})`),
      });
    }, timeoutMs + 500);
    socket.on("connected", onGreeting);
    socket.on("connect", onConnect);
    socket.on("connect_error", onError);
  });
}

/** A connected socket (with `.greeting`), or a thrown error naming the refusal. */
export async function connect(opts = {}) {
  const { socket, error } = await tryConnect(opts);
  if (error) throw new Error(`expected the connection to be accepted, got connect_error: ${error.message}`);
  return socket;
}

/** A connected socket for `user` (a fresh user by default), token via `auth.token`. */
export function connectUser(user = newUser(), { tokenOpts, ...opts } = {}) {
  return connect({ token: mintToken(user, tokenOpts), ...opts });
}

/** The `connect_error` of a connection that must be refused. */
export async function connectError(opts = {}) {
  const { socket, error } = await tryConnect(opts);
  if (socket) {
    close(socket);
    throw new Error(`expected connect_error, but the connection was accepted as ${JSON.stringify(socket.greeting)}`);
  }
  return error;
}

/** Closes one socket. */
export function close(socket) {
  open.delete(socket);
  try {
    socket.disconnect();
  } catch {
    // already gone
  }
}

/** Closes every socket this process opened (use in afterEach). */
export async function closeAll() {
  for (const s of [...open]) close(s);
  // Let the server see the disconnects before the next test counts anything.
  await sleep(30);
}

/**
 * The first argument of the next `event` on `socket` (optionally the first
 * matching `filter`); rejects after `timeoutMs`.
 */
export function once(socket, event, timeoutMs = 2000, filter = () => true) {
  return new Promise((resolve, reject) => {
    const handler = (...args) => {
      if (!filter(...args)) return;
      clearTimeout(timer);
      socket.off(event, handler);
      resolve(args[0]);
    };
    const timer = setTimeout(() => {
      socket.off(event, handler);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${event}" on socket ${socket.id ?? "(not connected)"}`));
    }, timeoutMs);
    socket.on(event, handler);
  });
}

/** Resolves with the disconnect reason; rejects after `timeoutMs`. */
export function disconnected(socket, timeoutMs = 2000) {
  if (socket.disconnectReason !== undefined) return Promise.resolve(socket.disconnectReason);
  return once(socket, "disconnect", timeoutMs);
}

/** Records every `event` on `socket` until `stop()`; `items` holds first arguments. */
export function collect(socket, event) {
  const items = [];
  const handler = (arg) => items.push(arg);
  socket.on(event, handler);
  return {
    items,
    stop() {
      socket.off(event, handler);
      return items;
    },
  };
}

/** Emits with an acknowledgement; rejects if none arrives within `timeoutMs`. */
export function ask(socket, event, ...args) {
  return socket.timeout(3000).emitWithAck(event, ...args);
}

/** Asserts that an ack is the contract's failure with `code`; returns the error. */
export function expectFailure(assert, ack, code) {
  assert.equal(typeof ack, "object", `ack must be an object, got ${JSON.stringify(ack)}`);
  assert.equal(ack?.ok, false, `expected ok:false, got ${JSON.stringify(ack)}`);
  assert.equal(typeof ack.error, "object", `ack.error must be an object: ${JSON.stringify(ack)}`);
  assert.equal(ack.error.code, code, `expected ${code}, got ${JSON.stringify(ack)}`);
  assert.equal(typeof ack.error.message, "string");
  assert.ok(ack.error.message.length > 0, "error.message must not be empty");
  return ack.error;
}

/** Asserts that an ack is `{ ok: true, ... }`. */
export function expectOk(assert, ack) {
  assert.equal(ack?.ok, true, `expected ok:true, got ${JSON.stringify(ack)}`);
  return ack;
}

// ---------------------------------------------------------------- HTTP

/** `fetch` against the gateway; returns `{ status, headers, text, json }`. */
export async function api(method, path, { token, body, rawBody, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let payload;
  if (rawBody !== undefined) payload = rawBody;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    h["content-type"] ??= "application/json";
  }
  const res = await fetch(`${GATEWAY_URL}${path}`, {
    method,
    headers: h,
    body: payload,
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Publishes a system event with the service token (or `token`). */
export function publishEvent(event, token = SERVICE_TOKEN) {
  return api("POST", "/api/events", { token, body: event });
}

/** Queues order notifications / position updates at the fake trading service. */
export async function pushTrading({ orders = [], positions = [] }) {
  const res = await fetch(`${TRADING_CONTROL_URL}/push`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ orders, positions }),
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) throw new Error(`POST ${TRADING_CONTROL_URL}/push answered ${res.status}`);
}
