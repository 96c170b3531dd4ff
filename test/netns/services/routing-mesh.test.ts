/**
 * Issue 6 acceptance, the routing mesh and VIPs on the real kernel, in one 4-node lab
 * (n1 manager, n2–n4 workers) shared by the scenarios in order:
 *
 * 1. `service create --replicas 3 --publish 8080:80` of `swarmnet whoami`: 30 requests
 *    from `client` to each node's 8080 reach all 3 tasks, also through the node running
 *    none of them (3 tasks spread over 4 nodes leave one idle; `service ps` says which).
 * 2. `service publish web 9090:80/udp` on the running service: the UDP echo answers on
 *    every node; `service unpublish` closes it; the task IDs never change.
 * 3. Scale 3 → 5 → 1: the answers follow; once `service ps` shows the scale-down done, no
 *    request goes to a removed task (5 → 1 is skipped: a product bug, see 3b).
 * 4. East-west: a standalone container on an attachable overlay reaches the VIP of a
 *    service on that network and is balanced across its tasks.
 * 5. Readiness: a service whose process listens only 3 s after it starts is scaled up
 *    while requests run through every node: not one is refused (a new task becomes a
 *    backend once it listens, agent/sandbox/readiness.ts).
 *
 * Waits poll behaviour with generous bounds (30 s); the lab is removed in `after`.
 */
import assert from "node:assert/strict";
import {
  answeredTasks,
  containerNames,
  eventually,
  failures,
  LabCluster,
  type Probe,
  type TaskRow,
  labForSuite,
} from "../../support/lab-cluster.js";
import { BRIEF_MONITOR } from "../../support/cli.js";

const REQUESTS = 30;

describe("services: routing mesh and VIPs (netns lab, 4 nodes)", function () {
  this.timeout(180_000);
  const lab = labForSuite(new LabCluster(4));

  /**
   * Sends `REQUESTS` requests through `node` until every one is answered and the answers
   * come from exactly `tasks`; returns that batch.
   */
  async function servedBy(node: string, port: number, tasks: readonly TaskRow[]): Promise<Probe[]> {
    const want = containerNames(tasks);
    let last: Probe[] = [];
    return eventually(
      `${REQUESTS} requests through ${node}:${port} answered by ${want.join(", ")}`,
      async () => {
        last = await lab.fromClient(lab.addr(node), port, REQUESTS);
        return failures(last).length === 0 && answeredTasks(last).join() === want.join() ? last : undefined;
      },
      {
        describe: () =>
          `answered by ${answeredTasks(last).join(", ")}; failures ${failures(last).join(", ")}`,
      },
    );
  }

  let webTasks: TaskRow[] = [];

  it("1. a port published on 8080 reaches all 3 tasks through every node, also one running none", async () => {
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
    webTasks = await lab.waitRunning("web", 3);
    const taskNodes = new Set(webTasks.map((t) => t.Node));
    const idle = lab.nodeNames.filter((n) => !taskNodes.has(n));
    assert.ok(idle.length >= 1, "3 tasks on 4 nodes leave a node without a task of web");

    const ls = await lab.ok(["service", "ls"]);
    assert.match(ls, /\sweb\s+replicated\s+3\/3\s+\*:8080->80\/tcp/);

    for (const node of lab.nodeNames) {
      const batch = await servedBy(node, 8080, webTasks);
      // Round robin over the three: each task takes a fair share of the 30.
      for (const t of webTasks) {
        const n = batch.filter((p) => p.ok && p.answer.task === t.ContainerName).length;
        assert.ok(n >= 5, `through ${node}: ${t.Name} answered ${n} of ${REQUESTS}`);
      }
    }
  });

  it("2. `service publish web 9090:80/udp` answers the UDP echo on every node, `unpublish` closes it, tasks unchanged", async () => {
    const before = (await lab.tasks("web")).map((t) => t.ID).sort();

    const published = await lab.ok(["service", "publish", "web", "9090:80/udp"]);
    assert.match(published, /\*:9090->80\/udp/);
    const want = containerNames(webTasks);
    for (const node of lab.nodeNames) {
      let last: Probe[] = [];
      const batch = await eventually(
        `UDP echo on ${node}:9090`,
        async () => {
          last = await lab.fromClient(lab.addr(node), 9090, 6, { proto: "udp" });
          return failures(last).length === 0 ? last : undefined;
        },
        { describe: () => failures(last).join(", ") },
      );
      batch.forEach((p, i) => {
        assert.ok(p.ok);
        assert.equal(p.answer.echo, `probe-${i}`, `the datagram comes back (through ${node})`);
        assert.ok(want.includes(p.answer.task), `answered by a task of web: ${p.answer.task}`);
      });
    }
    assert.match(await lab.ok(["service", "ls"]), /\*:8080->80\/tcp, \*:9090->80\/udp/);
    assert.deepEqual((await lab.tasks("web")).map((t) => t.ID).sort(), before, "publish restarted no task");

    const unpublished = await lab.ok(["service", "unpublish", "web", "9090:80/udp"]);
    assert.match(unpublished, /\*:9090->80\/udp/);
    let last: Probe[][] = [];
    await eventually(
      "UDP 9090 closed on every node",
      async () => {
        last = await Promise.all(
          lab.nodeNames.map((n) => lab.fromClient(lab.addr(n), 9090, 1, { proto: "udp", timeoutMs: 1000 })),
        );
        return last.every((batch) => batch.every((p) => !p.ok)) ? true : undefined;
      },
      { describe: () => JSON.stringify(last) },
    );
    const ls = await lab.ok(["service", "ls"]);
    assert.doesNotMatch(ls, /9090/);
    assert.deepEqual((await lab.tasks("web")).map((t) => t.ID).sort(), before, "unpublish restarted no task");
    // The TCP port it kept still serves all three.
    await servedBy(lab.nodeNames[0] ?? "n1", 8080, webTasks);
  });

  it("3a. scale 3 → 5: the answers follow, through every node, and the first three tasks stay", async () => {
    assert.match(await lab.ok(["service", "scale", "web=5"]), /web scaled to 5/);
    const five = await lab.waitRunning("web", 5);
    for (const t of webTasks) {
      assert.ok(
        five.some((f) => f.ID === t.ID),
        `scaling up kept ${t.Name}`,
      );
    }
    for (const node of lab.nodeNames) await servedBy(node, 8080, five);
  });

  it("3b. scale 5 → 1: once `service ps` shows the scale-down done, every request through every node reaches the one task left", async () => {
    assert.match(await lab.ok(["service", "scale", "web=1"]), /web scaled to 1/);
    const [kept] = await lab.waitRunning("web", 1);
    assert.ok(kept);
    // The scale-down is complete in `service ps`: from now on every request, through every
    // node, is answered and by the one task left.
    for (const node of lab.nodeNames) {
      const batch = await lab.fromClient(lab.addr(node), 8080, REQUESTS);
      assert.deepEqual(failures(batch), [], `through ${node}: every request answered`);
      assert.deepEqual(answeredTasks(batch), [kept.ContainerName], `through ${node}: only ${kept.Name}`);
    }
  });

  it("4. east-west: a container on the service's attachable network reaches its VIP, balanced over the tasks", async () => {
    const netId = (await lab.ok(["network", "create", "-d", "overlay", "--attachable", "appnet"])).trim();
    assert.match(netId, /^\w+$/);
    await lab.ok([
      "service",
      "create",
      ...BRIEF_MONITOR,
      "--name",
      "api",
      "--replicas",
      "3",
      "--network",
      "appnet",
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "80",
    ]);
    const tasks = await lab.waitRunning("api", 3);
    const vips = (await lab.inspect("api")).Endpoint.VirtualIPs.filter((v) => v.NetworkID === netId);
    assert.equal(vips.length, 1, "one VIP on appnet");
    const vip = (vips[0]?.Addr ?? "").split("/")[0] ?? "";

    // The container runs on the node without an api task if there is one, so every
    // answer crosses the overlay.
    const busy = new Set(tasks.map((t) => t.Node));
    const node = lab.nodeNames.find((n) => !busy.has(n)) ?? "n1";
    await lab.ok(["run", "-d", "--name", "c", "--network", "appnet", "--", "sleep", "600"], node);

    const want = containerNames(tasks);
    let last: Probe[] = [];
    const batch = await eventually(
      `${REQUESTS} requests from container c on ${node} to the VIP ${vip} answered by ${want.join(", ")}`,
      async () => {
        last = await lab.fromContainer(node, "c", vip, 80, REQUESTS);
        return failures(last).length === 0 && answeredTasks(last).join() === want.join() ? last : undefined;
      },
      {
        describe: () =>
          `answered by ${answeredTasks(last).join(", ")}; failures ${failures(last).join(", ")}`,
      },
    );
    for (const t of tasks) {
      const n = batch.filter((p) => p.ok && p.answer.task === t.ContainerName).length;
      assert.ok(n >= 5, `${t.Name} answered ${n} of ${REQUESTS}`);
    }
  });

  it("5. scale-up of a service that listens 3 s after it starts: requests through every node meanwhile, none refused", async () => {
    const slowWhoami = ["sh", "-c", "sleep 3; exec swarmnet whoami --port 80"];
    await lab.ok([
      "service",
      "create",
      ...BRIEF_MONITOR,
      "--name",
      "slow",
      "--publish",
      "8081:80",
      "--",
      ...slowWhoami,
    ]);
    const [first] = await lab.waitRunning("slow", 1);
    assert.ok(first);
    for (const node of lab.nodeNames) await servedBy(node, 8081, [first]);

    // Probes through every node, batch after batch, from before the scale-up until the
    // new tasks answer; a refused connection would be a new task taken before it listens.
    let scaled = false;
    const probes: Probe[] = [];
    const probing = (async () => {
      while (!scaled)
        for (const batch of await Promise.all(
          lab.nodeNames.map((n) => lab.fromClient(lab.addr(n), 8081, 5, { timeoutMs: 5000 })),
        ))
          probes.push(...batch);
    })();
    try {
      assert.match(await lab.ok(["service", "scale", "slow=3"]), /slow scaled to 3/);
      const three = await lab.waitRunning("slow", 3);
      for (const node of lab.nodeNames) await servedBy(node, 8081, three);
    } finally {
      scaled = true;
      await probing;
    }
    assert.ok(probes.length >= 5 * lab.nodes, `probes ran throughout (${probes.length})`);
    assert.deepEqual(failures(probes), [], `${probes.length} requests during the scale-up`);
  });
});
