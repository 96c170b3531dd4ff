/**
 * Reading a `/metrics` page in tests. The page must pass parse-prometheus-text-format (a
 * port of the Prometheus Python client's parser) and the checks that parser leaves out:
 * every sample line is well formed and belongs to a family declared with HELP and TYPE,
 * counters end in `_total`, histogram buckets are cumulative and end in +Inf equal to
 * `_count`. Values are then looked up by family name and labels (a histogram's value is
 * its `_count`), from the sample lines themselves.
 */
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export class Metrics {
  private readonly types = new Map<string, string>();
  private readonly samples: Sample[] = [];

  constructor(readonly text: string) {
    for (const line of text.split("\n")) {
      const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (t?.[1] !== undefined && t[2] !== undefined) this.types.set(t[1], t[2]);
      if (line === "" || line.startsWith("#")) continue;
      const m = SAMPLE.exec(line);
      assert.ok(m?.[1] !== undefined && m[3] !== undefined, `not a sample line: ${line}`);
      const name = m[1];
      const family = name.replace(/_(bucket|sum|count)$/, "");
      assert.ok(this.types.has(name) || this.types.has(family), `sample before its TYPE: ${line}`);
      const labels = Object.fromEntries([...(m[2] ?? "").matchAll(LABEL)].map((l) => [l[1], l[2]]));
      const value = m[3] === "+Inf" ? Infinity : Number(m[3]);
      assert.ok(!Number.isNaN(value), `not a number: ${line}`);
      this.samples.push({ name, labels: labels as Record<string, string>, value });
    }
    assert.ok(parsePrometheusTextFormat(text).length > 0, "the parser found no family");
    for (const [name, type] of this.types) {
      if (type === "counter" && name.startsWith("swarmnet_"))
        assert.match(name, /_total$/, `counter ${name} does not end in _total`);
      if (type === "histogram") this.checkHistogram(name);
    }
  }

  has(name: string): boolean {
    return this.types.has(name);
  }

  /** The value of the first sample of `name` whose labels include `labels` (histogram: its count). */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    return this.matching(name, labels)[0]?.value;
  }

  /** Sum over the samples of `name` matching `labels` (histograms: of their counts). */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.matching(name, labels).reduce((a, s) => a + s.value, 0);
  }

  private matching(name: string, labels: Record<string, string>): Sample[] {
    const series = this.types.get(name) === "histogram" ? `${name}_count` : name;
    return this.samples.filter(
      (s) => s.name === series && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );
  }

  private checkHistogram(name: string): void {
    const key = (l: Record<string, string>) =>
      JSON.stringify(
        Object.entries(l)
          .filter(([k]) => k !== "le")
          .sort(),
      );
    const buckets = new Map<string, [number, number][]>();
    for (const s of this.samples.filter((x) => x.name === `${name}_bucket`)) {
      const le = s.labels["le"] === "+Inf" ? Infinity : Number(s.labels["le"]);
      buckets.set(key(s.labels), [...(buckets.get(key(s.labels)) ?? []), [le, s.value]]);
    }
    for (const count of this.samples.filter((x) => x.name === `${name}_count`)) {
      const b = (buckets.get(key(count.labels)) ?? []).sort(([x], [y]) => x - y).map(([, n]) => n);
      assert.deepEqual(
        b,
        [...b].sort((x, y) => x - y),
        `${name} buckets are not cumulative`,
      );
      assert.equal(b.at(-1), count.value, `${name}: the +Inf bucket differs from the count`);
    }
  }
}
