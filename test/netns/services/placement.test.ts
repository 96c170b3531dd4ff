/**
 * Placement constraints and node labels on the real kernel, in a 3-node lab (n1 the
 * manager): a service constrained to `node.labels.vm==yes` runs only on the labelled
 * node; a bad expression or label is refused with one line and changes nothing; a
 * `--constraint-add` moves the task to the other labelled node (its process there
 * running, the old one stopped), and removing that node's label leaves the task
 * pending with swarmkit's explanation. One short scenario: labs are heavy.
 */
import assert from "node:assert/strict";
import { BRIEF_MONITOR } from "../../support/cli.js";
import { eventually, LabCluster, labForSuite, running } from "../../support/lab-cluster.js";

describe("services: placement constraints and node labels (netns lab, 3 nodes)", function () {
  this.timeout(240_000);
  const lab = labForSuite(new LabCluster(3));

  it("lands only where allowed, refuses bad input unchanged, and follows labels and constraint updates", async () => {
    await lab.ok(["node", "update", "--label-add", "vm=yes", "n2"]);
    await lab.ok([
      "service",
      "create",
      ...BRIEF_MONITOR,
      "--name",
      "trunk",
      "--constraint",
      "node.labels.vm==yes",
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "80",
    ]);
    const [first] = await lab.waitRunning("trunk", 1);
    assert.equal(first?.Node, "n2");

    const before = JSON.stringify(await lab.tasks("trunk"));
    for (const [args, message] of [
      [
        ["service", "update", "trunk", "--constraint-add", "node.role"],
        /^swarmnet: invalid constraint "node.role": constraint expected one operator from ==, !=$/,
      ],
      [["node", "update", "--label-rm", "gpu", "n2"], /^swarmnet: key gpu doesn't exist in node's labels$/],
    ] as const) {
      const r = await lab.cli(args);
      assert.equal(r.exitCode, 1, `${args.join(" ")} should fail`);
      assert.match(r.stderr.trim(), message);
      assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
    }
    assert.equal(JSON.stringify(await lab.tasks("trunk")), before, "nothing changed");

    // A second labelled node takes nothing while the task's node still matches…
    await lab.ok(["node", "update", "--label-add", "vm=yes", "n3"]);
    await lab.ok(["service", "update", ...BRIEF_MONITOR, "trunk", "--constraint-add", "node.hostname!=n2"]);
    // …until the constraints exclude it: the task moves to n3.
    const [moved] = await lab.waitRunning("trunk", 1);
    assert.equal(moved?.Node, "n3");

    // n3 loses its label: no node qualifies, the task waits with swarmkit's explanation.
    await lab.ok(["node", "update", "--label-rm", "vm", "n3"]);
    const pending = await eventually("trunk pending", async () => {
      const tasks = await lab.tasks("trunk");
      return running(tasks).length === 0 && tasks.some((t) => t.CurrentState === "pending")
        ? tasks
        : undefined;
    });
    assert.ok(pending.every((t) => t.CurrentState !== "running"));
    assert.match(
      await lab.ok(["service", "ps", "trunk", "--no-trunc"]),
      /no suitable node \(scheduling constraints not satisfied on 3 nodes\)/,
    );
  });
});
