import assert from "node:assert/strict";
import { BroadcastQueue } from "../../../agent/gossip/broadcast-queue.js";
import { compoundEntryCost } from "../../../agent/gossip/codec.js";

const msg = (text: string): Uint8Array => Buffer.from(text);
const text = (parts: Uint8Array[]): string[] => parts.map((p) => Buffer.from(p).toString());

describe("gossip broadcast queue", () => {
  it("sends the least-sent messages first, newest first among equals", () => {
    const q = new BroadcastQueue(() => 3, compoundEntryCost);
    q.enqueue("a", msg("a1"));
    q.enqueue("b", msg("b1"));
    let out: Uint8Array[] = [];
    q.take(compoundEntryCost(2), out);
    assert.deepEqual(text(out), ["b1"]);
    q.enqueue("c", msg("c1"));
    out = [];
    q.take(1000, out);
    assert.deepEqual(text(out), ["c1", "a1", "b1"]);
  });

  it("a newer message about the same key invalidates the queued one", () => {
    const q = new BroadcastQueue(() => 5, compoundEntryCost);
    const done: string[] = [];
    q.enqueue("node-1", msg("alive-1"), (sent) => done.push(`alive-1:${sent}`));
    q.enqueue("node-2", msg("alive-2"));
    q.enqueue("node-1", msg("dead-1"));
    assert.equal(q.depth, 2);
    assert.deepEqual(done, ["alive-1:false"]);
    const out: Uint8Array[] = [];
    q.take(1000, out);
    assert.deepEqual(text(out), ["dead-1", "alive-2"]);
  });

  it("retires a message once it was sent the retransmit limit times", () => {
    let limit = 3;
    const q = new BroadcastQueue(() => limit, compoundEntryCost);
    const done: boolean[] = [];
    q.enqueue(undefined, msg("x"), (sent) => done.push(sent));
    for (let i = 0; i < 2; i++) q.take(1000, []);
    assert.equal(q.depth, 1);
    q.take(1000, []);
    assert.equal(q.depth, 0);
    assert.deepEqual(done, [true]);
    // The limit follows the cluster size: a shrinking cluster retires sooner.
    q.enqueue(undefined, msg("y"));
    q.take(1000, []);
    limit = 1;
    const out: Uint8Array[] = [];
    q.take(1000, out);
    assert.deepEqual(text(out), []);
    assert.equal(q.depth, 0);
  });

  it("packs into the byte budget, skipping what does not fit", () => {
    const q = new BroadcastQueue(() => 10, compoundEntryCost);
    q.enqueue("small", msg("s"));
    q.enqueue("big", msg("x".repeat(100)));
    const out: Uint8Array[] = [];
    const used = q.take(50, out);
    assert.deepEqual(text(out), ["s"]);
    assert.equal(used, compoundEntryCost(1));
    assert.equal(q.depth, 2);
  });

  it("reset drops everything and reports it unsent", () => {
    const q = new BroadcastQueue(() => 10, compoundEntryCost);
    const done: boolean[] = [];
    q.enqueue("a", msg("a"), (s) => done.push(s));
    q.reset();
    assert.equal(q.depth, 0);
    assert.deepEqual(done, [false]);
    assert.equal(q.take(1000, []), 0);
  });
});
