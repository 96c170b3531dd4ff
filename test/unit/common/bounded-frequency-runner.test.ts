import assert from "node:assert/strict";
import { BoundedFrequencyRunner } from "../../../common/bounded-frequency-runner.js";
import { VirtualClock } from "../../../common/clock.js";
import { SerialQueue } from "../../../common/serial-queue.js";

const flush = () => new Promise((r) => setImmediate(r));

function setup(work: (resync: boolean) => Promise<void> = async () => {}) {
  const clock = new VirtualClock();
  const passes: { at: number; resync: boolean }[] = [];
  const runner = new BoundedFrequencyRunner(
    async ({ resync }) => {
      passes.push({ at: clock.now(), resync });
      await work(resync);
    },
    { minIntervalMs: 100, maxIntervalMs: 10_000, retryInitialMs: 200, retryMaxMs: 1_000, clock },
  );
  return { clock, passes, runner };
}

describe("bounded-frequency runner (virtual clock)", () => {
  it("a first request runs at once; a burst during a pass costs one more pass, after the minimum interval", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { clock, passes, runner } = setup(() => (passes.length === 1 ? gate : Promise.resolve()));
    const first = runner.run();
    assert.equal(passes.length, 1, "started synchronously");
    const burst = Array.from({ length: 100 }, () => runner.run());
    release();
    await first;
    await flush();
    assert.equal(passes.length, 1, "the second pass waits out the minimum interval");
    clock.advance(100);
    await Promise.all(burst);
    assert.equal(passes.length, 2);
    assert.equal(passes[1]?.at, 100);
  });

  it("a pass runs every maxIntervalMs without requests, flagged resync; start and stop are idempotent", async () => {
    const { clock, passes, runner } = setup();
    runner.start();
    runner.start();
    clock.advance(10_000);
    await flush();
    assert.deepEqual(passes, [{ at: 10_000, resync: true }]);
    runner.stop();
    runner.stop();
    clock.advance(50_000);
    await flush();
    assert.equal(passes.length, 1);
    await assert.rejects(runner.run(), /stopped/);
  });

  it("the periodic resync comes every maxIntervalMs even when requests keep passes running more often", async () => {
    const { clock, passes, runner } = setup();
    runner.start();
    for (let t = 0; t < 25_000; t += 1_000) {
      await runner.run({ immediate: true });
      clock.advance(1_000);
      await flush();
    }
    assert.deepEqual(
      passes.filter((p) => p.resync).map((p) => p.at),
      [10_000, 20_000],
      "the period counts from the last resync pass, not from the last pass",
    );
    await runner.run({ resync: true });
    clock.advance(9_999);
    await flush();
    assert.equal(passes.filter((p) => p.resync).length, 3, "an asked-for resync restarts the period");
    clock.advance(1);
    await flush();
    assert.equal(passes.filter((p) => p.resync).length, 4);
    runner.stop();
  });

  it("a failed pass rejects its waiters and is retried with doubling backoff, as a resync, until it succeeds", async () => {
    let failures = 3;
    const { clock, passes, runner } = setup(async () => {
      if (failures-- > 0) throw new Error("boom");
    });
    await assert.rejects(runner.run(), /boom/);
    for (const wait of [200, 400, 800]) {
      clock.advance(wait - 1);
      await flush();
      const before = passes.length;
      clock.advance(1);
      await flush();
      assert.equal(passes.length, before + 1, `retried after ${wait} ms`);
    }
    assert.equal(runner.stats.failures, 3);
    assert.equal(runner.stats.consecutiveFailures, 0);
    assert.ok(passes.slice(1).every((p) => p.resync));
    clock.advance(5_000);
    await flush();
    assert.equal(passes.length, 4, "no retry once it succeeded");
  });

  it("immediate skips the minimum interval but never overlaps a pass", async () => {
    const { passes, runner } = setup();
    await runner.run();
    await runner.run({ immediate: true });
    assert.equal(passes.length, 2);
    assert.deepEqual(
      passes.map((p) => p.at),
      [0, 0],
    );
  });
});

describe("serial queue", () => {
  it("runs operations one at a time in call order; a failure rejects only its caller", async () => {
    const q = new SerialQueue();
    const order: string[] = [];
    const op = (name: string, fail = false) =>
      q.run(async () => {
        order.push(`start ${name}`);
        await flush();
        order.push(`end ${name}`);
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([op("a"), op("b", true), op("c")]);
    assert.deepEqual(order, ["start a", "end a", "start b", "end b", "start c", "end c"]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    await q.idle();
  });
});
