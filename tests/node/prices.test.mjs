// Contract: subscribe:prices / unsubscribe:prices, prices:initial,
// price:update, symbol validation and the per-socket symbol cap; and the
// polling transport end to end.

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  LIMITS,
  SYMBOLS,
  ask,
  close,
  closeAll,
  collect,
  connectUser,
  expectFailure,
  expectOk,
  once,
  sleep,
} from "./helpers.mjs";

afterEach(closeAll);

function assertTick(t, symbol) {
  assert.equal(typeof t, "object");
  if (symbol) assert.equal(t.symbol, symbol);
  assert.equal(typeof t.symbol, "string");
  assert.equal(typeof t.bid, "number");
  assert.equal(typeof t.ask, "number");
  assert.ok(Number.isFinite(t.bid) && Number.isFinite(t.ask), `finite prices: ${JSON.stringify(t)}`);
  assert.ok(t.bid < t.ask, `bid < ask: ${JSON.stringify(t)}`);
  assert.equal(typeof t.timestamp, "number");
  assert.ok(Number.isInteger(t.timestamp), "timestamp is an integer (ms)");
  assert.ok(Math.abs(t.timestamp - Date.now()) < 120_000, `timestamp is ms since epoch: ${t.timestamp}`);
}

/** Resolves once `socket` received a price:update for `symbol`. */
const nextTick = (socket, symbol, ms = 2000) => once(socket, "price:update", ms, (t) => t?.symbol === symbol);

test("subscribe:prices acks prices and symbols, sends prices:initial, then only subscribed ticks", async () => {
  const socket = await connectUser();
  const initialP = once(socket, "prices:initial");
  const updates = collect(socket, "price:update");
  const ack = expectOk(assert, await ask(socket, "subscribe:prices", { symbols: ["EURUSD", "GBPUSD"] }));
  assert.deepEqual([...ack.symbols].sort(), ["EURUSD", "GBPUSD"]);
  assert.ok(Array.isArray(ack.prices), "ack carries prices");
  assert.deepEqual(ack.prices.map((t) => t.symbol).sort(), ["EURUSD", "GBPUSD"], "a latest tick of each symbol");
  for (const t of ack.prices) assertTick(t);

  const initial = await initialP;
  assert.ok(Array.isArray(initial.prices));
  assert.deepEqual(initial.prices.map((t) => t.symbol).sort(), ["EURUSD", "GBPUSD"]);
  for (const t of initial.prices) assertTick(t);

  await Promise.all([nextTick(socket, "EURUSD"), nextTick(socket, "GBPUSD")]);
  await sleep(300);
  const got = updates.stop();
  assert.ok(got.length >= 2);
  for (const t of got) {
    assertTick(t);
    assert.ok(["EURUSD", "GBPUSD"].includes(t.symbol), `unsubscribed symbol received: ${t.symbol}`);
  }
  close(socket);
});

test("subscribing to an already subscribed symbol is harmless; symbols are deduplicated", async () => {
  const socket = await connectUser();
  expectOk(assert, await ask(socket, "subscribe:prices", { symbols: ["USDJPY"] }));
  const ack = expectOk(assert, await ask(socket, "subscribe:prices", { symbols: ["USDJPY", "USDJPY", "XAUUSD"] }));
  assert.deepEqual([...ack.symbols].sort(), ["USDJPY", "XAUUSD"]);
  close(socket);
});

test("a socket that subscribed nothing receives no price:update", async () => {
  const socket = await connectUser();
  const updates = collect(socket, "price:update");
  await sleep(400);
  assert.deepEqual(updates.stop(), []);
  close(socket);
});

test("unsubscribe:prices stops the updates of that symbol only", async () => {
  const socket = await connectUser();
  expectOk(assert, await ask(socket, "subscribe:prices", { symbols: ["EURUSD", "USDJPY"] }));
  await Promise.all([nextTick(socket, "EURUSD"), nextTick(socket, "USDJPY")]);
  const ack = expectOk(assert, await ask(socket, "unsubscribe:prices", { symbols: ["EURUSD"] }));
  assert.deepEqual(ack.symbols, ["USDJPY"], "the ack lists what is left");
  await sleep(100); // in-flight ticks
  const updates = collect(socket, "price:update");
  await sleep(500);
  const got = updates.stop();
  assert.deepEqual(
    got.filter((t) => t.symbol === "EURUSD"),
    [],
    "no EURUSD tick after unsubscribing",
  );
  assert.ok(got.some((t) => t.symbol === "USDJPY"), "USDJPY ticks keep coming");
  close(socket);
});

test("invalid symbols → INVALID_PAYLOAD and nothing changes", async () => {
  const socket = await connectUser();
  expectOk(assert, await ask(socket, "subscribe:prices", { symbols: ["EURUSD"] }));
  const bad = [
    { symbols: ["eur"] },
    { symbols: [""] },
    { symbols: ["A".repeat(33)] },
    { symbols: [42] },
    { symbols: [1, 2] },
    { symbols: "EURUSD" },
    { symbols: { EURUSD: true } },
    {},
    { symbols: ["GBPUSD", "eur"] }, // one bad symbol spoils the list: GBPUSD is not added
    { symbols: ["-EUR"] },
    { symbols: ["EUR USD"] },
  ];
  for (const payload of bad) {
    const ack = await ask(socket, "subscribe:prices", payload);
    expectFailure(assert, ack, "INVALID_PAYLOAD");
  }
  for (const payload of [{ symbols: ["eur"] }, { symbols: "EURUSD" }, {}]) {
    expectFailure(assert, await ask(socket, "unsubscribe:prices", payload), "INVALID_PAYLOAD");
  }
  // Still subscribed to EURUSD only, and still receiving it.
  const updates = collect(socket, "price:update");
  await nextTick(socket, "EURUSD");
  await sleep(200);
  assert.deepEqual([...new Set(updates.stop().map((t) => t.symbol))], ["EURUSD"]);
  const ack = expectOk(assert, await ask(socket, "subscribe:prices", { symbols: ["EURUSD"] }));
  assert.deepEqual(ack.symbols, ["EURUSD"], "the failed subscriptions added nothing");
  assert.equal(socket.connected, true);
  close(socket);
});

test("valid symbol shapes beyond the sample pairs are accepted (digits, . _ : -)", async () => {
  const socket = await connectUser();
  const long = "A".repeat(32);
  const ack = expectOk(assert, await ask(socket, "subscribe:prices", { symbols: ["1INCH", "BTC-USD", "ES:Z5", long] }));
  assert.deepEqual([...ack.symbols].sort(), ["1INCH", "BTC-USD", "ES:Z5", long].sort());
  assert.deepEqual(ack.prices, [], "symbols without ticks have no latest price");
  close(socket);
});

test(`more than MAX_SYMBOLS_PER_SOCKET (${LIMITS.symbolsPerSocket}) → LIMIT_EXCEEDED and nothing changes`, async () => {
  const max = LIMITS.symbolsPerSocket;
  const fillers = Array.from({ length: Math.max(0, max - 1) }, (_, i) => `ZZFILL${i}`);
  const socket = await connectUser();

  // Too many in one go: nothing is subscribed.
  const tooMany = ["EURUSD", ...fillers, "GBPUSD"];
  assert.equal(tooMany.length, max + 1);
  const over = expectFailure(assert, await ask(socket, "subscribe:prices", { symbols: tooMany }), "LIMIT_EXCEEDED");
  assert.ok(over.message.length > 0);

  // Exactly the cap is fine.
  const ack = expectOk(assert, await ask(socket, "subscribe:prices", { symbols: ["EURUSD", ...fillers] }));
  assert.equal(ack.symbols.length, max);
  // One more new symbol: refused, nothing changes.
  expectFailure(assert, await ask(socket, "subscribe:prices", { symbols: ["GBPUSD"] }), "LIMIT_EXCEEDED");
  // Re-subscribing what it has is no new symbol.
  const again = expectOk(assert, await ask(socket, "subscribe:prices", { symbols: ["EURUSD"] }));
  assert.deepEqual([...again.symbols].sort(), ["EURUSD", ...fillers].sort());

  // Still receiving EURUSD, never GBPUSD.
  const updates = collect(socket, "price:update");
  await nextTick(socket, "EURUSD");
  await sleep(200);
  assert.deepEqual([...new Set(updates.stop().map((t) => t.symbol))], ["EURUSD"]);

  // Freeing one slot lets a new symbol in.
  expectOk(assert, await ask(socket, "unsubscribe:prices", { symbols: [fillers[0] ?? "EURUSD"] }));
  const now = expectOk(assert, await ask(socket, "subscribe:prices", { symbols: ["GBPUSD"] }));
  assert.ok(now.symbols.includes("GBPUSD"));
  await nextTick(socket, "GBPUSD");
  close(socket);
});

test("two sockets subscribed to one symbol both receive it; each only what it asked for", async () => {
  const s1 = await connectUser();
  const s2 = await connectUser();
  expectOk(assert, await ask(s1, "subscribe:prices", { symbols: ["XAUUSD"] }));
  expectOk(assert, await ask(s2, "subscribe:prices", { symbols: ["XAUUSD", "GBPUSD"] }));
  const u1 = collect(s1, "price:update");
  await Promise.all([nextTick(s1, "XAUUSD"), nextTick(s2, "XAUUSD"), nextTick(s2, "GBPUSD")]);
  await sleep(200);
  assert.deepEqual([...new Set(u1.stop().map((t) => t.symbol))], ["XAUUSD"]);
  close(s1);
  close(s2);
});

test("the polling transport works: connect, subscribe, receive updates", async () => {
  const socket = await connectUser(undefined, { transports: ["polling"] });
  assert.equal(socket.io.engine.transport.name, "polling");
  const initialP = once(socket, "prices:initial", 3000);
  const ack = expectOk(assert, await ask(socket, "subscribe:prices", { symbols: ["EURUSD"] }));
  assert.deepEqual(ack.symbols, ["EURUSD"]);
  const initial = await initialP;
  assert.equal(initial.prices[0]?.symbol, "EURUSD");
  const tick = await nextTick(socket, "EURUSD", 3000);
  assertTick(tick, "EURUSD");
  const updates = collect(socket, "price:update");
  await sleep(300);
  for (const t of updates.stop()) assert.equal(t.symbol, "EURUSD");
  assert.equal(socket.io.engine.transport.name, "polling", "stayed on polling");
  close(socket);
});

test("the default transports (polling, then upgrade to websocket) work too", async () => {
  const socket = await connectUser(undefined, { transports: ["polling", "websocket"] });
  expectOk(assert, await ask(socket, "subscribe:prices", { symbols: ["USDJPY"] }));
  assertTick(await nextTick(socket, "USDJPY", 3000), "USDJPY");
  await sleep(300); // the upgrade has happened by now
  assertTick(await nextTick(socket, "USDJPY", 3000), "USDJPY");
  assert.equal(socket.connected, true);
  close(socket);
});

test("each of the simulated symbols ticks", async () => {
  const socket = await connectUser();
  expectOk(assert, await ask(socket, "subscribe:prices", { symbols: SYMBOLS }));
  const ticks = await Promise.all(SYMBOLS.map((s) => nextTick(socket, s, 3000)));
  ticks.forEach((t, i) => assertTick(t, SYMBOLS[i]));
  close(socket);
});
