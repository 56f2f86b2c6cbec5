// Contract: subscribe:events / unsubscribe:events and event:notification of
// system events published with POST /api/events (service token).

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import {
  adminToken,
  ask,
  close,
  closeAll,
  collect,
  connectUser,
  expectFailure,
  expectOk,
  newUser,
  once,
  publishEvent,
  sleep,
} from "./helpers.mjs";

afterEach(closeAll);

const DELIVERY_MS = 3000;
const QUIET_MS = 500;

/** A unique event type per test, so that concurrent leftovers never match. */
const uniqueType = (base) => `${base}_${crypto.randomUUID().replace(/-/g, "").slice(0, 12).toUpperCase()}`;

function halt(extra = {}) {
  return { type: "MARKET_HALT", title: "Trading halted", message: "EURUSD trading is halted", severity: "high", ...extra };
}

async function publishOk(event, token) {
  const res = await publishEvent(event, token);
  assert.equal(res.status, 202, `POST /api/events answered ${res.status}: ${res.text}`);
  assert.equal(typeof res.json?.id, "string", `202 body has the id: ${res.text}`);
  assert.ok(res.json.id.length > 0);
  return res.json.id;
}

const withId = (id) => (e) => e?.id === id;

test("subscribers of a type get event:notification with the contract fields; others get nothing", async () => {
  const sub = await connectUser();
  const otherType = await connectUser();
  const none = await connectUser();
  const ack = expectOk(assert, await ask(sub, "subscribe:events", { eventTypes: ["MARKET_HALT"] }));
  assert.deepEqual(ack.eventTypes, ["MARKET_HALT"]);
  expectOk(assert, await ask(otherType, "subscribe:events", { eventTypes: ["NEWS_FLASH"] }));
  const leaks = [collect(otherType, "event:notification"), collect(none, "event:notification")];

  const sentAt = Date.now();
  const p = once(sub, "event:notification", DELIVERY_MS, (e) => e?.title === "Trading halted");
  const id = await publishOk(halt());
  const ev = await p;
  assert.equal(ev.id, id, "the notification carries the id the POST answered");
  assert.equal(ev.type, "MARKET_HALT");
  assert.equal(ev.title, "Trading halted");
  assert.equal(ev.message, "EURUSD trading is halted");
  assert.equal(ev.severity, "high");
  assert.equal(typeof ev.timestamp, "number");
  assert.ok(Math.abs(ev.timestamp - sentAt) < 60_000, "timestamp is ms since epoch");
  assert.equal(ev.targetUserIds, undefined, "target users are not disclosed");

  await sleep(QUIET_MS);
  assert.deepEqual(leaks[0].stop(), [], "a subscriber of another type gets nothing");
  assert.deepEqual(leaks[1].stop(), [], "a non-subscriber gets nothing");
  for (const s of [sub, otherType, none]) close(s);
});

test("targetUserIds limits delivery to those users", async () => {
  const [a, b] = [newUser("a"), newUser("b")];
  const sa = await connectUser(a);
  const sa2 = await connectUser(a);
  const sb = await connectUser(b);
  const type = uniqueType("TARGETED");
  for (const s of [sa, sa2, sb]) expectOk(assert, await ask(s, "subscribe:events", { eventTypes: [type] }));
  const leak = collect(sb, "event:notification");
  const ids = [];
  const pa = once(sa, "event:notification", DELIVERY_MS, (e) => e?.type === type);
  const pa2 = once(sa2, "event:notification", DELIVERY_MS, (e) => e?.type === type);
  ids.push(await publishOk(halt({ type, targetUserIds: [a] })));
  const [ea, ea2] = await Promise.all([pa, pa2]);
  assert.equal(ea.id, ids[0]);
  assert.equal(ea2.id, ids[0], "every socket of a target user gets it");
  await sleep(QUIET_MS);
  assert.deepEqual(leak.stop(), [], "a subscriber who is not a target gets nothing");
  for (const s of [sa, sa2, sb]) close(s);
});

test("the same event id posted twice is delivered once", async () => {
  const socket = await connectUser();
  const type = uniqueType("DEDUP");
  expectOk(assert, await ask(socket, "subscribe:events", { eventTypes: [type] }));
  const seen = collect(socket, "event:notification");
  const id = `ev-${crypto.randomUUID()}`;
  const first = once(socket, "event:notification", DELIVERY_MS, withId(id));
  assert.equal(await publishOk(halt({ type, id })), id, "the given id is kept");
  await first;
  const second = await publishEvent(halt({ type, id }));
  assert.ok(second.status === 202 || second.status === 409, `a repeat is accepted or refused cleanly: ${second.status}`);
  await sleep(QUIET_MS);
  assert.deepEqual(
    seen.stop().map((e) => e.id),
    [id],
    "delivered exactly once",
  );
  close(socket);
});

test("every severity passes the default filter (minimum low)", async () => {
  const socket = await connectUser();
  const type = uniqueType("SEV");
  expectOk(assert, await ask(socket, "subscribe:events", { eventTypes: [type] }));
  const seen = collect(socket, "event:notification");
  const severities = ["low", "medium", "high", "critical"];
  for (const severity of severities) await publishOk(halt({ type, severity }));
  const deadline = Date.now() + DELIVERY_MS;
  while (seen.items.length < severities.length && Date.now() < deadline) await sleep(25);
  await sleep(200);
  assert.deepEqual(seen.stop().map((e) => e.severity).sort(), [...severities].sort());
  close(socket);
});

test("an admin JWT may publish too; extra `data` passes through", async () => {
  const socket = await connectUser();
  const type = uniqueType("ADMIN");
  expectOk(assert, await ask(socket, "subscribe:events", { eventTypes: [type] }));
  const p = once(socket, "event:notification", DELIVERY_MS, (e) => e?.type === type);
  const id = await publishOk(halt({ type, severity: "low", data: { venue: "X", n: 1 } }), adminToken());
  const ev = await p;
  assert.equal(ev.id, id);
  assert.deepEqual(ev.data, { venue: "X", n: 1 });
  close(socket);
});

test("unsubscribe:events with types removes those; with no payload removes all", async () => {
  const socket = await connectUser();
  const [t1, t2, t3] = [uniqueType("ONE"), uniqueType("TWO"), uniqueType("THREE")];
  const ack = expectOk(assert, await ask(socket, "subscribe:events", { eventTypes: [t1, t2, t3] }));
  assert.deepEqual([...ack.eventTypes].sort(), [t1, t2, t3].sort());
  const less = expectOk(assert, await ask(socket, "unsubscribe:events", { eventTypes: [t1] }));
  assert.deepEqual([...less.eventTypes].sort(), [t2, t3].sort());

  // t1 no longer arrives, t2 still does.
  const seen = collect(socket, "event:notification");
  const p2 = once(socket, "event:notification", DELIVERY_MS, (e) => e?.type === t2);
  await publishOk(halt({ type: t1 }));
  await publishOk(halt({ type: t2 }));
  await p2;
  await sleep(QUIET_MS);
  assert.deepEqual(seen.stop().map((e) => e.type), [t2]);

  // No payload at all: every type goes.
  const all = expectOk(assert, await ask(socket, "unsubscribe:events"));
  assert.deepEqual(all.eventTypes, []);
  const after = collect(socket, "event:notification");
  // A witness proves the events were delivered to someone.
  const witness = await connectUser();
  expectOk(assert, await ask(witness, "subscribe:events", { eventTypes: [t3] }));
  const pw = once(witness, "event:notification", DELIVERY_MS, (e) => e?.type === t3);
  await publishOk(halt({ type: t2 }));
  await publishOk(halt({ type: t3 }));
  await pw;
  await sleep(QUIET_MS);
  assert.deepEqual(after.stop(), [], "nothing after unsubscribe:events without payload");
  close(socket);
  close(witness);
});

test("unsubscribe:events with an empty object or null also removes all types", async () => {
  const socket = await connectUser();
  expectOk(assert, await ask(socket, "subscribe:events", { eventTypes: ["MARKET_HALT", "NEWS"] }));
  assert.deepEqual(expectOk(assert, await ask(socket, "unsubscribe:events", {})).eventTypes, []);
  expectOk(assert, await ask(socket, "subscribe:events", { eventTypes: ["NEWS"] }));
  assert.deepEqual(expectOk(assert, await ask(socket, "unsubscribe:events", null)).eventTypes, []);
  close(socket);
});

test("invalid event types → INVALID_PAYLOAD and nothing changes", async () => {
  const socket = await connectUser();
  const type = uniqueType("KEEP");
  expectOk(assert, await ask(socket, "subscribe:events", { eventTypes: [type] }));
  const bad = [
    { eventTypes: ["market_halt"] },
    { eventTypes: ["Market_Halt"] },
    { eventTypes: ["1HALT"] },
    { eventTypes: ["MARKET-HALT"] },
    { eventTypes: [""] },
    { eventTypes: ["A".repeat(65)] },
    { eventTypes: [7] },
    { eventTypes: "MARKET_HALT" },
    { eventTypes: [] },
    { eventTypes: ["NEWS", "bad"] },
    {},
    "MARKET_HALT",
  ];
  for (const payload of bad) expectFailure(assert, await ask(socket, "subscribe:events", payload), "INVALID_PAYLOAD");
  expectFailure(assert, await ask(socket, "unsubscribe:events", { eventTypes: ["lower"] }), "INVALID_PAYLOAD");
  expectFailure(assert, await ask(socket, "unsubscribe:events", { eventTypes: "X" }), "INVALID_PAYLOAD");
  // Without an ack: `error` naming the event.
  const errP = once(socket, "error");
  socket.emit("subscribe:events", { eventTypes: ["lower"] });
  const err = await errP;
  assert.equal(err.code, "INVALID_PAYLOAD");
  assert.equal(err.event, "subscribe:events");
  // Unchanged: still exactly the one type (a no-op subscribe shows the set), still delivered.
  const ack = expectOk(assert, await ask(socket, "subscribe:events", { eventTypes: [type] }));
  assert.deepEqual(ack.eventTypes, [type]);
  const p = once(socket, "event:notification", DELIVERY_MS, (e) => e?.type === type);
  await publishOk(halt({ type }));
  await p;
  close(socket);
});
