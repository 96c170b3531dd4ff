import assert from "node:assert/strict";
import {
  expectedConfirmations,
  pushPullScaleMs,
  remainingSuspicionTimeMs,
  retransmitLimit,
  suspicionTimeoutMs,
} from "../../../agent/gossip/protocol-math.js";

describe("gossip protocol maths", () => {
  it("suspicion timeout = mult × max(1, log10(N)) × probe interval", () => {
    const table: [mult: number, n: number, intervalMs: number, want: number][] = [
      [3, 0, 1000, 3000],
      [3, 1, 1000, 3000],
      [3, 5, 1000, 3000], // log10(5) < 1: never below one interval's worth
      [3, 10, 1000, 3000],
      [3, 50, 1000, 5097],
      [3, 100, 1000, 6000],
      [3, 1000, 1000, 9000],
      [4, 1000, 1000, 12_000], // LAN at 1000 members: the 12 s floor of detection
      [4, 5000, 1000, 14_796],
      [6, 1000, 5000, 90_000], // WAN
    ];
    for (const [mult, n, interval, want] of table) {
      assert.equal(suspicionTimeoutMs(mult, n, interval), want, `mult ${mult}, n ${n}, interval ${interval}`);
    }
  });

  it("remaining suspicion time shrinks with confirmations, never below min, minus elapsed", () => {
    const table: [c: number, k: number, elapsed: number, min: number, max: number, want: number][] = [
      [0, 3, 0, 2000, 30_000, 30_000],
      [1, 3, 2000, 2000, 30_000, 14_000],
      [2, 3, 3000, 2000, 30_000, 4810],
      [3, 3, 4000, 2000, 30_000, -2000],
      [4, 3, 5000, 2000, 30_000, -3000],
      [5, 3, 10_000, 2000, 30_000, -8000],
      [0, 0, 1000, 12_000, 72_000, 11_000], // nobody expected to confirm: straight to min
      [1, 2, 0, 12_000, 72_000, 34_144],
      [2, 2, 0, 12_000, 72_000, 12_000],
    ];
    for (const [c, k, elapsed, min, max, want] of table) {
      assert.equal(
        remainingSuspicionTimeMs(c, k, elapsed, min, max),
        want,
        `c ${c} k ${k} elapsed ${elapsed}`,
      );
    }
  });

  it("retransmit limit = mult × ⌈log10(N + 1)⌉", () => {
    const table: [mult: number, n: number, want: number][] = [
      [3, 0, 0],
      [3, 1, 3],
      [3, 99, 6],
      [3, 100, 9],
      [3, 999, 9],
      [3, 1000, 12],
      [4, 1000, 16],
      [4, 5000, 16],
      [4, 10_000, 20],
    ];
    for (const [mult, n, want] of table) assert.equal(retransmitLimit(mult, n), want, `mult ${mult}, n ${n}`);
  });

  it("push-pull interval scales with log2(N) above 32 members", () => {
    const table: [n: number, want: number][] = [
      [1, 30_000],
      [32, 30_000],
      [33, 60_000],
      [64, 60_000],
      [65, 90_000],
      [128, 90_000],
      [129, 120_000],
      [1000, 180_000],
      [5000, 270_000],
    ];
    for (const [n, want] of table) assert.equal(pushPullScaleMs(30_000, n), want, `n ${n}`);
  });

  it("expects suspicionMult − 2 independent confirmations, none in a tiny cluster", () => {
    assert.equal(expectedConfirmations(4, 1000), 2);
    assert.equal(expectedConfirmations(4, 4), 2);
    assert.equal(expectedConfirmations(4, 3), 0);
    assert.equal(expectedConfirmations(6, 5), 0);
    assert.equal(expectedConfirmations(1, 100), 0);
  });
});
