/**
 * Fuzzing in the suite (bench/fuzz-targets.ts holds the targets): a seeded, bounded
 * fast-check run of 10,000 inputs per decoder; any crash fails with the smallest input
 * fast-check shrinks it to, any input taking longer than the time limit counts as a hang.
 * `node dist/bench/fuzz.js` runs the same targets for longer.
 */
import assert from "node:assert/strict";
import * as fc from "fast-check";
import { fuzzTargets } from "../../bench/fuzz-targets.js";

const RUNS = 10_000;
const SEED = 18;
/** One input may take this long before it counts as a hang (a loaded machine included). */
const INPUT_TIMEOUT_MS = 2_000;

describe("fuzz: every decoder of outside input survives 10,000 random and mutated inputs", function () {
  this.timeout(300_000);
  for (const target of fuzzTargets()) {
    it(`${target.name}: 0 crashes, 0 hangs`, async () => {
      const out = await fc.check(target.property as fc.IAsyncProperty<[unknown]>, {
        numRuns: RUNS,
        seed: SEED,
        timeout: INPUT_TIMEOUT_MS,
        endOnFailure: true,
      });
      assert.equal(out.failed, false, fc.defaultReportMessage(out) ?? "failed");
      assert.equal(out.numRuns, RUNS);
    });
  }
});
