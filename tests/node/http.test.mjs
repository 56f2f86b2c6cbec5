// Contract: the HTTP API — health, status, the admin API (401 / 403 / 200),
// event publishing, metrics, and JSON errors.

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  SERVICE_TOKEN,
  adminToken,
  api,
  ask,
  close,
  closeAll,
  connect,
  connectUser,
  expectOk,
  mintToken,
  newUser,
  nowSecs,
} from "./helpers.mjs";

afterEach(closeAll);

function assertJsonError(res, status, code) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.match(
    res.headers.get("content-type") ?? "",
    /application\/json/,
    `a ${res.status} must carry a JSON error body; got content-type ${JSON.stringify(res.headers.get("content-type"))} and body ${JSON.stringify(res.text.slice(0, 200))}`,
  );
  assert.equal(typeof res.json?.error, "object", `JSON { error }: ${res.text}`);
  assert.equal(typeof res.json.error.code, "string");
  assert.equal(typeof res.json.error.message, "string");
  if (code) assert.equal(res.json.error.code, code);
  return res.json.error;
}

test("GET /health → 200 { status: ok }", async () => {
  const res = await api("GET", "/health");
  assert.equal(res.status, 200);
  assert.equal(res.json?.status, "ok");
});

test("GET /api/status → service, version, uptime, counts and plugins", async () => {
  const user = newUser();
  const socket = await connectUser(user);
  const res = await api("GET", "/api/status");
  assert.equal(res.status, 200);
  const s = res.json;
  assert.equal(typeof s.service, "string");
  assert.ok(s.service.length > 0);
  assert.equal(typeof s.version, "string");
  assert.equal(typeof s.uptimeSeconds, "number");
  assert.ok(s.uptimeSeconds >= 0);
  assert.equal(typeof s.connections, "number");
  assert.ok(s.connections >= 1, "counts the open socket");
  assert.equal(typeof s.users, "number");
  assert.ok(s.users >= 1 && s.users <= s.connections);
  assert.ok(Array.isArray(s.plugins));
  for (const p of s.plugins) {
    for (const k of ["name", "kind", "version", "health"]) assert.equal(typeof p[k], "string", `plugin ${JSON.stringify(p)} has ${k}`);
  }
  const names = s.plugins.map((p) => p.name);
  for (const n of ["sim-prices", "order-poller", "chat-assistant", "event-filter"]) {
    assert.ok(names.includes(n), `plugins include ${n}: ${names}`);
  }
  close(socket);
});

for (const path of ["/api/connections", "/api/plugins"]) {
  test(`GET ${path}: 401 without a valid token, 403 without admin`, async () => {
    assertJsonError(await api("GET", path), 401);
    assertJsonError(await api("GET", path, { token: "garbage" }), 401);
    assertJsonError(await api("GET", path, { token: mintToken(newUser(), { admin: true, secret: "wrong" }) }), 401);
    assertJsonError(await api("GET", path, { token: mintToken(newUser(), { admin: true, exp: nowSecs() - 3600 }) }), 401);
    assertJsonError(await api("GET", path, { token: SERVICE_TOKEN }), 401);
    assertJsonError(await api("GET", path, { token: mintToken(newUser()) }), 403);
    assertJsonError(await api("GET", path, { token: mintToken(newUser(), { roles: ["trader"] }) }), 403);
  });
}

test("GET /api/connections with admin → 200 listing sockets with their subscriptions", async () => {
  const user = newUser();
  const ws = await connectUser(user);
  const poll = await connectUser(user, { transports: ["polling"] });
  expectOk(assert, await ask(ws, "subscribe:prices", { symbols: ["EURUSD"] }));
  expectOk(assert, await ask(ws, "subscribe:orders"));
  expectOk(assert, await ask(ws, "subscribe:events", { eventTypes: ["MARKET_HALT"] }));
  const res = await api("GET", "/api/connections", { token: adminToken() });
  assert.equal(res.status, 200, res.text);
  const list = Array.isArray(res.json) ? res.json : res.json?.connections;
  assert.ok(Array.isArray(list), `a list of connections: ${res.text.slice(0, 300)}`);
  const mine = list.find((c) => c.socketId === ws.id);
  assert.ok(mine, `the websocket connection ${ws.id} is listed`);
  assert.equal(mine.userId, user);
  assert.equal(mine.transport, "websocket");
  assert.equal(typeof mine.connectedAt, "number");
  assert.ok(Math.abs(mine.connectedAt - Date.now()) < 60_000, "connectedAt is ms since epoch");
  assert.equal(typeof mine.subscriptions, "object");
  assert.deepEqual(mine.subscriptions.symbols, ["EURUSD"]);
  assert.equal(mine.subscriptions.orders, true);
  assert.deepEqual(mine.subscriptions.eventTypes, ["MARKET_HALT"]);
  const polling = list.find((c) => c.socketId === poll.id);
  assert.ok(polling, "the polling connection is listed");
  assert.equal(polling.transport, "polling");
  assert.equal(polling.userId, user);
  close(ws);
  close(poll);
});

test("GET /api/plugins with admin → 200 with name, kind, version, state, calls, errors, source", async () => {
  const res = await api("GET", "/api/plugins", { token: adminToken() });
  assert.equal(res.status, 200, res.text);
  const list = Array.isArray(res.json) ? res.json : res.json?.plugins;
  assert.ok(Array.isArray(list), `a list of plugins: ${res.text.slice(0, 300)}`);
  for (const p of list) {
    for (const k of ["name", "kind", "version", "state"]) assert.equal(typeof p[k], "string", `${p.name}.${k}`);
    assert.equal(typeof p.calls, "number", `${p.name}.calls`);
    assert.equal(typeof p.errors, "number", `${p.name}.errors`);
    assert.ok(p.source !== undefined && p.source !== null, `${p.name}.source`);
  }
  const names = list.map((p) => p.name);
  for (const n of ["sim-prices", "order-poller", "chat-assistant", "event-filter"]) {
    assert.ok(names.includes(n), `plugins include ${n}: ${names}`);
  }
  const sim = list.find((p) => p.name === "sim-prices");
  assert.ok(sim.calls > 0, "the price source has been called");
});

const goodEvent = { type: "MARKET_HALT", title: "Halt", message: "Trading halted", severity: "high" };

test("POST /api/events: 401 without a token, 403 for a non-admin, 202 for admin and service token", async () => {
  assertJsonError(await api("POST", "/api/events", { body: goodEvent }), 401);
  assertJsonError(await api("POST", "/api/events", { token: "not-the-service-token", body: goodEvent }), 401);
  assertJsonError(await api("POST", "/api/events", { token: mintToken(newUser()), body: goodEvent }), 403);
  for (const token of [adminToken(), SERVICE_TOKEN]) {
    const res = await api("POST", "/api/events", { token, body: goodEvent });
    assert.equal(res.status, 202, res.text);
    assert.equal(typeof res.json?.id, "string");
    assert.ok(res.json.id.length > 0);
  }
  const targeted = await api("POST", "/api/events", {
    token: SERVICE_TOKEN,
    body: { ...goodEvent, severity: "critical", targetUserIds: [newUser()] },
  });
  assert.equal(targeted.status, 202, targeted.text);
});

test("POST /api/events with a bad body → 400 INVALID_PAYLOAD", async () => {
  const bodies = [
    ["lowercase type", { ...goodEvent, type: "market_halt" }],
    ["missing title", { type: "MARKET_HALT", message: "m", severity: "high" }],
    ["missing message", { type: "MARKET_HALT", title: "t", severity: "high" }],
    ["missing type", { title: "t", message: "m", severity: "high" }],
    ["unknown severity", { ...goodEvent, severity: "urgent" }],
    ["missing severity", { type: "MARKET_HALT", title: "t", message: "m" }],
    ["numeric title", { ...goodEvent, title: 5 }],
    ["targetUserIds not a list", { ...goodEvent, targetUserIds: "u1" }],
    ["an array", [goodEvent]],
  ];
  for (const [what, body] of bodies) {
    const res = await api("POST", "/api/events", { token: SERVICE_TOKEN, body });
    assert.equal(res.status, 400, `${what}: ${res.status} ${res.text}`);
    assertJsonError(res, 400, "INVALID_PAYLOAD");
  }
  const notJson = await api("POST", "/api/events", {
    token: SERVICE_TOKEN,
    rawBody: "{ this is not json",
    headers: { "content-type": "application/json" },
  });
  assertJsonError(notJson, 400, "INVALID_PAYLOAD");
});

test("GET /metrics → 200 Prometheus text with gateway_connections and gateway_plugin_calls", async () => {
  const res = await api("GET", "/metrics");
  assert.equal(res.status, 200, res.text.slice(0, 200));
  assert.match(res.text, /^gateway_connections\b/m);
  assert.match(res.text, /^gateway_plugin_calls\w*\{/m);
  assert.match(res.text, /# TYPE /);
});

test("unknown path → 404 JSON error", async () => {
  assertJsonError(await api("GET", "/no/such/path"), 404);
  assertJsonError(await api("GET", "/api/nope", { token: adminToken() }), 404);
});

test("a known path with the wrong method → 405 with a JSON error", async () => {
  for (const [method, path] of [["GET", "/api/events"], ["POST", "/health"], ["DELETE", "/api/connections"]]) {
    const res = await api(method, path, { token: adminToken() });
    assert.equal(res.status, 405, `${method} ${path}: ${res.status}`);
    assertJsonError(res, 405);
  }
});

test("the Authorization scheme is case-insensitive (`bearer`), as in the socket handshake", async () => {
  const token = adminToken();
  const socket = await connect({ extraHeaders: { Authorization: `bearer ${mintToken(newUser())}` } });
  close(socket);
  const res = await api("GET", "/api/connections", { headers: { authorization: `bearer ${token}` } });
  assert.equal(res.status, 200, `GET /api/connections with "bearer <admin jwt>": ${res.status} ${res.text}`);
});
