import assert from "node:assert/strict";
import { VirtualClock } from "../../../common/clock.js";

describe("virtual clock", () => {
  it("fires timers in time order, then by the order they were set", () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push("b@20"), 20);
    clock.setTimeout(() => fired.push("a@10"), 10);
    clock.setTimeout(() => fired.push("c@20"), 20);
    clock.advance(15);
    assert.deepEqual(fired, ["a@10"]);
    assert.equal(clock.now(), 15);
    clock.advance(5);
    assert.deepEqual(fired, ["a@10", "b@20", "c@20"]);
  });

  it("repeats intervals, runs timers set by timers, and honours cancel", () => {
    const clock = new VirtualClock();
    let ticks = 0;
    const t = clock.setInterval(() => ticks++, 100);
    let nested = -1;
    clock.setTimeout(() => clock.setTimeout(() => (nested = clock.now()), 5), 50);
    clock.advance(350);
    assert.equal(ticks, 3);
    assert.equal(nested, 55);
    t.cancel();
    clock.advance(1000);
    assert.equal(ticks, 3);
  });
});
