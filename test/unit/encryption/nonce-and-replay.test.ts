import assert from "node:assert/strict";
import { COUNTER_PER_MS, NonceSequence } from "../../../agent/encryption/nonce.js";
import { ReplayWindow } from "../../../agent/encryption/replay-window.js";

describe("encryption nonces", () => {
  it("never repeats a nonce within a process, even when the wall clock stands still or steps back", () => {
    let wall = 1_700_000_000_000;
    const seq = new NonceSequence(
      () => 0xdeadbeef,
      () => wall,
    );
    const seen = new Set<string>();
    const buf = Buffer.alloc(12);
    for (let i = 0; i < 50_000; i++) {
      if (i === 20_000) wall -= 60_000; // NTP step backwards
      seq.write(buf, 0);
      const hex = buf.toString("hex");
      assert.ok(!seen.has(hex), `nonce ${hex} repeated at ${i}`);
      seen.add(hex);
    }
  });

  it("keeps counters increasing across a restart (same keys), so the peer's replay window accepts them", () => {
    let wall = 1_700_000_000_000;
    const first = new NonceSequence(
      () => 1,
      () => wall,
    );
    let last = 0;
    for (let i = 0; i < 100_000; i++) last = first.next(); // a burst far above the usual rate
    wall += 1000; // the datapath restarts a second later
    const second = new NonceSequence(
      () => 2,
      () => wall,
    );
    assert.ok(second.next() > last);
  });

  it("separates two processes by a random prefix, and encodes prefix ‖ counter big-endian", () => {
    const wall = () => 1_000;
    const a = new NonceSequence(() => 0x01020304, wall);
    const buf = Buffer.alloc(12);
    const c = a.write(buf, 0);
    assert.equal(c, 1_000 * COUNTER_PER_MS);
    assert.equal(buf.toString("hex"), "01020304" + c.toString(16).padStart(16, "0"));
  });
});

describe("encryption replay window", () => {
  it("accepts each sequence number once", () => {
    const w = new ReplayWindow(64);
    for (const s of [10, 11, 12]) {
      assert.equal(w.check(s), "ok");
      w.commit(s);
    }
    assert.equal(w.check(11), "replay");
    assert.equal(w.check(12), "replay");
    assert.equal(w.check(13), "ok");
  });

  it("accepts late arrivals inside the window and rejects those below it", () => {
    const w = new ReplayWindow(64);
    w.commit(1000);
    assert.equal(w.check(990), "ok");
    w.commit(990);
    assert.equal(w.check(990), "replay");
    assert.equal(w.check(1000 - w.size), "too-old");
    assert.equal(w.check(1000 - w.size + 1), "ok");
  });

  it("stays exact across big jumps (restart-sized) and counters near 2^53", () => {
    const w = new ReplayWindow(1024);
    const base = 1_700_000_000_000 * 1024;
    w.commit(base);
    w.commit(base + 5);
    assert.equal(w.check(base + 3), "ok");
    w.commit(base + 10_000_000);
    assert.equal(w.check(base + 5), "too-old");
    assert.equal(w.check(base + 10_000_000), "replay");
    assert.equal(w.check(base + 10_000_000 - 1), "ok");
  });

  it("does not move before commit: a check alone (a forged record) changes nothing", () => {
    const w = new ReplayWindow(64);
    w.commit(5);
    assert.equal(w.check(1_000_000), "ok");
    assert.equal(w.highest, 5);
    assert.equal(w.check(4), "ok");
  });

  it("matches a brute-force model on a random sequence", () => {
    const w = new ReplayWindow(128);
    const accepted = new Set<number>();
    let top = -1;
    let rnd = 12345;
    for (let i = 0; i < 20_000; i++) {
      rnd = (rnd * 1103515245 + 12345) % 2 ** 31;
      const s = Math.max(0, (top < 0 ? 0 : top) + (rnd % 200) - 150);
      const expected = top >= 0 && s <= top - w.size ? "too-old" : accepted.has(s) ? "replay" : "ok";
      assert.equal(w.check(s), expected, `seq ${s} top ${top}`);
      if (expected === "ok") {
        w.commit(s);
        accepted.add(s);
        top = Math.max(top, s);
      }
    }
  });
});
