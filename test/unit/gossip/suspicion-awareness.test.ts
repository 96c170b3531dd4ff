import assert from "node:assert/strict";
import { VirtualClock } from "../../../common/clock.js";
import { Awareness } from "../../../agent/gossip/awareness.js";
import { Suspicion } from "../../../agent/gossip/suspicion.js";

describe("gossip suspicion timer (Lifeguard dynamic suspicion)", () => {
  it("fires at max when nobody confirms", () => {
    const clock = new VirtualClock();
    let firedAt = -1;
    new Suspicion("a", 2, 12_000, 72_000, clock, () => (firedAt = clock.now()));
    clock.advance(71_999);
    assert.equal(firedAt, -1);
    clock.advance(1);
    assert.equal(firedAt, 72_000);
  });

  it("shrinks toward min with independent confirmations, ignoring repeats", () => {
    const clock = new VirtualClock();
    let firedAt = -1;
    let confirmations = -1;
    const s = new Suspicion("a", 2, 12_000, 72_000, clock, (c) => {
      firedAt = clock.now();
      confirmations = c;
    });
    clock.advance(1000);
    assert.equal(s.confirm("a"), false, "the first accuser is not a confirmation");
    assert.equal(s.confirm("b"), true);
    assert.equal(s.confirm("b"), false, "the same accuser twice counts once");
    clock.advance(1000);
    assert.equal(s.confirm("c"), true);
    assert.equal(s.confirm("d"), false, "beyond the expected count nothing changes");
    clock.advance(9999);
    assert.equal(firedAt, -1);
    clock.advance(1);
    assert.equal(firedAt, 12_000);
    assert.equal(confirmations, 2);
  });

  it("starts at min when no confirmation is expected, and can be cancelled", () => {
    const clock = new VirtualClock();
    let fired = 0;
    new Suspicion("a", 0, 5000, 30_000, clock, () => fired++);
    const cancelled = new Suspicion("a", 0, 5000, 30_000, clock, () => fired++);
    cancelled.cancel();
    clock.advance(5000);
    assert.equal(fired, 1);
  });
});

describe("gossip local health awareness", () => {
  it("scales timeouts by score + 1 and caps the multiplier", () => {
    const a = new Awareness(8);
    assert.equal(a.scaleTimeout(500), 500);
    a.applyDelta(3);
    assert.equal(a.healthScore, 3);
    assert.equal(a.scaleTimeout(1000), 4000);
    a.applyDelta(100);
    assert.equal(a.healthScore, 7);
    assert.equal(a.scaleTimeout(1000), 8000, "capped at 8×");
    a.applyDelta(-100);
    assert.equal(a.healthScore, 0);
  });
});
