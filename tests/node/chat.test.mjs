// Contract: chat:message — ack with the reply id, streamed chat:chunk
// pieces, the final chat:message to the asker only, and validation.

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
  newUser,
  once,
  sleep,
} from "./helpers.mjs";

afterEach(closeAll);

const REPLY_MS = 5000;

/** Asks `message` (payload `extra` merged) and returns `{ ack, reply, chunks }`. */
async function chat(socket, payload) {
  const chunks = collect(socket, "chat:chunk");
  const replies = collect(socket, "chat:message");
  const ack = expectOk(assert, await ask(socket, "chat:message", payload));
  assert.equal(typeof ack.id, "string");
  assert.ok(ack.id.length > 0, "ack carries the reply id");
  const reply =
    replies.items.find((r) => r?.id === ack.id) ??
    (await once(socket, "chat:message", REPLY_MS, (r) => r?.id === ack.id));
  replies.stop();
  return { ack, reply, chunks: chunks.stop().filter((c) => c?.id === ack.id) };
}

function assertReply(reply, id) {
  assert.equal(reply.id, id);
  assert.equal(reply.type, "ai");
  assert.equal(typeof reply.message, "string");
  assert.ok(reply.message.length > 0, "a non-empty answer");
  assert.equal(typeof reply.timestamp, "number");
  assert.ok(Math.abs(reply.timestamp - Date.now()) < 60_000, "timestamp is ms since epoch");
}

test("chat:message: ack { ok, id }, chunks that add up to the final message, to the asker only", async () => {
  const asker = await connectUser();
  const bystander = await connectUser();
  const seenByOther = [collect(bystander, "chat:message"), collect(bystander, "chat:chunk")];
  const { ack, reply, chunks } = await chat(asker, { message: "what is the spread of EURUSD" });
  assertReply(reply, ack.id);
  for (const c of chunks) {
    assert.equal(c.id, ack.id);
    assert.equal(typeof c.delta, "string");
  }
  if (chunks.length > 0) {
    assert.equal(chunks.map((c) => c.delta).join(""), reply.message, "the chunks concatenate to the message");
  }
  assert.match(reply.message, /EURUSD|EUR\/USD/, "the answer is about EURUSD");
  assert.equal(reply.replyTo, undefined, "no replyTo without an id in the question");
  await sleep(200);
  assert.deepEqual(seenByOther[0].stop(), [], "another user's socket gets no chat:message");
  assert.deepEqual(seenByOther[1].stop(), [], "another user's socket gets no chat:chunk");
  close(asker);
  close(bystander);
});

test("chat:message: the optional id comes back as replyTo; context.currentSymbol is used", async () => {
  const socket = await connectUser();
  const { ack, reply } = await chat(socket, {
    message: "what is the price?",
    id: "q-42",
    context: { currentSymbol: "GBPUSD" },
  });
  assertReply(reply, ack.id);
  assert.equal(reply.replyTo, "q-42");
  assert.match(reply.message, /GBPUSD|GBP\/USD/, "answers about the current symbol");
  close(socket);
});

test("chat:message: a second socket of the same asker's user does not get the reply either", async () => {
  const user = newUser();
  const s1 = await connectUser(user);
  const s2 = await connectUser(user);
  const other = [collect(s2, "chat:message"), collect(s2, "chat:chunk")];
  const { ack, reply } = await chat(s1, { message: "hello" });
  assertReply(reply, ack.id);
  await sleep(200);
  assert.deepEqual(other[0].stop(), [], "the reply goes to the asking socket only");
  assert.deepEqual(other[1].stop(), []);
  close(s1);
  close(s2);
});

test("chat:message: without an ack the reply still comes", async () => {
  const socket = await connectUser();
  const p = once(socket, "chat:message", REPLY_MS);
  socket.emit("chat:message", { message: "how volatile is USDJPY?" });
  const reply = await p;
  assert.equal(reply.type, "ai");
  assert.equal(typeof reply.id, "string");
  close(socket);
});

test("chat:message: invalid payloads → INVALID_PAYLOAD, no reply", async () => {
  const socket = await connectUser();
  const replies = collect(socket, "chat:message");
  const bad = [
    { message: "" },
    { message: "x".repeat(2001) },
    { message: 42 },
    { message: ["hi"] },
    { message: null },
    {},
    { message: "hi", context: { currentSymbol: "eurusd" } },
    { message: "hi", context: { currentSymbol: 7 } },
    { message: "hi", context: "EURUSD" },
    "what is the spread of EURUSD",
  ];
  for (const payload of bad) {
    expectFailure(assert, await ask(socket, "chat:message", payload), "INVALID_PAYLOAD");
  }
  // Without an ack: an `error` event naming the event.
  const errP = once(socket, "error");
  socket.emit("chat:message", { message: "" });
  const err = await errP;
  assert.equal(err.code, "INVALID_PAYLOAD");
  assert.equal(err.event, "chat:message");
  assert.equal(typeof err.message, "string");
  await sleep(200);
  assert.deepEqual(replies.stop(), [], "no answer to a refused question");
  // 2000 characters is still fine.
  const { ack, reply } = await chat(socket, { message: "y".repeat(2000) });
  assertReply(reply, ack.id);
  close(socket);
});
