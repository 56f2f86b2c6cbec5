// Contract: Authentication (handshake token sources, rejections with stable
// codes, the `connected` greeting, token refresh and expiry).

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import {
  GATEWAY_URL,
  LIMITS,
  adminToken,
  api,
  ask,
  close,
  closeAll,
  connect,
  connectError,
  connectUser,
  disconnected,
  expectFailure,
  expectOk,
  mintToken,
  newUser,
  nowSecs,
  once,
  signJwt,
  sleep,
  tryConnect,
} from "./helpers.mjs";

afterEach(closeAll);

function assertRefusal(err, code) {
  assert.ok(err instanceof Error, `connect_error must be an Error, got ${err}`);
  assert.ok(
    err.message.startsWith(`${code}: `),
    `connect_error message must start with "${code}: ", got ${JSON.stringify(err.message)}`,
  );
  assert.ok(err.message.length > code.length + 2, "the code is followed by a human sentence");
}

// ------------------------------------------------------------ token sources

test("token in auth.token is accepted and greeted with `connected`", async () => {
  const user = newUser();
  const before = Date.now();
  const socket = await connect({ token: mintToken(user, { name: "Alice" }) });
  const g = socket.greeting;
  assert.equal(g.userId, user);
  assert.equal(g.socketId, socket.id, "socketId equals the client's socket.id");
  assert.equal(typeof g.serverTime, "number");
  assert.ok(Math.abs(g.serverTime - before) < 60_000, `serverTime ${g.serverTime} is ms since epoch`);
  assert.deepEqual(g.limits, {
    messagesPerMinute: LIMITS.messagesPerMinute,
    maxSymbols: LIMITS.symbolsPerSocket,
  });
  assert.equal(socket.connected, true);
  close(socket);
});

test("token in the Authorization: Bearer header is accepted (websocket)", async () => {
  const user = newUser();
  const socket = await connect({ extraHeaders: { Authorization: `Bearer ${mintToken(user)}` } });
  assert.equal(socket.greeting.userId, user);
  close(socket);
});

test("token in the Authorization: Bearer header is accepted (polling)", async () => {
  const user = newUser();
  const socket = await connect({
    transports: ["polling"],
    extraHeaders: { Authorization: `Bearer ${mintToken(user)}` },
  });
  assert.equal(socket.greeting.userId, user);
  assert.equal(socket.io.engine.transport.name, "polling");
  close(socket);
});

test("token in the ?token= query parameter is accepted", async () => {
  const user = newUser();
  const socket = await connect({ query: { token: mintToken(user) } });
  assert.equal(socket.greeting.userId, user);
  close(socket);
});

test("token sources are tried in order: auth.token, then header, then query", async () => {
  const [a, b, c] = [newUser("a"), newUser("b"), newUser("c")];
  const s1 = await connect({
    token: mintToken(a),
    extraHeaders: { Authorization: `Bearer ${mintToken(b)}` },
    query: { token: mintToken(c) },
  });
  assert.equal(s1.greeting.userId, a, "auth.token wins");
  const s2 = await connect({
    extraHeaders: { Authorization: `Bearer ${mintToken(b)}` },
    query: { token: mintToken(c) },
  });
  assert.equal(s2.greeting.userId, b, "the header wins over the query");
  close(s1);
  close(s2);
});

// ------------------------------------------------------------ rejections

test("no token at all → AUTH_MISSING", async () => {
  assertRefusal(await connectError({}), "AUTH_MISSING");
});

test("empty auth.token → AUTH_MISSING", async () => {
  assertRefusal(await connectError({ token: "" }), "AUTH_MISSING");
});

test("bad signature → AUTH_INVALID", async () => {
  const token = mintToken(newUser(), { secret: "not-the-secret" });
  assertRefusal(await connectError({ token }), "AUTH_INVALID");
});

test("tampered payload (signature of another payload) → AUTH_INVALID", async () => {
  const [h, , s] = mintToken(newUser()).split(".");
  const forged = `${h}.${Buffer.from(JSON.stringify({ sub: "admin", exp: nowSecs() + 3600, roles: ["admin"] })).toString("base64url")}.${s}`;
  assertRefusal(await connectError({ token: forged }), "AUTH_INVALID");
});

test("alg: none → AUTH_INVALID", async () => {
  const token = signJwt({ sub: newUser(), exp: nowSecs() + 3600 }, { header: { alg: "none", typ: "JWT" } });
  assertRefusal(await connectError({ token }), "AUTH_INVALID");
});

test("HS384 (an algorithm other than the configured HS256) → AUTH_INVALID", async () => {
  const token = mintToken(newUser(), { alg: "HS384" });
  assertRefusal(await connectError({ token }), "AUTH_INVALID");
});

test("missing sub → AUTH_INVALID", async () => {
  const token = mintToken(undefined, { noSub: true });
  assertRefusal(await connectError({ token }), "AUTH_INVALID");
});

test("nbf in the future → AUTH_INVALID", async () => {
  const token = mintToken(newUser(), { nbf: nowSecs() + 300 });
  assertRefusal(await connectError({ token }), "AUTH_INVALID");
});

test("not a JWT at all → AUTH_INVALID", async () => {
  assertRefusal(await connectError({ token: "definitely.not.a-jwt" }), "AUTH_INVALID");
});

test("expired long ago → AUTH_EXPIRED", async () => {
  const token = mintToken(newUser(), { exp: nowSecs() - 3600 });
  assertRefusal(await connectError({ token }), "AUTH_EXPIRED");
});

test("expired just past the configured leeway → AUTH_EXPIRED", async () => {
  const token = mintToken(newUser(), { exp: nowSecs() - LIMITS.jwtLeewaySecs - 3 });
  assertRefusal(await connectError({ token }), "AUTH_EXPIRED");
});

test("user refused by the user service → USER_REJECTED", async () => {
  const token = mintToken(newUser("banned"));
  assertRefusal(await connectError({ token }), "USER_REJECTED");
});

test("one socket more than MAX_CONNECTIONS_PER_USER → TOO_MANY_CONNECTIONS; a closed one frees its slot", async () => {
  const user = newUser();
  const sockets = [];
  for (let i = 0; i < LIMITS.connectionsPerUser; i++) sockets.push(await connectUser(user));
  assertRefusal(await connectError({ token: mintToken(user) }), "TOO_MANY_CONNECTIONS");
  // Other users are not affected.
  const other = await connectUser();
  close(other);
  // Closing one gives its slot back (allow the server a moment to notice).
  close(sockets.pop());
  let again;
  for (let i = 0; i < 20 && !again; i++) {
    await sleep(50);
    const r = await tryConnect({ token: mintToken(user) });
    if (r.socket) again = r.socket;
    else assertRefusal(r.error, "TOO_MANY_CONNECTIONS");
  }
  assert.ok(again, "a new socket is accepted once one of the user's sockets closed");
  for (const s of sockets) close(s);
  close(again);
});

test("a client that drops right after sending its CONNECT keeps no connection slot and leaves no ghost", async () => {
  // The transport is closed as soon as it opens, i.e. right after the client
  // sent the Socket.IO CONNECT packet with its token and before the server's
  // (async) authentication has answered — what a flaky mobile network does.
  const user = newUser();
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => {
      const socket = io(GATEWAY_URL, {
        forceNew: true,
        reconnection: false,
        transports: ["websocket"],
        auth: { token: mintToken(user) },
      });
      let done = false;
      const timer = setTimeout(finish, 1000);
      function finish() {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.disconnect();
        resolve();
      }
      socket.io.once("open", () => socket.io.engine.close());
      socket.io.once("close", () => setTimeout(finish, 5));
    });
  }
  await sleep(500);
  const listed = (await api("GET", "/api/connections", { token: adminToken() })).json?.connections ?? [];
  const ghosts = listed.filter((c) => c.userId === user);
  const sockets = [];
  let refusal;
  for (let i = 0; i < LIMITS.connectionsPerUser && !refusal; i++) {
    const r = await tryConnect({ token: mintToken(user) });
    if (r.socket) sockets.push(r.socket);
    else refusal = r.error.message;
  }
  for (const s of sockets) close(s);
  assert.ok(
    ghosts.length === 0 && refusal === undefined,
    `after 20 handshakes abandoned by the client: /api/connections still lists ${ghosts.length} socket(s) of the user ` +
      `(${ghosts.map((c) => c.socketId).join(", ")}) and a fresh connection ` +
      (refusal ? `is refused with "${refusal}" after ${sockets.length} accepted` : "is accepted"),
  );
});

// ------------------------------------------------------------ refresh and expiry

test("auth:refresh with a same-user token extends the session past the old expiry", async () => {
  const user = newUser();
  const exp = nowSecs() + 2;
  const socket = await connect({ token: mintToken(user, { exp }) });
  const errors = [];
  socket.on("error", (e) => errors.push(e));
  const ack = expectOk(assert, await ask(socket, "auth:refresh", { token: mintToken(user, { ttl: 3600 }) }));
  assert.equal(typeof ack.exp, "number");
  assert.ok(ack.exp > exp, "the ack carries the new expiry");
  // Well past the first token's expiry (plus any configured leeway).
  await sleep(Math.max(0, (exp + LIMITS.jwtLeewaySecs) * 1000 + 1000 - Date.now()));
  assert.equal(socket.connected, true, `still connected 3 s later (disconnect reason: ${socket.disconnectReason})`);
  assert.deepEqual(errors, []);
  expectOk(assert, await ask(socket, "subscribe:orders"));
  close(socket);
});

test("auth:refresh with a token of another user → AUTH_INVALID, connection stays", async () => {
  const user = newUser();
  const socket = await connectUser(user);
  const err = expectFailure(assert, await ask(socket, "auth:refresh", { token: mintToken(newUser()) }), "AUTH_INVALID");
  assert.ok(err.message.length > 0);
  assert.equal(socket.connected, true);
  const ok = expectOk(assert, await ask(socket, "subscribe:orders"));
  assert.equal(ok.userId, user, "still the same user");
  close(socket);
});

test("auth:refresh with invalid tokens → AUTH_INVALID / AUTH_EXPIRED / INVALID_PAYLOAD", async () => {
  const user = newUser();
  const socket = await connectUser(user);
  expectFailure(assert, await ask(socket, "auth:refresh", { token: mintToken(user, { secret: "wrong" }) }), "AUTH_INVALID");
  expectFailure(assert, await ask(socket, "auth:refresh", { token: mintToken(user, { exp: nowSecs() - 3600 }) }), "AUTH_EXPIRED");
  expectFailure(assert, await ask(socket, "auth:refresh", {}), "INVALID_PAYLOAD");
  expectFailure(assert, await ask(socket, "auth:refresh", { token: 42 }), "INVALID_PAYLOAD");
  expectFailure(assert, await ask(socket, "auth:refresh", "just-a-string"), "INVALID_PAYLOAD");
  // Without an ack the failure arrives as an `error` event naming the event.
  const errP = once(socket, "error");
  socket.emit("auth:refresh", { token: mintToken(newUser()) });
  const e = await errP;
  assert.equal(e.code, "AUTH_INVALID");
  assert.equal(e.event, "auth:refresh");
  assert.equal(typeof e.message, "string");
  assert.equal(socket.connected, true);
  close(socket);
});

test("a socket whose token expires without refresh gets error AUTH_EXPIRED and is disconnected", async () => {
  const socket = await connect({ token: mintToken(newUser(), { exp: nowSecs() + 2 }) });
  const errP = once(socket, "error", 4000 + LIMITS.jwtLeewaySecs * 1000);
  const discP = once(socket, "disconnect", 5000 + LIMITS.jwtLeewaySecs * 1000);
  const err = await errP;
  assert.equal(err.code, "AUTH_EXPIRED");
  assert.equal(typeof err.message, "string");
  assert.equal(await discP, "io server disconnect");
});
