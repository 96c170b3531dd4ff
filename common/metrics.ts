/**
 * Prometheus metrics through prom-client, shared by the agent and the manager: a registry
 * with the process metrics (prom-client's standard `process_*` and `nodejs_*` families,
 * kept under their usual names so existing dashboards work), the `/metrics` route, and
 * families whose values are *read* from the owners' own counters at scrape time.
 *
 * Reading at scrape time keeps the hot paths free of metric code (gossip counts with
 * plain fields, see agent/gossip/metrics.ts) and makes an unscraped process pay nothing
 * for its metrics. Only distributions (histograms) are observed as events happen.
 *
 * Names follow Prometheus conventions: `swarmnet_<area>_<what>_<unit>`, counters end in
 * `_total`, durations are seconds. Labels never carry a secret: key *tags* at most.
 *
 * Only the agent and manager processes load this file (the CLI's start path does not).
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from "node:perf_hooks";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { RouteHandler } from "./http-endpoint.js";

export type Labels = Record<string, string>;
/** One sample: labels (empty for none) and a value. */
export type Sample = [Labels, number];
type Read = () => Sample[] | Promise<Sample[]>;

/**
 * How often `nodejs_eventloop_lag_*` samples the loop. prom-client's default, 10 ms, is a
 * timer that wakes an idle process 100 times a second: that was most of an idle agent's
 * wake-ups (strace: ~230 `epoll_pwait` a second, nearly all of them that timer) and about
 * a tenth of its CPU on this machine, metrics scraped or not (issue 16). The price: a
 * stall shows only when a sample falls due during it (every stall over 250 ms does).
 */
const EVENT_LOOP_SAMPLE_MS = 250;

/** prom-client's event-loop families, replaced below under the same names and help texts. */
const EVENT_LOOP_STATS = [
  ["min", "The minimum recorded event loop delay.", (h: IntervalHistogram) => h.min],
  ["max", "The maximum recorded event loop delay.", (h: IntervalHistogram) => h.max],
  ["mean", "The mean of the recorded event loop delays.", (h: IntervalHistogram) => h.mean],
  ["stddev", "The standard deviation of the recorded event loop delays.", (h: IntervalHistogram) => h.stddev],
  [
    "p50",
    "The 50th percentile of the recorded event loop delays.",
    (h: IntervalHistogram) => h.percentile(50),
  ],
  [
    "p90",
    "The 90th percentile of the recorded event loop delays.",
    (h: IntervalHistogram) => h.percentile(90),
  ],
  [
    "p99",
    "The 99th percentile of the recorded event loop delays.",
    (h: IntervalHistogram) => h.percentile(99),
  ],
] as const;

/**
 * The event-loop delay families, sampled every EVENT_LOOP_SAMPLE_MS. prom-client's own
 * (with its sampling period raised) report NaN when two scrapes come closer than one
 * sample: it resets its histogram on every scrape. These keep the last interval's values
 * until a new sample arrives, and report the delay itself: Node's histogram records the
 * whole time between two samples, the sampling period included (prom-client's read
 * ~0.010 s on an idle loop), which is subtracted here. `nodejs_eventloop_lag_seconds` is
 * measured as prom-client does: how late a setImmediate runs after the scrape began.
 */
function eventLoopMetrics(registry: Registry): void {
  for (const name of [
    "nodejs_eventloop_lag_seconds",
    ...EVENT_LOOP_STATS.map(([s]) => `nodejs_eventloop_lag_${s}_seconds`),
  ])
    registry.removeSingleMetric(name);
  const histogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_SAMPLE_MS });
  histogram.enable();
  const stats = EVENT_LOOP_STATS.map(
    ([stat, help, read]) =>
      [
        new Gauge({ name: `nodejs_eventloop_lag_${stat}_seconds`, help, registers: [] }),
        read,
        stat !== "stddev",
      ] as const,
  );
  // The statistics are set by this gauge's collect, so it is registered before them: a
  // scrape collects in registration order.
  new Gauge({
    name: "nodejs_eventloop_lag_seconds",
    help: "Lag of event loop in seconds.",
    registers: [registry],
    async collect() {
      if (histogram.count > 0) {
        for (const [gauge, read, shifted] of stats) {
          gauge.set(Math.max(0, read(histogram) / 1e9 - (shifted ? EVENT_LOOP_SAMPLE_MS / 1000 : 0)));
        }
        histogram.reset();
      }
      const start = performance.now();
      await new Promise((resolve) => setImmediate(resolve));
      this.set((performance.now() - start) / 1000);
    },
  });
  for (const [gauge] of stats) registry.registerMetric(gauge);
}

/** A registry with the process metrics already in it. */
export function metricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  eventLoopMetrics(registry);
  return registry;
}

export function metricsRoute(registry: Registry): RouteHandler {
  return async (_req, res) => {
    const text = await registry.metrics();
    res.writeHead(200, { "content-type": registry.contentType }).end(text);
  };
}

/** A gauge whose samples come from `read` at each scrape. */
export function readGauge(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: Read,
): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [labels, v] of await read()) this.set(labels, v);
    },
  });
}

/** A counter whose totals come from `read` at each scrape (the owner keeps the count). */
export function readCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: Read,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      for (const [labels, v] of await read()) this.inc(labels, v);
    },
  });
}

/**
 * Buckets for passes and applies: from a millisecond (a no-op pass) to a minute (a large
 * nft table on a loaded machine) — kube-proxy's sync_proxy_rules_duration_seconds shape.
 */
export const DURATION_BUCKETS_SECONDS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

export function histogram(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[] = [],
): Histogram {
  return new Histogram({ name, help, labelNames, buckets: DURATION_BUCKETS_SECONDS, registers: [registry] });
}

export type { Registry, Histogram };
