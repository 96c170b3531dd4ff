/**
 * Issue 6 acceptance, a node dying under a published service, on the real kernel, in a
 * 3-node lab. A worker running a task loses its underlay link and its agent is killed
 * with SIGKILL (the lab's recorded pid): no goodbye reaches anyone, the cluster has to
 * detect it. Meanwhile the client keeps sending requests through the surviving nodes.
 *
 * Failures are expected until the death is detected (requests the mesh still sends to
 * the dead node's task time out); they are counted, and bounded by behaviour, not by
 * time: once `service ps` shows the dead node's task replaced by one on a live node, the
 * next 30 requests through each surviving node all succeed — the mesh no longer sends to
 * the dead task — and the new task soon takes its share.
 *
 * Waits poll behaviour with generous bounds; the lab is removed in `after`.
 */
import assert from "node:assert/strict";
import {
  answeredTasks,
  containerNames,
  eventually,
  failures,
  LabCluster,
  running,
  type Probe,
  type TaskRow,
  labForSuite,
} from "../../support/lab-cluster.js";
import { BRIEF_MONITOR } from "../../support/cli.js";

const REQUESTS = 30;
/** Detection (heartbeats, gossip) plus rescheduling: seconds normally; generous here. */
const RESCHEDULE_WAIT_MS = 120_000;

describe("services: a node running a task dies (netns lab, 3 nodes)", function () {
  this.timeout(300_000);
  const lab = labForSuite(new LabCluster(3));

  it("the task is rescheduled and requests through the surviving nodes keep succeeding", async () => {
    await lab.ok([
      "service",
      "create",
      ...BRIEF_MONITOR,
      "--name",
      "web",
      "--replicas",
      "3",
      "--publish",
      "8080:80",
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "80",
    ]);
    const before = await lab.waitRunning("web", 3);
    // A worker (n1 holds the manager and etcd) that runs a task.
    const victim = before.find((t) => t.Node !== "n1")?.Node;
    assert.ok(victim, `a worker runs a task: ${before.map((t) => t.Node).join(", ")}`);
    const survivors = lab.nodeNames.filter((n) => n !== victim);
    const deadTask = before.filter((t) => t.Node === victim);

    const throughSurvivors = async (count: number): Promise<Probe[]> =>
      (
        await Promise.all(survivors.map((n) => lab.fromClient(lab.addr(n), 8080, count, { timeoutMs: 1000 })))
      ).flat();
    const want = containerNames(before);
    await eventually(`every surviving node serves all three tasks`, async () => {
      const batch = await throughSurvivors(REQUESTS);
      return failures(batch).length === 0 && answeredTasks(batch).join() === want.join() ? true : undefined;
    });

    await lab.cutUnderlay(victim);
    process.kill(lab.agentPid(victim), "SIGKILL");

    // Keep the traffic flowing until the replacement shows in `service ps`.
    let sent = 0;
    let failed = 0;
    let tasks: TaskRow[] = [];
    const replaced = await eventually(
      `${victim}'s task replaced by one on a live node`,
      async () => {
        const batch = await throughSurvivors(6);
        sent += batch.length;
        failed += failures(batch).length;
        tasks = await lab.tasks("web");
        const up = running(tasks);
        return up.length === 3 && up.every((t) => t.Node !== victim) ? up : undefined;
      },
      {
        timeoutMs: RESCHEDULE_WAIT_MS,
        describe: () => JSON.stringify(tasks.map((t) => [t.Name, t.Node, t.DesiredState, t.CurrentState])),
      },
    );
    console.log(
      `      (${failed} of ${sent} requests failed between the death of ${victim} and the reschedule)`,
    );
    assert.ok(
      deadTask.every((d) => !replaced.some((t) => t.ID === d.ID)),
      "the dead node's task is no longer counted as running",
    );

    // From here on the mesh sends nothing to the dead task: every request succeeds.
    const next = await throughSurvivors(REQUESTS);
    assert.deepEqual(failures(next), [], "every request after the reschedule answered");
    assert.ok(
      next.every((p) => p.ok && p.answer.node !== victim),
      "no answer from the dead node",
    );
    // And the replacement takes its share through every surviving node.
    const now = containerNames(replaced);
    for (const node of survivors) {
      let last: Probe[] = [];
      await eventually(
        `requests through ${node} reach ${now.join(", ")}`,
        async () => {
          last = await lab.fromClient(lab.addr(node), 8080, REQUESTS);
          return failures(last).length === 0 && answeredTasks(last).join() === now.join() ? true : undefined;
        },
        {
          describe: () =>
            `answered by ${answeredTasks(last).join(", ")}; failures ${failures(last).join(", ")}`,
        },
      );
    }

    const nodes = JSON.parse(await lab.ok(["node", "ls", "--format", "json"])) as {
      Hostname: string;
      Status: string;
    }[];
    assert.equal(nodes.find((n) => n.Hostname === victim)?.Status, "Down", `node ls shows ${victim} down`);
  });
});
