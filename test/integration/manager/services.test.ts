/**
 * Services through the real CLI, two real manager processes on a real etcd, and three
 * fake agents (real `DispatcherClient`s in this process that act on their tasks as an
 * agent would: report running, and shutdown once told to stop). Covers what a user
 * notices: tasks spread over the nodes with addresses on the service's networks and on
 * ingress, every node seeing every service but only its own tasks, publish/unpublish
 * changing ports without touching task ids, scale up and down, failed tasks replaced,
 * a dead node's tasks moved, host-mode ports never sharing a node, and each bad input a
 * clear one-line error that leaves etcd as it was.
 */
import assert from "node:assert/strict";
import { DispatcherClient, type IntentEvent, type TaskIntent } from "../../../agent/dispatcher/index.js";
import type { ListTasksResponse__Output } from "../../../proto/generated/swarmnet/v1/ListTasksResponse.js";
import type { Network__Output } from "../../../proto/generated/swarmnet/v1/Network.js";
import type { Task__Output } from "../../../proto/generated/swarmnet/v1/Task.js";
import type { ManagerClient } from "../../../cli/manager-client.js";
import { EtcdKv, keys } from "../../../manager/store/index.js";
import { swarmnet } from "../../support/cli.js";
import { eventually, Fixture } from "./support.js";

/** An agent stand-in: runs nothing, but reports like a real agent would. */
class FakeAgent {
  readonly events: IntentEvent[] = [];
  /** Tasks this agent "runs" (reported running and not yet shut down). */
  readonly running = new Set<string>();
  autoRun = true;

  constructor(
    readonly name: string,
    readonly client: DispatcherClient,
  ) {
    client.on("change", (e) => {
      this.events.push(e);
      if (e.kind === "taskUpsert") this.act(e.task);
      if (e.kind === "taskRemoved") this.running.delete(e.task.id);
    });
  }

  private act(t: TaskIntent): void {
    if (t.desiredState === "running" && !this.running.has(t.id) && this.autoRun) {
      this.running.add(t.id);
      void this.client.reportTaskStatus({ taskId: t.id, serviceId: t.serviceId, state: "running" });
    } else if (t.desiredState === "shutdown") {
      this.running.delete(t.id);
      void this.client.reportTaskStatus({ taskId: t.id, serviceId: t.serviceId, state: "shutdown" });
    }
  }

  tasks(service?: string): TaskIntent[] {
    return [...this.client.state.tasks.values()].filter(
      (t) => service === undefined || t.serviceName === service,
    );
  }
}

describe("services (integration: CLI → managers → etcd → agents' streams)", function () {
  this.timeout(120_000);
  const fx = new Fixture();
  const agents: FakeAgent[] = [];
  let env: Record<string, string> = {};
  let kv: EtcdKv;
  let admin: ManagerClient;
  let ov: Network__Output;
  let ingress: Network__Output;
  const cli = (...args: string[]) => swarmnet(args, env);

  const tasksOf = async (service: string): Promise<Task__Output[]> =>
    (await admin.call<ListTasksResponse__Output>((c, o, cb) => c.services.ListTasks({ service }, o, cb)))
      .tasks;
  const liveTasks = async (service: string) =>
    (await tasksOf(service)).filter((t) => t.desiredState === "running" && !t.released);
  const allRunning = async (service: string, n: number) => {
    const live = await liveTasks(service);
    return live.length === n && live.every((t) => t.state === "running") ? live : undefined;
  };
  /** Every service, task, port, address and attachment key, to prove a refusal changed nothing. */
  const intent = async () =>
    (await kv.list(keys.root)).entries
      .filter((e) => /\/(services|tasks|ports|ipam|attachments|names)\//.test(e.key))
      .map((e) => `${e.key}=${e.value}`);

  before(async () => {
    await fx.startEtcd(1);
    const flags = ["--heartbeat-period=300ms", "--node-down-grace=1s", "--task-restart-delay=300ms"];
    const [m1, m2] = await Promise.all([
      fx.startManager("m1", fx.endpoints, flags),
      fx.startManager("m2", fx.endpoints, flags),
    ]);
    env = {
      SWARMNET_MANAGERS: `${m1.address},${m2.address}`,
      SWARMNET_CONFIG: "",
      SWARMNET_STATE_DIR: m1.stateDir,
    };
    kv = new EtcdKv({ endpoints: fx.endpoints, callTimeoutMs: 2000 });
    const init = await cli("swarm", "init", "--advertise-addr", "127.0.0.1", "--state-dir", m1.stateDir);
    assert.equal(init.exitCode, 0, init.stderr);
    await fx.serving(m1);
    await fx.joinManager(m2);
    admin = fx.client([m1.address, m2.address]);
    for (const [i, name] of ["w1", "w2", "w3"].entries()) {
      const joined = await fx.joinNode(name, "worker", `127.0.1.${i + 1}`);
      const client = new DispatcherClient({
        managers: i % 2 === 0 ? [m1.address, m2.address] : [m2.address, m1.address],
        tls: joined.tls,
        clusterId: joined.response.clusterId,
        hostname: name,
        advertiseAddr: `127.0.1.${i + 1}`,
        underlayAddrs: [],
        capabilities: undefined,
      });
      agents.push(new FakeAgent(name, client));
      client.start();
    }
    await Promise.all(agents.map((a) => a.client.whenReady()));
    ov = await admin.call<Network__Output>((c, o, cb) =>
      c.networks.Create({ name: "ov", driver: "overlay", subnets: ["10.80.0.0/24"] }, o, cb),
    );
    ingress = await admin.call<Network__Output>((c, o, cb) =>
      c.networks.Inspect({ network: "ingress" }, o, cb),
    );
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.client.stop()));
    await kv?.close();
    await fx.cleanup();
  });

  it("every node gets its own ingress address", async () => {
    await eventually(
      async () => agents.every((a) => a.client.state.ingressEndpoint !== undefined),
      10_000,
      "ingress endpoints",
    );
    const ips = agents.map((a) => a.client.state.ingressEndpoint?.ip ?? "");
    assert.equal(new Set(ips).size, 3);
    for (const a of agents) assert.equal(a.client.state.ingressEndpoint?.networkId, ingress.id);
    for (const ip of ips) assert.match(ip, /^10\.0\.0\.\d+$/);
  });

  it("service create spreads tasks over the nodes, with addresses on its network and on ingress", async () => {
    const r = await cli(
      "service",
      "create",
      "-d",
      "--name",
      "web",
      "--replicas",
      "3",
      "--network",
      "ov",
      "--publish",
      "8080:80",
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "80",
    );
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout.trim(), /^[0-9a-z]{25}$/);
    const live = await eventually(() => allRunning("web", 3), 15_000, "three running tasks");
    assert.deepEqual(live.map((t) => t.slot).sort(), [1, 2, 3]);
    // One task per node, each node seeing only its own.
    for (const a of agents) {
      const mine = a.tasks("web");
      assert.equal(mine.length, 1, `${a.name} has one task`);
      const t = mine[0] as TaskIntent;
      assert.deepEqual(t.command, ["swarmnet", "whoami", "--port", "80"]);
      assert.equal(t.env["SWARMNET_SERVICE_NAME"], "web");
      assert.equal(t.env["SWARMNET_TASK_NAME"], t.containerName);
      assert.match(t.containerName, new RegExp(`^web\\.${t.slot}\\.${t.id}$`));
      assert.deepEqual(
        t.networks.map((n) => n.networkId),
        [ov.id, ingress.id],
      );
      assert.match(t.networks[0]?.ip ?? "", /^10\.80\.0\.\d+$/);
      assert.deepEqual(t.ports, [{ protocol: "tcp", targetPort: 80, publishedPort: 8080, mode: "ingress" }]);
    }
    // Every node sees the service, with a VIP on each network and the ingress VIP.
    for (const a of agents) {
      const s = [...a.client.state.services.values()].find((x) => x.name === "web");
      assert.ok(s, `${a.name} sees web`);
      assert.deepEqual(s.networks, [ov.id, ingress.id]);
      assert.deepEqual(
        s.vips.map((v) => v.networkId),
        [ov.id, ingress.id],
      );
      assert.equal(s.ingress?.networkId, ingress.id);
      assert.equal(s.ingress?.vip, s.vips[1]?.ip);
    }
    const ls = await cli("service", "ls");
    assert.equal(ls.exitCode, 0, ls.stderr);
    assert.match(ls.stdout, /^ID\s+NAME\s+MODE\s+REPLICAS\s+PORTS$/m);
    assert.match(ls.stdout, /^[0-9a-z]{12}\s+web\s+replicated\s+3\/3\s+\*:8080->80\/tcp$/m);
    const ps = await cli("service", "ps", "web");
    assert.equal(ps.exitCode, 0, ps.stderr);
    for (const n of ["w1", "w2", "w3"])
      assert.match(ps.stdout, new RegExp(`web\\.\\d\\s+${n}\\s+Running\\s+Running`));
    const inspect = JSON.parse((await cli("service", "inspect", "web")).stdout) as {
      Endpoint: { VirtualIPs: { NetworkID: string; Addr: string }[] };
    }[];
    assert.deepEqual(
      inspect[0]?.Endpoint.VirtualIPs.map((v) => v.NetworkID),
      [ov.id, ingress.id],
    );
    assert.match(inspect[0]?.Endpoint.VirtualIPs[0]?.Addr ?? "", /^10\.80\.0\.\d+\/24$/);
  });

  it("publish and unpublish change ports on the running tasks without re-creating them", async () => {
    const before = (await liveTasks("web")).map((t) => t.id).sort();
    const removedBefore = agents.flatMap((a) => a.events).filter((e) => e.kind === "taskRemoved").length;
    const pub = await cli("service", "publish", "-d", "web", "9090:80/udp", "81");
    assert.equal(pub.exitCode, 0, pub.stderr);
    assert.deepEqual(pub.stdout.trim().split("\n"), ["*:9090->80/udp", "*:30000->81/tcp"]);
    await eventually(
      async () => agents.every((a) => a.tasks("web").every((t) => t.ports.length === 3)),
      10_000,
      "every task to carry the new ports",
    );
    for (const a of agents) {
      const s = [...a.client.state.services.values()].find((x) => x.name === "web");
      assert.deepEqual(
        s?.ports.map((p) => `${p.publishedPort}/${p.protocol}`),
        ["8080/tcp", "9090/udp", "30000/tcp"],
      );
    }
    const unpub = await cli("service", "unpublish", "-d", "web", "9090:80/udp", "30000");
    assert.equal(unpub.exitCode, 0, unpub.stderr);
    assert.deepEqual(unpub.stdout.trim().split("\n"), ["*:9090->80/udp", "*:30000->81/tcp"]);
    await eventually(
      async () => agents.every((a) => a.tasks("web").every((t) => t.ports.length === 1)),
      10_000,
      "every task to lose the ports",
    );
    assert.deepEqual((await liveTasks("web")).map((t) => t.id).sort(), before, "task ids unchanged");
    const removedAfter = agents.flatMap((a) => a.events).filter((e) => e.kind === "taskRemoved").length;
    assert.equal(removedAfter, removedBefore, "no task left any node");
    const ls = await cli("service", "ls", "--format", "json");
    assert.deepEqual((JSON.parse(ls.stdout) as { Ports: string[] }[])[0]?.Ports, ["*:8080->80/tcp"]);
  });

  it("bad input is one clear line and changes nothing", async () => {
    const other = await cli(
      "service",
      "create",
      "-d",
      "--name",
      "other",
      "--publish",
      "7070:80",
      "--",
      "true",
    );
    assert.equal(other.exitCode, 0, other.stderr);
    await eventually(() => allRunning("other", 1), 10_000, "other running");
    const cases: [string[], RegExp][] = [
      [
        ["service", "publish", "web", "7070:80"],
        /^swarmnet: port 7070\/tcp is already published by service other$/,
      ],
      [
        ["service", "publish", "web", "8080:80"],
        /^swarmnet: port 8080\/tcp is already published by service web/,
      ],
      [
        ["service", "publish", "web", "80/sctp"],
        /^swarmnet: invalid publish spec "80\/sctp": invalid protocol "sctp" \(use tcp or udp\)$/,
      ],
      [
        ["service", "publish", "web", "target=80,mode=local"],
        /invalid mode "local" \(use ingress or host\)$/,
      ],
      [["service", "publish", "web", "published=8081"], /a target port is required/],
      [["service", "unpublish", "web", "5555:80"], /^swarmnet: service web does not publish 5555:80\/tcp$/],
      [
        ["service", "create", "--name", "web", "--", "true"],
        /^swarmnet: service with name web already exists$/,
      ],
      [
        ["service", "create", "--name", "x1", "--network", "nope", "--", "true"],
        /^swarmnet: network nope not found$/,
      ],
      [["service", "create", "--name", "x2", "--network", "ingress", "--", "true"], /is the ingress network/],
      [
        ["service", "create", "--name", "x3", "--publish", "7070:80", "--", "true"],
        /already published by service other/,
      ],
      [["service", "create", "--name", "x4"], /a command is required/],
      [
        ["service", "create", "--name", "x5", "--mode", "global", "--replicas", "2", "--", "true"],
        /--replicas can only be used with replicated mode/,
      ],
      [
        ["service", "create", "--name", "x6", "--endpoint-mode", "dnsrr", "--publish", "80", "--", "true"],
        /can't be used with dnsrr mode/,
      ],
      [
        ["service", "create", "--name", "x7", "--update-monitor", "soon", "--", "true"],
        /^swarmnet: invalid argument "soon" for "--update-monitor" flag: use a duration like 500ms, 2s or 1m30s$/,
      ],
      [
        ["service", "update", "web", "--update-monitor", "5"],
        /^swarmnet: invalid argument "5" for "--update-monitor"/,
      ],
      [["service", "scale", "nope=2"], /^swarmnet: service nope not found$/],
      [["service", "update", "web", "--network-rm", "ingress"], /is not on network ingress/],
    ];
    const before = await intent();
    for (const [args, message] of cases) {
      const r = await cli(...args);
      assert.equal(r.exitCode, 1, `${args.join(" ")} should fail`);
      assert.match(r.stderr.trim(), message, args.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
    }
    assert.deepEqual(await intent(), before);
    assert.equal((await cli("service", "rm", "other")).exitCode, 0);
  });

  it("scale up spreads, scale down removes the highest slots", async () => {
    assert.match((await cli("service", "scale", "-d", "web=5")).stdout, /^web scaled to 5$/m);
    const five = await eventually(() => allRunning("web", 5), 15_000, "five running tasks");
    const perNode = new Map<string, number>();
    for (const t of five) perNode.set(t.nodeId, (perNode.get(t.nodeId) ?? 0) + 1);
    assert.deepEqual([...perNode.values()].sort(), [1, 2, 2]);
    assert.equal((await cli("service", "scale", "-d", "web=1")).exitCode, 0);
    const one = await eventually(() => allRunning("web", 1), 15_000, "one running task");
    assert.equal(one[0]?.slot, 1);
    await eventually(
      async () => agents.reduce((n, a) => n + a.tasks("web").length, 0) === 1,
      10_000,
      "agents to drop the removed tasks",
    );
  });

  it("a task reported failed is replaced by a new task in its slot", async () => {
    const [t] = await liveTasks("web");
    assert.ok(t);
    const owner = agents.find((a) => a.client.state.tasks.has(t.id)) as FakeAgent;
    await owner.client.reportTaskStatus({
      taskId: t.id,
      serviceId: t.serviceId,
      state: "failed",
      exitCode: 3,
    });
    const replaced = await eventually(
      async () => {
        const live = await allRunning("web", 1);
        return live !== undefined && live[0]?.id !== t.id ? live[0] : undefined;
      },
      15_000,
      "a replacement task",
    );
    assert.equal(replaced.slot, 1);
    const old = (await tasksOf("web")).find((x) => x.id === t.id);
    assert.equal(old?.state, "failed");
    assert.equal(old?.exitCode, 3);
    assert.equal(old?.desiredState, "shutdown");
    const ps = await cli("service", "ps", "web");
    assert.match(ps.stdout, /\\_ web\.1\s+w\d\s+Shutdown\s+Failed .* task exited with code 3/);
  });

  it("tasks of a node that is gone are rescheduled on live nodes", async () => {
    assert.equal((await cli("service", "scale", "-d", "web=3")).exitCode, 0);
    await eventually(() => allRunning("web", 3), 15_000, "three running tasks");
    const victim = agents[2] as FakeAgent;
    const lost = victim.tasks("web").map((t) => t.id);
    assert.equal(lost.length, 1);
    await victim.client.stop();
    const live = await eventually(
      async () => {
        const l = await allRunning("web", 3);
        return l !== undefined && !l.some((t) => lost.includes(t.id)) ? l : undefined;
      },
      20_000,
      "the lost task to be replaced",
    );
    const victimId = [...(agents[0] as FakeAgent).client.state.seeds].find(
      (s) => s.hostname === "w3",
    )?.nodeId;
    assert.ok(live.every((t) => t.nodeId !== victimId));
    assert.equal((await tasksOf("web")).find((t) => t.id === lost[0])?.state, "orphaned");
  });

  it("host-mode ports: never two tasks on one node; the rest wait pending", async () => {
    const r = await cli(
      "service",
      "create",
      "-d",
      "--name",
      "hp",
      "--replicas",
      "3",
      "--publish",
      "published=7000,target=80,mode=host",
      "--",
      "true",
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const placed = await eventually(
      async () => {
        const live = await liveTasks("hp");
        const onNodes = live.filter((t) => t.nodeId !== "");
        return live.length === 3 && onNodes.length === 2 && onNodes.every((t) => t.state === "running")
          ? live
          : undefined;
      },
      15_000,
      "two placed tasks and one pending",
    );
    const nodes = placed.filter((t) => t.nodeId !== "").map((t) => t.nodeId);
    assert.equal(new Set(nodes).size, 2);
    const pending = placed.find((t) => t.nodeId === "");
    assert.equal(pending?.state, "pending");
    assert.match(pending?.message ?? "", /host-mode port already in use on every node/);
    const ps = await cli("service", "ps", "hp");
    assert.match(ps.stdout, /Pending .*no suitable node/);
    assert.match(ps.stdout, /\*:7000->80\/tcp \(host\)/);
  });

  it("service rm shuts tasks down; once the agents let go the network can be removed", async () => {
    assert.equal((await cli("service", "rm", "web", "hp")).exitCode, 0);
    await eventually(
      async () =>
        agents
          .slice(0, 2)
          .every((a) => a.client.state.tasks.size === 0 && a.client.state.services.size === 0),
      15_000,
      "agents to drop every task and service",
    );
    const rm = await eventually(
      async () => {
        const r = await cli("network", "rm", "ov");
        return r.exitCode === 0 ? r : undefined;
      },
      15_000,
      "network ov to become removable",
    );
    assert.equal(rm.stdout.trim(), "ov");
  });

  it("global mode: one task on each live node", async () => {
    const r = await cli("service", "create", "-d", "--name", "g", "--mode", "global", "--", "true");
    assert.equal(r.exitCode, 0, r.stderr);
    const live = await eventually(() => allRunning("g", 2), 15_000, "two global tasks");
    assert.equal(new Set(live.map((t) => t.nodeId)).size, 2);
    assert.ok(live.every((t) => t.slot === 0 && t.name === `g.${t.nodeId}`));
    assert.match((await cli("service", "ls")).stdout, /\s+g\s+global\s+2\/2\s*$/m);
  });
});
