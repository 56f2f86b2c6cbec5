// Contract: client → server events in general — every event answers an ack
// `{ ok: true, ... }` / `{ ok: false, error: { code, message } }`, or without
// an ack emits `error { code, message, event }`; unknown events and
// malformed payloads are refused and the connection stays up.

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  ask,
  close,
  closeAll,
  collect,
  connectUser,
  expectFailure,
  expectOk,
  mintToken,
  newUser,
  once,
  sleep,
} from "./helpers.mjs";

afterEach(closeAll);

/** Every client event with a valid payload, for the ack form. */
function validCalls(user) {
  return [
    ["subscribe:prices", { symbols: ["EURUSD"] }],
    ["unsubscribe:prices", { symbols: ["EURUSD"] }],
    ["subscribe:orders"],
    ["unsubscribe:orders"],
    ["chat:message", { message: "hello" }],
    ["subscribe:events", { eventTypes: ["MARKET_HALT"] }],
    ["unsubscribe:events", { eventTypes: ["MARKET_HALT"] }],
    ["auth:refresh", { token: mintToken(user) }],
  ];
}

test("every client event answers its ack with { ok: true, ... }", async () => {
  const user = newUser();
  const socket = await connectUser(user);
  for (const [event, ...args] of validCalls(user)) {
    const ack = await ask(socket, event, ...args);
    assert.equal(typeof ack, "object", `${event}: ack is an object`);
    assert.equal(ack.ok, true, `${event}: ${JSON.stringify(ack)}`);
    assert.equal(ack.error, undefined, `${event}: no error on success`);
  }
  close(socket);
});

test("every payload-taking client event refuses a bad payload with { ok: false, error: { code, message } }", async () => {
  const socket = await connectUser();
  const calls = [
    ["subscribe:prices", { symbols: ["bad symbol"] }],
    ["unsubscribe:prices", { symbols: 5 }],
    ["chat:message", { message: "" }],
    ["subscribe:events", { eventTypes: ["lower"] }],
    ["unsubscribe:events", { eventTypes: ["lower"] }],
    ["auth:refresh", { token: 5 }],
  ];
  for (const [event, payload] of calls) {
    const ack = await ask(socket, event, payload);
    const err = expectFailure(assert, ack, "INVALID_PAYLOAD");
    assert.deepEqual(Object.keys(ack).sort(), ["error", "ok"], `${event}: ${JSON.stringify(ack)}`);
    assert.equal(typeof err.message, "string");
  }
  close(socket);
});

test("without an ack, a failure arrives as error { code, message, event }", async () => {
  const socket = await connectUser();
  const errors = collect(socket, "error");
  socket.emit("subscribe:prices", { symbols: ["eur"] });
  socket.emit("chat:message", { message: 1 });
  socket.emit("subscribe:events", "MARKET_HALT");
  const deadline = Date.now() + 2000;
  while (errors.items.length < 3 && Date.now() < deadline) await sleep(20);
  const got = errors.stop();
  assert.deepEqual(
    got.map((e) => [e.code, e.event]).sort((x, y) => x[1].localeCompare(y[1])),
    // Handlers may run concurrently, so the order of the errors is not fixed.
    [
      ["INVALID_PAYLOAD", "chat:message"],
      ["INVALID_PAYLOAD", "subscribe:events"],
      ["INVALID_PAYLOAD", "subscribe:prices"],
    ],
  );
  for (const e of got) assert.equal(typeof e.message, "string");
  // And successes without an ack are silent.
  const silent = collect(socket, "error");
  socket.emit("subscribe:orders");
  socket.emit("subscribe:prices", { symbols: ["EURUSD"] });
  await sleep(300);
  assert.deepEqual(silent.stop(), []);
  assert.equal(socket.connected, true);
  close(socket);
});

test("unknown event → UNKNOWN_EVENT, with an ack and without", async () => {
  const socket = await connectUser();
  expectFailure(assert, await ask(socket, "no:such-event", { a: 1 }), "UNKNOWN_EVENT");
  expectFailure(assert, await ask(socket, "subscribe:price"), "UNKNOWN_EVENT");
  const errP = once(socket, "error");
  socket.emit("definitely:unknown", 1);
  const err = await errP;
  assert.equal(err.code, "UNKNOWN_EVENT");
  assert.equal(typeof err.message, "string");
  assert.equal(typeof err.event, "string", `error carries an event field: ${JSON.stringify(err)}`);
  assert.equal(socket.connected, true);
  expectOk(assert, await ask(socket, "subscribe:orders"));
  close(socket);
});

/** Deeply nested junk: `{ a: { a: ... } }` of `depth` levels. */
function nested(depth) {
  let v = { junk: [1, "x", null] };
  for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
  return v;
}

test("malformed payloads → INVALID_PAYLOAD; the connection stays up and still answers", async () => {
  const socket = await connectUser();
  const disconnects = collect(socket, "disconnect");
  const malformed = [
    ["a string", "EURUSD"],
    ["a number", 42],
    ["a boolean", true],
    ["an array", ["EURUSD"]],
    ["null", null],
    ["deeply nested junk (40 levels)", { symbols: nested(40) }],
    ["deeply nested junk (300 levels)", nested(300)],
    ["a 20 KB object", { symbols: ["EURUSD"], junk: "x".repeat(20 * 1024) }],
  ];
  for (const [what, payload] of malformed) {
    let ack;
    try {
      ack = await ask(socket, "subscribe:prices", payload);
    } catch (e) {
      assert.fail(`${what}: no ack (${e.message}); connected=${socket.connected}, reason=${socket.disconnectReason}`);
    }
    assert.equal(ack?.ok, false, `${what}: ${JSON.stringify(ack)?.slice(0, 200)}`);
    assert.equal(ack.error?.code, "INVALID_PAYLOAD", `${what}: ${JSON.stringify(ack).slice(0, 200)}`);
    assert.equal(socket.connected, true, `${what}: still connected`);
  }
  // No payload at all where one is required.
  expectFailure(assert, await ask(socket, "subscribe:prices"), "INVALID_PAYLOAD");
  expectFailure(assert, await ask(socket, "chat:message"), "INVALID_PAYLOAD");
  expectFailure(assert, await ask(socket, "subscribe:events"), "INVALID_PAYLOAD");
  expectFailure(assert, await ask(socket, "auth:refresh"), "INVALID_PAYLOAD");
  // The same junk on other events.
  for (const event of ["chat:message", "subscribe:events", "auth:refresh"]) {
    expectFailure(assert, await ask(socket, event, [1, 2, 3]), "INVALID_PAYLOAD");
    expectFailure(assert, await ask(socket, event, { message: "x".repeat(20 * 1024), eventTypes: ["A"], token: "x" }), "INVALID_PAYLOAD");
  }
  // Nothing was subscribed by the refused payloads, and a valid event still works.
  const ack = expectOk(assert, await ask(socket, "subscribe:prices", { symbols: ["GBPUSD"] }));
  assert.deepEqual(ack.symbols, ["GBPUSD"]);
  await once(socket, "price:update", 2000, (t) => t?.symbol === "GBPUSD");
  assert.deepEqual(disconnects.stop(), []);
  close(socket);
});

test("a binary attachment gets an answer (ok or INVALID_PAYLOAD) without dropping the connection", async () => {
  const socket = await connectUser();
  const ack = await ask(socket, "subscribe:prices", { symbols: ["EURUSD"], blob: Buffer.from([1, 2, 3]) });
  assert.ok(
    ack?.ok === true || ack?.error?.code === "INVALID_PAYLOAD",
    `an ack in the contract's shape: ${JSON.stringify(ack).slice(0, 200)}`,
  );
  assert.equal(socket.connected, true, `still connected (reason: ${socket.disconnectReason})`);
  expectOk(assert, await ask(socket, "subscribe:orders"));
  close(socket);
});
