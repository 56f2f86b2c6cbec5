// Contract: subscribe:orders / unsubscribe:orders, order:notification and
// position:update go to their own user's subscribed sockets only, with the
// upstream fields passed through. Items are queued at the fake trading
// service, which the order-poller plugin polls every 50 ms.

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import {
  ask,
  close,
  closeAll,
  collect,
  connectUser,
  expectOk,
  newUser,
  once,
  pushTrading,
  sleep,
} from "./helpers.mjs";

afterEach(closeAll);

/** A delivered notification without its `seq`, after checking the seq is a positive integer. */
function unsequenced(x) {
  assert.ok(Number.isInteger(x?.seq) && x.seq >= 1, `seq missing or invalid: ${JSON.stringify(x)}`);
  const { seq, ...rest } = x;
  return rest;
}

const DELIVERY_MS = 3000; // generous: the poller runs every 50 ms
const QUIET_MS = 500; // how long "nothing else arrives" is watched

function order(userId, extra = {}) {
  return {
    orderId: `o-${crypto.randomUUID()}`,
    type: "ORDER_EXECUTED",
    symbol: "EURUSD",
    userId,
    status: "FILLED",
    side: "BUY",
    quantity: 1000,
    price: 1.0851,
    timestamp: Date.now(),
    venue: "X",
    ...extra,
  };
}

function position(userId, extra = {}) {
  return {
    positionId: `p-${crypto.randomUUID()}`,
    symbol: "GBPUSD",
    userId,
    quantity: 2500,
    entryPrice: 1.2702,
    unrealizedPnL: -12.5,
    timestamp: Date.now(),
    venue: "X",
    ...extra,
  };
}

/** Collectors of both server events on `socket`. */
function watch(socket) {
  return { orders: collect(socket, "order:notification"), positions: collect(socket, "position:update") };
}

test("subscribe:orders acks with the caller's own user id, whatever the payload says", async () => {
  const a = newUser("a");
  const socket = await connectUser(a);
  const ack = expectOk(assert, await ask(socket, "subscribe:orders"));
  assert.equal(ack.userId, a);
  const ack2 = expectOk(assert, await ask(socket, "subscribe:orders", { userId: newUser("b") }));
  assert.equal(ack2.userId, a, "nobody can join another user's order room");
  expectOk(assert, await ask(socket, "unsubscribe:orders"));
  close(socket);
});

test("order:notification reaches every subscribed socket of its user, and nobody else", async () => {
  const [a, b] = [newUser("a"), newUser("b")];
  const a1 = await connectUser(a);
  const a2 = await connectUser(a);
  const a3 = await connectUser(a); // not subscribed
  const b1 = await connectUser(b);
  const c1 = await connectUser(); // a third user, subscribed
  // b1 tries to follow A's orders: it still only gets its own.
  for (const [s, payload] of [[a1], [a2], [b1, { userId: a }], [c1]]) {
    expectOk(assert, await ask(s, "subscribe:orders", ...(payload ? [payload] : [])));
  }
  const w = Object.fromEntries([["a1", a1], ["a2", a2], ["a3", a3], ["b1", b1], ["c1", c1]].map(([k, s]) => [k, watch(s)]));

  const oa = order(a);
  const ob = order(b, { type: "ORDER_CREATED", side: "SELL", venue: "Y" });
  const pa = position(a);
  const pb = position(b);
  await pushTrading({ orders: [oa, ob], positions: [pa, pb] });

  const [ga1, ga2, gb1] = await Promise.all([
    once(a1, "order:notification", DELIVERY_MS, (o) => o?.orderId === oa.orderId),
    once(a2, "order:notification", DELIVERY_MS, (o) => o?.orderId === oa.orderId),
    once(b1, "order:notification", DELIVERY_MS, (o) => o?.orderId === ob.orderId),
    once(a1, "position:update", DELIVERY_MS, (p) => p?.positionId === pa.positionId),
    once(a2, "position:update", DELIVERY_MS, (p) => p?.positionId === pa.positionId),
    once(b1, "position:update", DELIVERY_MS, (p) => p?.positionId === pb.positionId),
  ]);
  // Fields pass through, including the extra `venue`.
  assert.deepEqual(unsequenced(ga1), oa);
  assert.deepEqual(unsequenced(ga2), oa);
  assert.deepEqual(unsequenced(gb1), ob);

  await sleep(QUIET_MS);
  const got = (k, kind) => w[k][kind].stop();
  assert.deepEqual(got("a1", "orders").map(unsequenced), [oa], "a1: A's order once");
  assert.deepEqual(got("a2", "orders").map(unsequenced), [oa], "a2: A's order once");
  assert.deepEqual(got("b1", "orders").map(unsequenced), [ob], "b1: only B's order");
  assert.deepEqual(got("a3", "orders").map(unsequenced), [], "an unsubscribed socket of A gets nothing");
  assert.deepEqual(got("c1", "orders").map(unsequenced), [], "another user gets nothing");
  assert.deepEqual(got("a1", "positions").map(unsequenced), [pa]);
  assert.deepEqual(got("a2", "positions").map(unsequenced), [pa]);
  assert.deepEqual(got("b1", "positions").map(unsequenced), [pb]);
  assert.deepEqual(got("a3", "positions").map(unsequenced), []);
  assert.deepEqual(got("c1", "positions").map(unsequenced), []);
  for (const s of [a1, a2, a3, b1, c1]) close(s);
});

test("position:update fields pass through (optional fields absent stay absent)", async () => {
  const a = newUser("a");
  const socket = await connectUser(a);
  expectOk(assert, await ask(socket, "subscribe:orders"));
  const minimal = {
    positionId: `p-${crypto.randomUUID()}`,
    symbol: "XAUUSD",
    userId: a,
    unrealizedPnL: 3.25,
    timestamp: Date.now(),
    book: { desk: "fx", tags: ["a", "b"] },
  };
  const p = once(socket, "position:update", DELIVERY_MS, (x) => x?.positionId === minimal.positionId);
  await pushTrading({ positions: [minimal] });
  assert.deepEqual(unsequenced(await p), minimal);
  close(socket);
});

test("every order type of the contract is delivered", async () => {
  const a = newUser("a");
  const socket = await connectUser(a);
  expectOk(assert, await ask(socket, "subscribe:orders"));
  const types = ["ORDER_CREATED", "ORDER_EXECUTED", "ORDER_PARTIALLY_FILLED", "ORDER_CANCELLED", "ORDER_REJECTED"];
  const sent = types.map((type) => order(a, { type }));
  const seen = collect(socket, "order:notification");
  await pushTrading({ orders: sent });
  const deadline = Date.now() + DELIVERY_MS;
  while (seen.items.length < sent.length && Date.now() < deadline) await sleep(25);
  await sleep(200);
  assert.deepEqual(seen.stop().map((o) => o.type).sort(), [...types].sort());
  close(socket);
});

test("unsubscribe:orders stops delivery; subscribing again resumes it", async () => {
  const a = newUser("a");
  const socket = await connectUser(a);
  expectOk(assert, await ask(socket, "subscribe:orders"));
  const first = order(a);
  const p1 = once(socket, "order:notification", DELIVERY_MS, (o) => o?.orderId === first.orderId);
  await pushTrading({ orders: [first] });
  await p1;

  expectOk(assert, await ask(socket, "unsubscribe:orders"));
  const seen = watch(socket);
  const hidden = order(a);
  const hiddenPos = position(a);
  // A subscribed witness of another user shows when the poller has delivered the batch.
  const witnessUser = newUser("w");
  const witness = await connectUser(witnessUser);
  expectOk(assert, await ask(witness, "subscribe:orders"));
  const marker = order(witnessUser);
  const delivered = once(witness, "order:notification", DELIVERY_MS, (o) => o?.orderId === marker.orderId);
  await pushTrading({ orders: [hidden, marker], positions: [hiddenPos] });
  await delivered;
  await sleep(QUIET_MS);
  assert.deepEqual(seen.orders.stop(), [], "no order after unsubscribe:orders");
  assert.deepEqual(seen.positions.stop(), [], "no position after unsubscribe:orders");

  expectOk(assert, await ask(socket, "subscribe:orders"));
  const later = order(a);
  const p2 = once(socket, "order:notification", DELIVERY_MS, (o) => o?.orderId === later.orderId);
  await pushTrading({ orders: [later] });
  assert.deepEqual(unsequenced(await p2), later);
  close(socket);
  close(witness);
});

test("a user without any subscribed socket simply gets nothing (no error)", async () => {
  const a = newUser("a");
  const socket = await connectUser(a);
  const errors = collect(socket, "error");
  const seen = watch(socket);
  await pushTrading({ orders: [order(a)], positions: [position(a)] });
  await sleep(QUIET_MS);
  assert.deepEqual(seen.orders.stop(), []);
  assert.deepEqual(seen.positions.stop(), []);
  assert.deepEqual(errors.stop(), []);
  assert.equal(socket.connected, true);
  close(socket);
});
