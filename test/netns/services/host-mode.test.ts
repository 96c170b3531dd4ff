/**
 * Issue 6 acceptance, host-mode publishing on the real kernel, in a 3-node lab:
 * `--publish published=P,target=80,mode=host --replicas 2` opens P on exactly the two
 * nodes running a task, each going to its own node's task (no mesh: the client's address
 * arrives unchanged), and not at all on the third node. Two tasks wanting the same host
 * port never share a node: a third replica more than there are free nodes stays pending.
 *
 * Waits poll behaviour with generous bounds (30 s); the lab is removed in `after`.
 */
import assert from "node:assert/strict";
import {
  eventually,
  failures,
  LabCluster,
  running,
  type Probe,
  type TaskRow,
  labForSuite,
} from "../../support/lab-cluster.js";
import { BRIEF_MONITOR } from "../../support/cli.js";

const CLIENT_ADDRESS = "100.64.0.100";
const REQUESTS = 10;

describe("services: host-mode publishing (netns lab, 3 nodes)", function () {
  this.timeout(180_000);
  const lab = labForSuite(new LabCluster(3));

  /** Creates a 2-replica host-mode service on `port` and checks what the client sees. */
  async function twoTasksOnTheirNodes(name: string, port: number, extra: string[]): Promise<TaskRow[]> {
    await lab.ok([
      "service",
      "create",
      ...BRIEF_MONITOR,
      "--name",
      name,
      "--replicas",
      "2",
      ...extra,
      "--publish",
      `published=${port},target=80,mode=host`,
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "80",
    ]);
    const tasks = await lab.waitRunning(name, 2);
    const taskNodes = tasks.map((t) => t.Node);
    assert.equal(new Set(taskNodes).size, 2, `one task per node: ${taskNodes.join(", ")}`);
    assert.match(await lab.ok(["service", "ps", name]), new RegExp(`\\*:${port}->80/tcp \\(host\\)`));

    for (const task of tasks) {
      let last: Probe[] = [];
      const batch = await eventually(
        `${REQUESTS} requests to ${task.Node}:${port} answered`,
        async () => {
          last = await lab.fromClient(lab.addr(task.Node), port, REQUESTS);
          return failures(last).length === 0 ? last : undefined;
        },
        { describe: () => failures(last).join(", ") },
      );
      for (const p of batch) {
        assert.ok(p.ok);
        assert.equal(p.answer.task, task.ContainerName, `${task.Node}:${port} goes to its own task`);
        assert.equal(p.answer.node, task.Node);
        assert.equal(
          p.answer.remoteAddr.split(":")[0],
          CLIENT_ADDRESS,
          "the client's address, not masqueraded",
        );
      }
    }
    const third = lab.nodeNames.filter((n) => !taskNodes.includes(n));
    assert.equal(third.length, 1);
    for (const node of third) {
      const batch = await lab.fromClient(lab.addr(node), port, 3, { timeoutMs: 1000 });
      assert.deepEqual(
        batch.map((p) => (p.ok ? `answered by ${p.answer.task}` : "no answer")),
        ["no answer", "no answer", "no answer"],
        `port ${port} is not open on ${node}, which runs no task`,
      );
    }
    return tasks;
  }

  it("a host-mode port on a service with a network: open on exactly its two task nodes, each to its own task", async () => {
    await lab.ok(["network", "create", "-d", "overlay", "hostnet"]);
    await twoTasksOnTheirNodes("hmnet", 7001, ["--network", "hostnet"]);
  });

  it("two tasks wanting the same host port never share a node: the replica without a free node stays pending", async () => {
    // -d: a replica no node can take never converges (the wait would report it, not pass).
    assert.match(await lab.ok(["service", "scale", "-d", "hmnet=4"]), /hmnet scaled to 4/);
    const up = await lab.waitRunning("hmnet", 3);
    assert.deepEqual(up.map((t) => t.Node).sort(), ["n1", "n2", "n3"]);
    const all = await lab.tasks("hmnet");
    const waiting = all.filter((t) => t.DesiredState === "running" && t.CurrentState !== "running");
    assert.equal(waiting.length, 1, JSON.stringify(all.map((t) => [t.Name, t.Node, t.CurrentState])));
    assert.equal(running(all).length, 3);
  });

  it("`--publish published=7000,target=80,mode=host --replicas 2` (no network): open on exactly its two task nodes, each to its own task", async () => {
    await twoTasksOnTheirNodes("hm", 7000, []);
  });
});
