// Contract: rate limits — MAX_MESSAGES_PER_MINUTE client events per user
// across all of that user's sockets (a token bucket allowing short bursts);
// over it, RATE_LIMITED with retryAfterMs; a client that keeps flooding is
// disconnected. (Per-user connection caps are in auth.test.mjs.)

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import {
  LIMITS,
  ask,
  close,
  closeAll,
  collect,
  connectUser,
  newUser,
  once,
  sleep,
} from "./helpers.mjs";

afterEach(closeAll);

const PER_MINUTE = LIMITS.messagesPerMinute;

/** Sends `n` acked events on `socket`, all at once; resolves with the acks. */
function burst(socket, n, event = "subscribe:orders") {
  return Promise.all(
    Array.from({ length: n }, () => ask(socket, event).catch((e) => ({ timeout: e.message }))),
  );
}

function assertRateLimited(ack) {
  assert.equal(ack.ok, false);
  assert.equal(ack.error.code, "RATE_LIMITED");
  assert.equal(typeof ack.error.message, "string");
  assert.equal(typeof ack.error.retryAfterMs, "number", `retryAfterMs is a number: ${JSON.stringify(ack)}`);
  assert.ok(ack.error.retryAfterMs > 0, `retryAfterMs > 0: ${JSON.stringify(ack)}`);
}

test(`more than ${PER_MINUTE} events of one user across two sockets → RATE_LIMITED with retryAfterMs`, async () => {
  const user = newUser();
  const s1 = await connectUser(user);
  const s2 = await connectUser(user);
  // Overrun by fewer than FLOOD_DISCONNECT_AFTER events, so nobody is disconnected.
  const half = Math.ceil((PER_MINUTE + Math.max(2, Math.min(6, LIMITS.floodDisconnectAfter - 3))) / 2);
  const acks = (await Promise.all([burst(s1, half), burst(s2, half)])).flat();
  assert.deepEqual(acks.filter((a) => a.timeout), [], "every event got an ack");
  const ok = acks.filter((a) => a.ok === true);
  const limited = acks.filter((a) => a.ok === false);
  assert.ok(limited.length > 0, `some of ${acks.length} events are limited (ok: ${ok.length})`);
  for (const a of limited) assertRateLimited(a);
  // A burst of a minute's worth passes; the budget is shared, not per socket.
  assert.ok(ok.length >= PER_MINUTE - 2, `a burst of about ${PER_MINUTE} passes (ok: ${ok.length})`);
  assert.ok(ok.length <= PER_MINUTE + 2, `the two sockets share one budget (ok: ${ok.length} of ${acks.length})`);

  // Without an ack the refusal is an `error` event with retryAfterMs.
  const errP = once(s1, "error", 2000, (e) => e?.code === "RATE_LIMITED");
  s1.emit("subscribe:orders");
  const err = await errP;
  assert.equal(err.event, "subscribe:orders");
  assert.equal(typeof err.retryAfterMs, "number");
  assert.ok(err.retryAfterMs > 0);

  // Another user is not affected.
  const other = await connectUser();
  const otherAck = await ask(other, "subscribe:orders");
  assert.equal(otherAck.ok, true, `another user is not limited: ${JSON.stringify(otherAck)}`);
  assert.ok(s1.connected && s2.connected, "a short overrun does not disconnect");
  for (const s of [s1, s2, other]) close(s);
});

test("a rate-limited event is not processed", async () => {
  const user = newUser();
  const socket = await connectUser(user);
  const acks = await burst(socket, PER_MINUTE, "subscribe:orders");
  assert.ok(acks.every((a) => a.ok === true || a.error?.code === "RATE_LIMITED"));
  // The budget is spent now: a subscription attempt is refused and changes nothing.
  const initial = collect(socket, "prices:initial");
  const ack = await ask(socket, "subscribe:prices", { symbols: ["EURUSD"] });
  if (ack.ok === false) {
    assertRateLimited(ack);
    const updates = collect(socket, "price:update");
    await sleep(300);
    assert.deepEqual(updates.stop(), [], "a refused subscribe:prices subscribed nothing");
    assert.deepEqual(initial.stop(), [], "and sent no prices:initial");
  } else {
    // The bucket refilled a token in between (one every 60/PER_MINUTE s); then it must have worked.
    assert.ok(Array.isArray(ack.prices));
  }
  close(socket);
});

test(`a client that keeps flooding past FLOOD_DISCONNECT_AFTER (${LIMITS.floodDisconnectAfter}) limited events is disconnected`, async () => {
  const socket = await connectUser();
  const errors = collect(socket, "error");
  const disc = once(socket, "disconnect", 5000);
  const total = PER_MINUTE + LIMITS.floodDisconnectAfter + 15;
  for (let i = 0; i < total; i++) socket.emit("subscribe:orders", () => {});
  const reason = await disc;
  assert.equal(reason, "io server disconnect");
  errors.stop();
});

test("a few limited events followed by patience do not disconnect", async () => {
  const socket = await connectUser();
  const acks = await burst(socket, PER_MINUTE + Math.max(1, LIMITS.floodDisconnectAfter - 3));
  const limited = acks.filter((a) => a.ok === false);
  assert.ok(limited.length >= 1 && limited.length < LIMITS.floodDisconnectAfter, `limited: ${limited.length}`);
  await sleep(300);
  assert.equal(socket.connected, true, `still connected (reason: ${socket.disconnectReason})`);
  close(socket);
});

test("unknown events count against the rate limit too (with acks)", async () => {
  const socket = await connectUser();
  const acks = await Promise.all(
    Array.from({ length: PER_MINUTE + 8 }, () => ask(socket, "no:such-event").catch((e) => ({ timeout: e.message }))),
  );
  const codes = {};
  for (const a of acks) codes[a.error?.code ?? (a.timeout ? "timeout" : "ok")] = (codes[a.error?.code ?? (a.timeout ? "timeout" : "ok")] ?? 0) + 1;
  assert.ok(
    acks.some((a) => a.error?.code === "RATE_LIMITED"),
    `${acks.length} events of one user within a second must not all be answered: ${JSON.stringify(codes)}`,
  );
  for (const a of acks.filter((x) => x.error?.code === "RATE_LIMITED")) assertRateLimited(a);
  close(socket);
});

test("a client flooding with unknown events (no acks) is disconnected", async () => {
  const socket = await connectUser();
  const errors = collect(socket, "error");
  const disc = once(socket, "disconnect", 3000).catch(() => undefined);
  for (let i = 0; i < PER_MINUTE + LIMITS.floodDisconnectAfter + 40; i++) socket.emit("no:such-event", i);
  const reason = await disc;
  const got = errors.stop();
  const codes = [...new Set(got.map((e) => e.code))];
  assert.equal(
    reason,
    "io server disconnect",
    `a flood of ${PER_MINUTE + LIMITS.floodDisconnectAfter + 40} unknown events was answered with ${got.length} error events (${codes}) and no disconnect`,
  );
});
