/**
 * The fuzz benchmark: every target of fuzz-targets.ts for `--seconds` each (default 20),
 * with a fresh seed, printing per decoder the inputs tried, inputs per second and the
 * failures found (with the shrunk counterexample). JSON on stdout:
 *   { benchmark: "fuzz", seconds, targets: [{ name, inputs, inputs_per_s, failures, counterexample? }] }
 *   node dist/bench/fuzz.js [--seconds 20]
 */
import * as fc from "fast-check";
import { fuzzTargets } from "./fuzz-targets.js";

const i = process.argv.indexOf("--seconds");
const seconds = i > 0 ? Number(process.argv[i + 1]) : 20;
const results: Record<string, unknown>[] = [];
for (const target of fuzzTargets()) {
  const t0 = performance.now();
  const out = await fc.check(target.property as fc.IAsyncProperty<[unknown]>, {
    numRuns: Number.MAX_SAFE_INTEGER,
    interruptAfterTimeLimit: seconds * 1000,
    timeout: 2_000,
    endOnFailure: true,
  });
  const elapsed = (performance.now() - t0) / 1000;
  results.push({
    name: target.name,
    inputs: out.numRuns,
    inputs_per_s: Math.round(out.numRuns / elapsed),
    failures: out.failed ? 1 : 0,
    ...(out.failed
      ? { counterexample: fc.stringify(out.counterexample), error: String(out.errorInstance) }
      : {}),
  });
}
process.stdout.write(`${JSON.stringify({ benchmark: "fuzz", seconds, targets: results }, null, 2)}\n`);
