/**
 * The process metrics' event-loop families (common/metrics.ts): prom-client's names and
 * help texts, numbers on every scrape — also two scrapes closer than one sample — and the
 * delay without the sampling period in it.
 */
import assert from "node:assert/strict";
import { metricsRegistry } from "../../../common/metrics.js";
import { Metrics } from "../../support/prom-metrics.js";

const FAMILIES = ["", "_min", "_max", "_mean", "_stddev", "_p50", "_p90", "_p99"].map(
  (s) => `nodejs_eventloop_lag${s}_seconds`,
);

describe("process metrics: event-loop delay", () => {
  it("every family once, a number on back-to-back scrapes and after samples, never the sampling period", async () => {
    const registry = metricsRegistry();
    const texts = [await registry.metrics(), await registry.metrics()];
    await new Promise((r) => setTimeout(r, 700));
    texts.push(await registry.metrics(), await registry.metrics());
    for (const text of texts) {
      const m = new Metrics(text); // asserts every value is a number
      for (const family of FAMILIES) {
        assert.equal(text.match(new RegExp(`^# TYPE ${family} gauge$`, "gm"))?.length, 1, family);
        const value = m.value(family);
        assert.ok(value !== undefined && value >= 0 && value < 0.2, `${family} = ${value}`);
      }
    }
  });
});
