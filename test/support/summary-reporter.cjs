// Mocha's spec reporter plus one closing line CI can read whatever runner it knows:
// "N passed, N failed, N skipped" alone on a line. Before it, the slowest test files with
// their wall time, hooks included (mocha's own durations leave out `before`, where the
// labs come up): the suite has a time budget, and this is where it goes. And before that,
// each failed test again with its file and the first lines of its error, because CI keeps
// only the tail of a long log and the spec reporter's own list sits far above it.
// CommonJS because mocha require()s reporters by path.
//
// With `--reporter-option results=FILE` (one lane of test/support/run-suite.ts) it writes
// the counts and file times to FILE as JSON instead, and the runner prints the closing
// lines once for all lanes.
"use strict";
const Mocha = require("mocha");
const { writeFileSync } = require("node:fs");
const { relative } = require("node:path");

const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_SUITE_END, EVENT_TEST_FAIL } = Mocha.Runner.constants;
const SLOWEST_FILES = 15;
const ERROR_LINES = 6;

/** A failed test as the closing lines show it: title path, file, the error's first lines. */
function describeFailure(test, err) {
  const file = test.file ? relative(process.cwd(), test.file) : "?";
  const text = String((err && (err.stack || err.message)) || err)
    .split("\n")
    .filter((l) => l.trim() !== "" && !/^\s+at /.test(l))
    .slice(0, ERROR_LINES)
    .join("\n      ");
  return `${test.fullTitle()}\n      ${file}\n      ${text}`;
}

/** The closing lines: the failures, the slowest files, then the summary line. */
function printSummary(counts, files, durationMs, failures = []) {
  if (failures.length > 0) {
    process.stdout.write(`\nfailed (${failures.length}):\n`);
    failures.forEach((f, i) => process.stdout.write(`  ${i + 1}) ${f}\n`));
  }
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
    const failed = [];
    runner.on(EVENT_TEST_FAIL, (test, err) => failed.push(describeFailure(test, err)));
    const results = options.reporterOption?.results ?? options.reporterOptions?.results;
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats;
      const counts = { passes: s.passes, failures: s.failures, pending: s.pending };
      if (results === undefined) printSummary(counts, files, s.duration, failed);
      else
        writeFileSync(
          results,
          JSON.stringify({ ...counts, durationMs: s.duration, files: [...files], failed }),
        );
    });
  }
}

module.exports = SummaryReporter;
module.exports.printSummary = printSummary;
