/**
 * The trace ring: bounded (the oldest marks are overwritten), read oldest first from a
 * time on, served as JSON on a loopback endpoint; and the marks a reconcile pass and a
 * runner leave say how long a change waited and how long the kernel work took.
 */
import assert from "node:assert/strict";
import { BoundedFrequencyRunner, type PassResult } from "../../../common/bounded-frequency-runner.js";
import { VirtualClock } from "../../../common/clock.js";
import { HttpEndpoint } from "../../../common/http-endpoint.js";
import { silentLogger } from "../../../common/logger.js";
import { TraceRing, trace, traceRoute, type TraceMark } from "../../../common/trace-ring.js";
import { ReconcileLoop } from "../../../agent/reconcile/reconcile-loop.js";
import type { NodeSnapshot } from "../../../agent/node-snapshot.js";

const flush = () => new Promise((r) => setImmediate(r));

describe("common: trace ring", () => {
  it("keeps only the newest `size` marks, oldest first, and filters by time", () => {
    const ring = new TraceRing(3);
    for (let i = 1; i <= 5; i++) ring.mark("s", `k${i}`, { n: i }, 1000 + i);
    assert.deepEqual(
      ring.since().map((m) => m.key),
      ["k3", "k4", "k5"],
    );
    assert.deepEqual(
      ring.since(1005).map((m) => m.key),
      ["k5"],
    );
    assert.deepEqual(ring.since(1004)[0], { t: 1004, stage: "s", key: "k4", f: { n: 4 } });
  });

  it("is served as JSON at /trace, from ?since= on", async () => {
    const ring = new TraceRing(10);
    ring.mark("a", "1", undefined, 10);
    ring.mark("b", "2", undefined, 20);
    const http = new HttpEndpoint("127.0.0.1:0", silentLogger()).route("/trace", traceRoute(ring));
    await http.start();
    try {
      const r = await fetch(`http://${http.address}/trace?since=15`);
      const body = (await r.json()) as { now: number; marks: TraceMark[] };
      assert.equal(r.status, 200);
      assert.deepEqual(body.marks, [{ t: 20, stage: "b", key: "2" }]);
      assert.ok(body.now > 0);
    } finally {
      await http.stop();
    }
  });

  it("a runner's pass reports how long its first request waited for it to start", async () => {
    const clock = new VirtualClock();
    const results: PassResult[] = [];
    const runner = new BoundedFrequencyRunner(async () => {}, {
      minIntervalMs: 100,
      maxIntervalMs: Infinity,
      retryInitialMs: 10,
      retryMaxMs: 10,
      clock,
    });
    runner.onPass((r) => results.push(r));
    await runner.run();
    assert.equal(results[0]?.waitMs, 0, "a first request starts at once");
    clock.advance(30);
    const second = runner.run();
    clock.advance(20);
    void runner.run(); // coalesces: the wait counts from the first request
    clock.advance(50);
    await second;
    assert.equal(results[1]?.waitMs, 70);
  });

  it("each reconcile pass leaves a mark: applied with its apply time, or skipped when nothing changed", async () => {
    let value = 1;
    const snapshot = { intent: { revision: 42 } } as unknown as NodeSnapshot;
    const loop = new ReconcileLoop(
      () => snapshot,
      [{ reconciler: { name: "trace-test", desired: () => value, apply: async () => {} } }],
      { minIntervalMs: 0, resyncIntervalMs: 60_000, retryInitialMs: 10, retryMaxMs: 10, log: silentLogger() },
    );
    const since = Date.now();
    await loop.sync(["trace-test"]);
    await loop.sync(["trace-test"]);
    value = 2;
    await loop.sync(["trace-test"]);
    loop.stop();
    await flush();
    const marks = trace.since(since).filter((m) => m.stage === "reconcile" && m.key === "trace-test");
    assert.deepEqual(
      marks.map((m) => [m.f?.["result"], m.f?.["rev"]]),
      [
        ["applied", 42],
        ["skipped", 42],
        ["applied", 42],
      ],
    );
    for (const m of marks) {
      assert.ok(typeof m.f?.["wait"] === "number" && typeof m.f["ms"] === "number");
      assert.ok(Number(m.f["start"]) <= m.t, "a pass starts before its mark (made at its end)");
    }
    assert.ok(Number(marks[0]?.f?.["apply"]) >= 0);
    assert.equal(marks[1]?.f?.["apply"], -1);
  });
});
