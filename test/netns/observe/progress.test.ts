/**
 * Issue 15, service progress: `service create` without `-d`, on a terminal (a pty made by
 * util-linux `script`), draws Docker's per-slot progress and returns once the service
 * converged and stayed so for Docker's 5 s verify; without a terminal it prints plain
 * lines; a task that cannot start (it runs for a moment, then fails: the verify wait
 * catches it) is reported and the command stops in bounded time; `-d` returns at once;
 * `--update-monitor` is kept by the service (inspect shows it in Docker's nanoseconds) and
 * sets how long the wait watches the tasks, for create, update and scale alike.
 */
import assert from "node:assert/strict";
import { execa } from "execa";
import { BRIEF_MONITOR } from "../../support/cli.js";
import { CLI_MAIN } from "../../support/netns.js";
import { LabCluster, running, labForSuite } from "../../support/lab-cluster.js";

const ESC = String.fromCharCode(27);

/** Runs `argv` under a pseudo-terminal; resolves with what the terminal showed. */
async function onTerminal(argv: readonly string[]): Promise<{ exitCode: number; screen: string }> {
  const quoted = argv.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const r = await execa("script", ["-qfec", quoted, "/dev/null"], {
    reject: false,
    env: { SWARMNET_LOG_LEVEL: "warn", TERM: "xterm" },
    timeout: 300_000,
  });
  return { exitCode: r.exitCode ?? 1, screen: String(r.stdout) };
}

describe("observe: service progress as Docker draws it (netns lab, 3 nodes)", function () {
  this.timeout(300_000);
  const lab = labForSuite(new LabCluster(3));

  it("on a terminal: one bar per slot, redrawn in place, and it returns once converged", async () => {
    const r = await onTerminal([
      process.execPath,
      CLI_MAIN,
      "lab",
      "exec",
      "--name",
      lab.name,
      "n1",
      "--",
      "swarmnet",
      "service",
      "create",
      "--name",
      "web",
      "--replicas",
      "3",
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "80",
    ]);
    assert.equal(r.exitCode, 0, r.screen);
    assert.match(r.screen, new RegExp(`${ESC}\\[\\d+A`), "the block is not redrawn in place");
    assert.match(r.screen, /overall progress: 3 out of 3 tasks/);
    for (const slot of ["1/3", "2/3", "3/3"]) {
      assert.match(r.screen, new RegExp(`${slot}: running \\[={49}>\\]`), `no full bar for ${slot}`);
    }
    assert.match(r.screen, /verify: Waiting [1-5] seconds to verify that tasks are stable\.\.\./);
    assert.match(r.screen, /verify: Service converged/);
    // Returned means converged: every task runs now, without waiting.
    assert.equal(running(await lab.tasks("web")).length, 3);
  });

  it("without a terminal: plain lines, no escape codes; scale waits the same way", async () => {
    const out = await lab.ok(["service", "scale", "web=5"]);
    assert.match(out, /^web scaled to 5$/m);
    assert.match(out, /^overall progress: 5 out of 5 tasks$/m);
    assert.match(
      out,
      /^verify: Waiting 5 seconds to verify that tasks are stable\.\.\.\nverify: Service converged$/m,
    );
    assert.ok(!out.includes(ESC), "escape codes without a terminal");
    assert.equal(running(await lab.tasks("web")).length, 5);
  });

  it("a task that cannot start: the error is shown and the command stops in bounded time", async () => {
    const started = Date.now();
    const r = await lab.cli(["service", "create", "--name", "broken", "--", "false"]);
    const tookS = (Date.now() - started) / 1000;
    assert.equal(r.exitCode, 1, r.stdout + r.stderr);
    assert.match(
      r.stderr,
      /^swarmnet: service broken did not converge: 3 tasks failed, the last broken\.1: .+/,
    );
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.match(r.stdout, /1\/1: (failed|pending|assigned)/, "the failing slot was not drawn");
    assert.ok(tookS < 120, `took ${tookS} s`);
    await lab.ok(["service", "rm", "broken"]);
  });

  it("-d returns at once with only the service ID; --format json keeps stdout one document", async () => {
    const d = await lab.ok([
      "service",
      "create",
      "-d",
      ...BRIEF_MONITOR,
      "--name",
      "quick",
      "--replicas",
      "2",
      "--",
      "swarmnet",
      "whoami",
    ]);
    assert.match(d.trim(), /^[a-z0-9]{25}$|^[a-z0-9]+$/);
    assert.doesNotMatch(d, /overall progress/);
    const j = await lab.cli(["service", "scale", "quick=3", "--format", "json"]);
    assert.equal(j.exitCode, 0, j.stderr);
    assert.equal((JSON.parse(j.stdout) as unknown[]).length, 1);
    assert.match(j.stderr, /verify: Service converged/);
  });

  it("--update-monitor: kept by the service, shown by inspect, the wait lasts that long; a bad value creates nothing", async () => {
    const monitorNs = async (service: string) => {
      const [v] = JSON.parse(await lab.ok(["service", "inspect", service])) as {
        Spec: { UpdateConfig: { Monitor: number } };
      }[];
      return v?.Spec.UpdateConfig.Monitor;
    };
    assert.equal(await monitorNs("web"), 5_000_000_000, "Docker's default, 5 s");
    const create = ["service", "create", "--name", "mon", "--update-monitor", "2s", "--replicas", "2"];
    const out = await lab.ok([...create, "--", "swarmnet", "whoami"]);
    const endedAt = Date.now();
    assert.match(
      out,
      /^verify: Waiting 2 seconds to verify that tasks are stable\.\.\.\nverify: Service converged$/m,
    );
    // The wait began no earlier than the last task was running: it returned 2 s after that
    // at the earliest (a lower bound only: a loaded machine may take longer, never less).
    const runningSince = Math.max(...running(await lab.tasks("mon")).map((t) => Date.parse(t.StateAt)));
    console.log(`      --update-monitor 2s: returned ${endedAt - runningSince} ms after the last task ran`);
    assert.ok(
      endedAt - runningSince >= 2000,
      `returned ${endedAt - runningSince} ms after the last task ran`,
    );
    assert.equal(await monitorNs("mon"), 2_000_000_000);

    // update changes it, and scale waits by what is stored.
    await lab.ok(["service", "update", "-d", "mon", "--update-monitor", "1s"]);
    assert.equal(await monitorNs("mon"), 1_000_000_000);
    assert.match(
      await lab.ok(["service", "scale", "mon=3"]),
      /^verify: Waiting 1 seconds to verify that tasks are stable\.\.\.$/m,
    );

    // Bad values: one line naming the flag and the value; nothing created or changed.
    const bad = await lab.cli([
      "service",
      "create",
      "--name",
      "monbad",
      "--update-monitor",
      "5",
      "--",
      "true",
    ]);
    assert.equal(bad.exitCode, 1, bad.stdout);
    assert.equal(
      bad.stderr.trim(),
      'swarmnet: invalid argument "5" for "--update-monitor" flag: use a duration like 500ms, 2s or 1m30s',
    );
    const names = (JSON.parse(await lab.ok(["service", "ls", "--format", "json"])) as { Name: string }[]).map(
      (s) => s.Name,
    );
    assert.ok(!names.includes("monbad"), `monbad was created: ${names.join(", ")}`);
    const negative = await lab.cli(["service", "update", "mon", "--update-monitor=-1s"]);
    assert.equal(negative.exitCode, 1, negative.stdout);
    assert.equal(negative.stderr.trim(), 'swarmnet: --update-monitor cannot be negative, got "-1s"');
    assert.equal(await monitorNs("mon"), 1_000_000_000);
  });
});
