/**
 * Issue 6 acceptance, bad publishing input on the real kernel, in a 3-node lab with two
 * running services (`web` publishing 8080, `other` publishing nothing): a port already
 * published by another service, an invalid protocol or mode, a missing target — through
 * `service create`, `service publish` and `service update --publish-add`. Each is refused
 * with one clear line on stderr and exit code 1, and nothing changes: the services and
 * their tasks are as before and every node's `nft list ruleset` is identical.
 *
 * `swarmnet run -p` with a host port already taken belongs here too; it is skipped with
 * the reason while `run` has no `-p`.
 */
import assert from "node:assert/strict";
import { isRoot } from "../../support/netns.js";
import {
  answeredTasks,
  containerNames,
  eventually,
  failures,
  LabCluster,
  sleep,
} from "../../support/lab-cluster.js";
import { BRIEF_MONITOR } from "../../support/cli.js";

describe("services: bad publishing input changes nothing (netns lab, 3 nodes)", function () {
  this.timeout(180_000);
  const lab = new LabCluster(3);
  let initialView = "";
  let initialRulesets: string[] = [];

  before(async function () {
    if (!isRoot) this.skip();
    await lab.up();
    const whoami = ["--", "swarmnet", "whoami", "--port", "80"];
    await lab.ok([
      "service",
      "create",
      ...BRIEF_MONITOR,
      "--name",
      "web",
      "--replicas",
      "2",
      "--publish",
      "8080:80",
      ...whoami,
    ]);
    await lab.ok(["service", "create", ...BRIEF_MONITOR, "--name", "other", "--replicas", "1", ...whoami]);
    const web = containerNames(await lab.waitRunning("web", 2));
    await lab.waitRunning("other", 1);
    // Every node serves web's port over both tasks, and its ruleset has settled: two
    // readings a second apart are the same.
    for (const node of lab.nodeNames) {
      await eventually(`${node}:8080 serves both tasks of web`, async () => {
        const batch = await lab.fromClient(lab.addr(node), 8080, 6);
        return failures(batch).length === 0 && answeredTasks(batch).join() === web.join() ? true : undefined;
      });
    }
    await eventually("every node's ruleset settled", async () => {
      const a = await rulesets();
      await sleep(1000);
      const b = await rulesets();
      return a.every((r, i) => r === b[i]) ? true : undefined;
    });
    initialView = await userView();
    initialRulesets = await rulesets();
  });

  after(async () => {
    if (isRoot) await lab.down();
  });

  const rulesets = () => Promise.all(lab.nodeNames.map((n) => lab.ruleset(n)));

  /** What a user can see of the cluster's services: the list, the ports, every task. */
  async function userView(): Promise<string> {
    const ls = await lab.ok(["service", "ls", "--format", "json"]);
    const ps = await lab.ok(["service", "ps", "web", "other", "--format", "json"]);
    const tasks = (JSON.parse(ps) as { ID: string; DesiredState: string }[]).map((t) => [
      t.ID,
      t.DesiredState,
    ]);
    return JSON.stringify({ services: JSON.parse(ls) as unknown, tasks });
  }

  const cases: [string, string[], RegExp][] = [
    [
      "create: a port already published by another service",
      ["service", "create", "--name", "dup", "--publish", "8080:80", "--", "swarmnet", "whoami"],
      /port 8080\/tcp is already published by service web/,
    ],
    [
      "publish: a port already published by another service",
      ["service", "publish", "other", "8080:80"],
      /port 8080\/tcp is already published by service web/,
    ],
    [
      "update --publish-add: a port already published by another service",
      ["service", "update", "other", "--publish-add", "published=8080,target=80"],
      /port 8080\/tcp is already published by service web/,
    ],
    [
      "publish: an invalid protocol (short form)",
      ["service", "publish", "web", "9191:80/sctp"],
      /invalid protocol "sctp" \(use tcp or udp\)/,
    ],
    [
      "create: an invalid protocol (long form)",
      [
        "service",
        "create",
        "--name",
        "bad",
        "--publish",
        "published=9192,target=80,protocol=icmp",
        "--",
        "swarmnet",
        "whoami",
      ],
      /invalid protocol "icmp" \(use tcp or udp\)/,
    ],
    [
      "publish: an invalid mode",
      ["service", "publish", "web", "published=9193,target=80,mode=bogus"],
      /invalid mode "bogus" \(use ingress or host\)/,
    ],
    [
      "create: an invalid mode",
      [
        "service",
        "create",
        "--name",
        "bad",
        "--publish",
        "published=9194,target=80,mode=global",
        "--",
        "swarmnet",
        "whoami",
      ],
      /invalid mode "global" \(use ingress or host\)/,
    ],
    [
      "publish: a missing target (long form)",
      ["service", "publish", "web", "published=9195"],
      /a target port is required/,
    ],
    [
      "publish: a missing target (short form)",
      ["service", "publish", "web", "9196:"],
      /a target port is required/,
    ],
    [
      "create: a missing target",
      ["service", "create", "--name", "bad", "--publish", "9197:/udp", "--", "swarmnet", "whoami"],
      /a target port is required/,
    ],
  ];

  for (const [what, args, message] of cases) {
    it(`${what}: one clear line, exit 1, nothing changed`, async () => {
      const r = await lab.cli(args);
      assert.equal(r.exitCode, 1, `exit code; stdout ${r.stdout}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
      assert.equal(r.stdout, "", "nothing printed as if it had worked");
      // Compared with the state before any case ran: none of them may change anything.
      assert.equal(await userView(), initialView, "services and tasks unchanged");
      const now = await rulesets();
      lab.nodeNames.forEach((n, i) =>
        assert.equal(now[i], initialRulesets[i], `nft list ruleset on ${n} unchanged`),
      );
    });
  }

  it("`run -p` with a host port already taken: one clear line, exit 1, nothing changed", async function () {
    const help = await lab.cli(["run", "--help"]);
    // Skipped, not failed: `swarmnet run` has no -p/--publish yet (issue 6, point 6).
    if (!/--publish/.test(help.stdout)) this.skip();
    const before = await rulesets();
    await lab.ok(
      ["run", "-d", "--name", "p1", "-p", "8181:80", "--", "swarmnet", "whoami", "--port", "80"],
      "n2",
    );
    const taken = await rulesets();
    const r = await lab.cli(["run", "-d", "--name", "p2", "-p", "8181:80", "--", "sleep", "600"], "n2");
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /8181/);
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
    assert.deepEqual(await rulesets(), taken, "nothing changed by the refused run");
    assert.notDeepEqual(taken, before);
  });
});
