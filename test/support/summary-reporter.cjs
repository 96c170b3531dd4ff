// Mocha's spec reporter plus one closing line CI can read whatever runner it knows:
// "N passed, N failed, N skipped" alone on a line. Before it, the slowest test files with
// their wall time, hooks included (mocha's own durations leave out `before`, where the
// labs come up): the suite has a time budget, and this is where it goes. CommonJS
// because mocha require()s reporters by path.
"use strict";
const Mocha = require("mocha");
const { relative } = require("node:path");

const { EVENT_RUN_END, EVENT_SUITE_BEGIN, EVENT_SUITE_END } = Mocha.Runner.constants;
const SLOWEST_FILES = 15;

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
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats;
      const slowest = [...files].sort((a, b) => b[1] - a[1]).slice(0, SLOWEST_FILES);
      process.stdout.write(
        `\nslowest files (wall time with hooks, of ${Math.round(s.duration / 1000)} s):\n`,
      );
      for (const [file, ms] of slowest)
        process.stdout.write(`  ${String(Math.round(ms / 1000)).padStart(5)} s  ${file}\n`);
      process.stdout.write(`\n${s.passes} passed, ${s.failures} failed, ${s.pending} skipped\n`);
    });
  }
}

module.exports = SummaryReporter;
