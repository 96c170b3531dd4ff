/**
 * Placement constraints and node labels through the real CLI, a real manager on a real
 * etcd, and three stand-in agents (real `DispatcherClient`s that report their tasks
 * running, and shut down when told): labels stored with the node (`node inspect`
 * Spec.Labels), a constrained service placed only where its constraints hold and shown in
 * `service inspect`, a task no node satisfies pending with swarmkit's explanation in
 * `service ps`, a label change and `--constraint-add/-rm` moving tasks, and every bad
 * expression or label a one-line error that leaves etcd as it was.
 */
import assert from "node:assert/strict";
import { DispatcherClient, type TaskIntent } from "../../../agent/dispatcher/index.js";
import type { ManagerClient } from "../../../cli/manager-client.js";
import { EtcdKv, keys } from "../../../manager/store/index.js";
import type { ListTasksResponse__Output } from "../../../proto/generated/swarmnet/v1/ListTasksResponse.js";
import type { Task__Output } from "../../../proto/generated/swarmnet/v1/Task.js";
import { swarmnet } from "../../support/cli.js";
import { eventually, Fixture } from "./support.js";

/** Reports every task it is given as running, and as shut down once told to stop. */
function standIn(client: DispatcherClient): void {
  const running = new Set<string>();
  client.on("change", (e) => {
    if (e.kind !== "taskUpsert") return;
    const t: TaskIntent = e.task;
    if (t.desiredState === "running" && !running.has(t.id)) {
      running.add(t.id);
      void client.reportTaskStatus({ taskId: t.id, serviceId: t.serviceId, state: "running" });
    } else if (t.desiredState === "shutdown" && running.delete(t.id)) {
      void client.reportTaskStatus({ taskId: t.id, serviceId: t.serviceId, state: "shutdown" });
    }
  });
}

describe("placement constraints and node labels (integration: CLI → manager → etcd → agents)", function () {
  this.timeout(120_000);
  const fx = new Fixture();
  const clients: DispatcherClient[] = [];
  let env: Record<string, string> = {};
  let kv: EtcdKv;
  let admin: ManagerClient;
  const cli = (...args: string[]) => swarmnet(args, env);

  const live = async (service: string): Promise<Task__Output[]> =>
    (
      await admin.call<ListTasksResponse__Output>((c, o, cb) => c.services.ListTasks({ service }, o, cb))
    ).tasks.filter((t) => t.desiredState === "running" && !t.released);
  /** Waits until the service's live tasks all run, on exactly these hostnames. */
  const runningOn = async (service: string, hosts: string[]) =>
    eventually(
      async () => {
        const tasks = await live(service);
        const on = tasks.map((t) => t.nodeName).sort();
        return tasks.every((t) => t.state === "running") && JSON.stringify(on) === JSON.stringify(hosts);
      },
      15_000,
      `${service} running on ${hosts.join(", ")}`,
    );
  /** Every node, service and task record: a refusal must leave them as they were. */
  const intent = async () =>
    (await kv.list(keys.root)).entries
      .filter((e) => /\/(nodes|services|tasks|names)\//.test(e.key))
      .map((e) => `${e.key}=${e.value}`);

  before(async () => {
    await fx.startEtcd(1);
    const m1 = await fx.startManager("m1", fx.endpoints, ["--heartbeat-period=300ms"]);
    env = { SWARMNET_MANAGERS: m1.address, SWARMNET_CONFIG: "", SWARMNET_STATE_DIR: m1.stateDir };
    kv = new EtcdKv({ endpoints: fx.endpoints, callTimeoutMs: 2000 });
    const init = await cli("swarm", "init", "--advertise-addr", "127.0.0.1", "--state-dir", m1.stateDir);
    assert.equal(init.exitCode, 0, init.stderr);
    await fx.serving(m1);
    admin = fx.client([m1.address]);
    for (const [i, name] of ["w1", "w2", "w3"].entries()) {
      const joined = await fx.joinNode(name, "worker", `127.0.1.${i + 1}`);
      const client = new DispatcherClient({
        managers: [m1.address],
        tls: joined.tls,
        clusterId: joined.response.clusterId,
        hostname: name,
        advertiseAddr: `127.0.1.${i + 1}`,
        underlayAddrs: [],
        capabilities: undefined,
      });
      standIn(client);
      clients.push(client);
      client.start();
    }
    await Promise.all(clients.map((c) => c.whenReady()));
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await kv?.close();
    await fx.cleanup();
  });

  it("node update --label-add/--label-rm stores labels with the node; inspect shows Spec.Labels", async () => {
    for (const args of [
      ["node", "update", "--label-add", "vm=yes", "--label-add", "gpu", "w1"],
      ["node", "update", "--label-add", "vm=yes", "w2"],
      ["node", "update", "--label-rm", "gpu", "w1"],
    ]) {
      const r = await cli(...args);
      assert.equal(r.exitCode, 0, r.stderr);
    }
    const shown = JSON.parse((await cli("node", "inspect", "w1", "w3")).stdout) as {
      Spec: { Labels: Record<string, string> };
    }[];
    assert.deepEqual(
      shown.map((n) => n.Spec.Labels),
      [{ vm: "yes" }, {}],
    );
  });

  it("a constrained service runs only where every constraint holds; inspect shows them", async () => {
    const r = await cli(
      "service",
      "create",
      "-d",
      "--name",
      "trunk",
      "--replicas",
      "2",
      "--constraint",
      "node.labels.vm==yes",
      "--constraint",
      "node.role == worker",
      "--",
      "true",
    );
    assert.equal(r.exitCode, 0, r.stderr);
    await runningOn("trunk", ["w1", "w2"]);
    const [view] = JSON.parse((await cli("service", "inspect", "trunk")).stdout) as {
      Spec: { TaskTemplate: { Placement: { Constraints?: string[] } } };
    }[];
    assert.deepEqual(view?.Spec.TaskTemplate.Placement.Constraints, [
      "node.labels.vm==yes",
      "node.role == worker",
    ]);
  });

  it("a task no node satisfies stays pending with swarmkit's explanation in service ps", async () => {
    const r = await cli(
      "service",
      "create",
      "-d",
      "--name",
      "gpu",
      "--constraint",
      "node.labels.gpu==yes",
      "--",
      "true",
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const ps = await eventually(
      async () => {
        const out = (await cli("service", "ps", "gpu")).stdout;
        return /Pending/.test(out) ? out : undefined;
      },
      15_000,
      "gpu pending",
    );
    // Three ready workers fail the constraint; the manager's own node has no agent here
    // (down, or gone once its grace ran out).
    assert.match(
      ps,
      /no suitable node \(scheduling constraints not satisfied on 3 nodes(; 1 node not available for new tasks)?\)/,
    );
    // Labelling a node lets the pending task run there.
    assert.equal((await cli("node", "update", "--label-add", "gpu=yes", "w3")).exitCode, 0);
    await runningOn("gpu", ["w3"]);
  });

  it("a label removed or a constraint changed moves the tasks to nodes that match", async () => {
    assert.equal((await cli("node", "update", "--label-add", "vm=yes", "w3")).exitCode, 0);
    assert.equal((await cli("node", "update", "--label-rm", "vm", "w2")).exitCode, 0);
    await runningOn("trunk", ["w1", "w3"]);
    const kept = (await live("trunk")).find((t) => t.nodeName === "w1")?.id;

    const u = await cli(
      "service",
      "update",
      "-d",
      "trunk",
      "--constraint-rm",
      "node.role==worker",
      "--constraint-add",
      "node.hostname!=w3",
    );
    assert.equal(u.exitCode, 0, u.stderr);
    // Only w1 matches now: the task there keeps running, the one on w3 is replaced on w1.
    await runningOn("trunk", ["w1", "w1"]);
    assert.ok(
      (await live("trunk")).some((t) => t.id === kept),
      "the task on w1 was not restarted",
    );
    const [view] = JSON.parse((await cli("service", "inspect", "trunk")).stdout) as {
      Spec: { TaskTemplate: { Placement: { Constraints?: string[] } } };
    }[];
    assert.deepEqual(view?.Spec.TaskTemplate.Placement.Constraints, [
      "node.hostname!=w3",
      "node.labels.vm==yes",
    ]);
  });

  it("bad expressions and labels are one clear line and change nothing", async () => {
    const cases: [string[], RegExp][] = [
      [
        ["service", "create", "--name", "b1", "--constraint", "node.role", "--", "true"],
        /^swarmnet: invalid constraint "node.role": constraint expected one operator from ==, !=$/,
      ],
      [
        ["service", "create", "--name", "b2", "--constraint", "node.labels.vm==a<b", "--", "true"],
        /^swarmnet: invalid constraint "node.labels.vm==a<b": value 'a<b' is invalid$/,
      ],
      [
        ["service", "create", "--name", "b3", "--constraint", "node.lables.vm==yes", "--", "true"],
        /unknown attribute 'node.lables.vm'/,
      ],
      [["service", "update", "trunk", "--constraint-add", "1x==y"], /key '1x' is invalid$/],
      [
        ["service", "update", "trunk", "--constraint-rm", "node.role==manager"],
        /^swarmnet: service trunk has no constraint "node.role==manager"$/,
      ],
      [["node", "update", "--label-rm", "nope", "w1"], /^swarmnet: key nope doesn't exist in node's labels$/],
      [["node", "update", "--label-add", "=x", "w1"], /^swarmnet: invalid label '=x': empty name$/],
      [["node", "update", "--label-add", "a=1", "nosuch"], /^swarmnet: node nosuch not found$/],
    ];
    const before = await intent();
    for (const [args, message] of cases) {
      const r = await cli(...args);
      assert.equal(r.exitCode, 1, `${args.join(" ")} should fail`);
      assert.match(r.stderr.trim(), message, args.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
    }
    assert.deepEqual(await intent(), before);
  });
});
