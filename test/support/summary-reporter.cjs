// Mocha's spec reporter plus one closing line CI can read whatever runner it knows:
// "N passed, N failed, N skipped" alone on a line. Before it, the slowest test files with
// their wall time, hooks included (mocha's own durations leave out `before`, where the
// labs come up): the suite has a time budget, and this is where it goes. CommonJS
// because mocha require()s reporters by path.
//
// With `--reporter-option results=FILE` (one lane of test/support/run-suite.ts) it writes
// the counts and file times to FILE as JSON instead, and the runner prints the closing
// lines once for all lanes.
"use strict";
const Mocha = require("mocha");
const { writeFileSync } = require("node:fs");
const { relative } = require("node:path");

const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_SUITE_END } = Mocha.Runner.constants;
const SLOWEST_FILES = 15;

/** The closing lines: the slowest files, then the summary line. */
function printSummary(counts, files, durationMs) {
  const slowest = [...files].sort((a, b) => b[1] - a[1]).slice(0, SLOWEST_FILES);
  process.stdout.write(`\nslowest files (wall time with hooks, of ${Math.round(durationMs / 1000)} s):\n`);
  for (const [file, ms] of slowest)
    process.stdout.write(`  ${String(Math.round(ms / 1000)).padStart(5)} s  ${file}\n`);
  process.stdout.write(`\n${counts.passes} passed, ${counts.failures} failed, ${counts.pending} skipped\n`);
}

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const started = new Map();
    const files = new Map();
    runner.on(EVENT_SUITE_BEGIN, (suite) => {
      if (suite.file && suite.parent && suite.parent.root) started.set(suite, Date.now());
    });
    runner.on(EVENT_SUITE_END, (suite) => {
      const t = started.get(suite);
      if (t === undefined) return;
      const file = relative(process.cwd(), suite.file);
      files.set(file, (files.get(file) ?? 0) + Date.now() - t);
    });
    const results = options.reporterOption?.results ?? options.reporterOptions?.results;
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats;
      const counts = { passes: s.passes, failures: s.failures, pending: s.pending };
      if (results === undefined) printSummary(counts, files, s.duration);
      else writeFileSync(results, JSON.stringify({ ...counts, durationMs: s.duration, files: [...files] }));
    });
  }
}

module.exports = SummaryReporter;
module.exports.printSummary = printSummary;
