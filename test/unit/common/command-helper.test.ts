import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HelperRunner } from "../../../common/command-helper.js";
import { ExecaRunner } from "../../../common/executor.js";
import { isAlive } from "../../../common/process.js";

describe("command helper runner", () => {
  let runner: HelperRunner;
  beforeEach(() => (runner = new HelperRunner()));
  afterEach(() => runner.close());

  it("answers like ExecaRunner: output, exit codes, input, env, a missing program", async () => {
    const direct = new ExecaRunner();
    const cases: [string, string[], { input?: string; env?: Record<string, string> }][] = [
      ["sh", ["-c", "echo out; echo err >&2; exit 3"], {}],
      ["cat", [], { input: "line one\nline two\n" }],
      ["sh", ["-c", 'printf "%s" "$SWARMNET_T"'], { env: { SWARMNET_T: "set" } }],
      ["sh", ["-c", "printf 'no newline'"], {}],
    ];
    for (const [file, args, options] of cases) {
      assert.deepEqual(
        await runner.run(file, args, options),
        await direct.run(file, args, options),
        `${file} ${args.join(" ")}`,
      );
    }
    const missing = await runner.run("swarmnet-no-such-program", []);
    assert.equal(missing.exitCode, 127);
  });

  it("runs commands concurrently, each answered with its own result", async () => {
    // The first waits for a file only the second makes: one after another, it times out.
    const flag = join(tmpdir(), `swarmnet-unit-helper-${process.pid}-${Date.now()}`);
    try {
      const results = await Promise.all([
        runner.run("sh", ["-c", `while [ ! -e ${flag} ]; do sleep 0.05; done; echo first`], {
          timeoutMs: 20_000,
        }),
        runner.run("sh", ["-c", `touch ${flag}; echo second`]),
      ]);
      assert.deepEqual(
        results.map((r) => [r.exitCode, r.stdout]),
        [
          [0, "first\n"],
          [0, "second\n"],
        ],
      );
    } finally {
      rmSync(flag, { force: true });
    }
  });

  it("a command past its timeout is killed and answered 124", async () => {
    const r = await runner.run("sleep", ["5"], { timeoutMs: 200 });
    assert.equal(r.exitCode, 124);
    assert.equal((await runner.run("echo", ["after"])).stdout, "after\n");
  });

  it("starts detached programs: pid at once, output appended to the log, the exit code (null for a signal) after", async () => {
    const dir = mkdtempSync(join(tmpdir(), "swarmnet-unit-helper-"));
    try {
      const log = join(dir, "c.log");
      const env = { ...process.env, SWARMNET_T: "env" } as Record<string, string>;
      const quick = await runner.startDetached(
        "sh",
        ["-c", 'echo "out $SWARMNET_T $(pwd)"; echo err >&2; exit 7'],
        {
          logFile: log,
          env,
          cwd: dir,
        },
      );
      assert.ok(quick !== undefined && quick.pid > 0);
      assert.equal(await quick.exited, 7);
      assert.equal(readFileSync(log, "utf8"), `out env ${dir}\nerr\n`);

      const long = await runner.startDetached("sleep", ["30"], { logFile: log, env });
      assert.ok(long !== undefined && isAlive(long.pid));
      process.kill(long.pid, "SIGKILL");
      assert.equal(await long.exited, null);

      await assert.rejects(
        runner.startDetached("swarmnet-no-such-program", [], { logFile: log, env }) as Promise<unknown>,
        /cannot start swarmnet-no-such-program/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a detached program outlives the helper", async () => {
    const dir = mkdtempSync(join(tmpdir(), "swarmnet-unit-helper-"));
    const env = { ...process.env } as Record<string, string>;
    const p = await runner.startDetached("sleep", ["30"], { logFile: join(dir, "c.log"), env });
    try {
      assert.ok(p !== undefined);
      runner.close();
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(isAlive(p.pid));
    } finally {
      if (p !== undefined) process.kill(p.pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a helper that dies fails what was in flight; the next command starts a new one", async () => {
    const inFlight = runner.run("sleep", ["5"]);
    await new Promise((r) => setTimeout(r, 200));
    runner.close();
    const r = await inFlight;
    assert.equal(r.exitCode, 124);
    assert.match(r.stderr, /command helper/);
    assert.equal((await runner.run("echo", ["again"])).stdout, "again\n");
  });
});
