/**
 * The agent as a composition of reconcilers, on fakes: a kernel in memory with real
 * semantics (common/fake-kernel.ts), an endpoint table the test fills with other nodes'
 * facts, an attacher standing in for the managers' IPAM. What a user of the agent would
 * notice: a change touches only the reconcilers it concerns, a broken reconciler does not
 * hold back the others and heals, and a burst of gossip costs a bounded number of passes.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Executor } from "../../../common/executor.js";
import { LoopbackListeners } from "../../support/loopback-dns.js";
import { FakeKernel } from "../../../common/fake-kernel.js";
import { silentLogger } from "../../../common/logger.js";
import { Agent } from "../../../agent/agent.js";
import {
  LocalEndpointTable,
  type Attachment,
  type EndpointFact,
  type NetworkAttacher,
} from "../../../agent/attachments.js";
import { AGENT_DEFAULTS } from "../../../agent/config.js";
import {
  emptyState,
  type IntentState,
  type NetworkIntent,
  type ServiceIntent,
} from "../../../agent/dispatcher/index.js";
import { FEATURES, type KernelCapabilities } from "../../../agent/probe.js";

const CAPS: KernelCapabilities = {
  kernelRelease: "fake",
  // Without ipvs: these tests read the nftables mesh's table (the IPVS mesh has its own tests).
  features: FEATURES.map((name) => ({ name, available: name !== "ipvs", detail: "fake" })),
};

function overlay(id: string, vni: number, subnet: string): NetworkIntent {
  const gateway = subnet.replace(/0\/24$/, "1");
  return {
    id,
    name: id,
    driver: "overlay",
    scope: "swarm",
    createdAt: "",
    internal: false,
    attachable: true,
    ingress: false,
    ipam: {
      driver: "default",
      configs: [{ subnet, gateway, ipRange: undefined, auxAddresses: {} }],
      options: {},
    },
    options: {},
    labels: {},
    vni,
    encrypted: false,
    mtu: undefined,
  };
}

function service(id: string, networkId: string, vip: string, publishedPort: number): ServiceIntent {
  return {
    id,
    name: id,
    mode: "replicated",
    replicas: 2,
    endpointMode: "vip",
    ports: [{ protocol: "tcp", targetPort: 80, publishedPort, mode: "ingress" }],
    vips: [{ networkId, ip: vip, prefixLength: 24 }],
    networks: [networkId, "ingress"],
    ingress: { networkId: "ingress", vip: "10.255.0.100" },
    version: 1,
  };
}

/** The managers' IPAM, in memory: the next address of the network's subnet. */
class FakeAttacher implements NetworkAttacher {
  private next = 2;
  constructor(private readonly networks: Map<string, NetworkIntent>) {}
  async attach(req: { network: string }): Promise<Attachment> {
    const n = this.networks.get(req.network);
    if (n === undefined) throw new Error(`no network ${req.network}`);
    const c = n.ipam.configs[0];
    return {
      intent: n,
      subnet: c?.subnet ?? "",
      gateway: c?.gateway ?? "",
      dataPathPort: 4789,
      ip: (c?.subnet ?? "").replace(/0\/24$/, String(this.next++)),
    };
  }
  async release(): Promise<void> {}
}

function remoteFact(networkId: string, ip: string, serviceId: string, node = "n2"): EndpointFact {
  const last = Number(ip.split(".")[3]);
  return {
    networkId,
    key: `task-${ip}/${networkId}`,
    ip,
    node,
    container: `web.${last}`,
    aliases: [],
    serviceId,
    serviceName: "",
    vip: "",
    data: { mac: `02:42:0a:00:01:${last.toString(16).padStart(2, "0")}`, vtep: "100.64.1.2" },
  };
}

const until = async (check: () => boolean, what: string, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("agent: reconcilers over one node snapshot (fake kernel)", () => {
  let dir: string;
  let kernel: FakeKernel;
  let dns: LoopbackListeners;
  let table: LocalEndpointTable;
  let agent: Agent;
  let executor: Executor;
  let intent: IntentState;
  const ov = overlay("ov", 4097, "10.0.1.0/24");
  const other = overlay("other", 4098, "10.0.2.0/24");

  /** A container on overlay `ov` (created, not started: the fake kernel has no processes). */
  const runOnOverlay = (name: string) =>
    agent.containers.run({
      name,
      networks: [{ network: "ov", ip: undefined, aliases: [] }],
      command: ["sleep", "1"],
      env: {},
      detach: false,
    });
  const stats = (name: string) => {
    const s = agent.loop?.stats().find((x) => x.name === name);
    assert.ok(s, `reconciler ${name}`);
    return s;
  };
  /** Kernel reads of overlay sandboxes: what "re-plans the overlay" costs. */
  const sandboxReads = () => kernel.log.filter((l) => /-n \S+ov\d+ -j|fdb show/.test(l)).length;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "swarmnet-agent-"));
    kernel = new FakeKernel();
    dns = new LoopbackListeners();
    table = new LocalEndpointTable();
    intent = emptyState();
    intent.networks.set(ov.id, ov);
    intent.networks.set(other.id, other);
    agent = new Agent(
      {
        ...AGENT_DEFAULTS,
        nodeName: "n1",
        advertiseAddr: undefined,
        stateDir: dir,
        netnsPrefix: "t-",
        gossipPort: 0,
      },
      {
        executor: (executor = new Executor(kernel)),
        endpoints: table,
        attacher: new FakeAttacher(intent.networks),
        logger: silentLogger(),
        capabilities: CAPS,
        dnsListen: (namespaces) => dns.listenAll(namespaces),
      },
    );
    await agent.start();
    agent.setIntent(intent);
    await runOnOverlay("c1");
    table.publish(remoteFact("ov", "10.0.1.50", ""));
    await agent.sync();
  });

  afterEach(async () => {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs a container on an overlay: its sandbox, veth and the remote endpoint's FDB entry exist", () => {
    assert.ok(kernel.netnsNames().includes("t-ov4097"));
    assert.deepEqual([...kernel.fdb("t-ov4097", "vx4097")], [["02:42:0a:00:01:32", "100.64.1.2"]]);
    const c = agent.containers.find("c1");
    assert.deepEqual(kernel.addresses(c.netns ?? "", "eth0"), ["10.0.1.2/24"]);
  });

  it("a container on an overlay gets the embedded DNS: 127.0.0.11 in its resolv.conf, names answered", async () => {
    const c = agent.containers.find("c1");
    const file = agent.dns.resolvConfOf(c.id);
    assert.ok(file !== undefined);
    assert.equal(readFileSync(file, "utf8"), "nameserver 127.0.0.11\noptions ndots:0\n");
    assert.deepEqual(await dns.resolve(c.netns ?? "", "c1"), ["10.0.1.2"]);
    assert.deepEqual(await dns.resolve(c.netns ?? "", "web.50"), ["10.0.1.50"], "a remote container");
    await agent.containers.disconnect("c1", "ov", false);
    assert.equal(dns.open.has(c.netns ?? ""), false, "its sockets close with its last network");
    assert.match(readFileSync(file, "utf8"), /^# the node's upstream/);
  });

  it("a change of one service's backends re-plans only the mesh: no overlay sandbox is read", async () => {
    intent.services.set("web", service("web", "other", "10.0.2.100", 8080));
    const before = new Map(agent.loop?.stats().map((s) => [s.name, s.applied]));
    const reads = sandboxReads();
    // The service appears, then its tasks (on a network this node has no endpoint on).
    agent.setIntent(intent, [
      {
        kind: "serviceUpsert",
        revision: 2,
        service: intent.services.get("web") as ServiceIntent,
        previous: undefined,
      },
    ]);
    for (const net of ["other", "ingress"]) {
      table.publish(remoteFact(net, "10.0.2.7", "web"));
      table.publish(remoteFact(net, "10.0.2.8", "web"));
    }
    await agent.sync();
    for (const s of agent.loop?.stats() ?? []) {
      if (s.name === "mesh") assert.ok(s.applied > (before.get(s.name) ?? 0), "the mesh applied the change");
      else if (s.name !== "endpoint-facts" && s.name !== "container-mesh")
        assert.equal(s.applied, before.get(s.name), `${s.name} did no kernel work`);
    }
    assert.equal(sandboxReads(), reads, "no overlay sandbox was observed");
    assert.deepEqual(kernel.elements("", "ingress_ports"), ["tcp . 8080"]);
    assert.equal(kernel.elements("", "ingress_backends").length, 2);
  });

  it("a reconciler that throws is retried and does not delay another's apply", async () => {
    kernel.failNext(/^bridge -n t-ov4097 -batch/, "RTNETLINK answers: Operation not permitted", 2);
    intent.services.set("web", service("web", "ov", "10.0.1.100", 8081));
    agent.setIntent(intent, [
      {
        kind: "serviceUpsert",
        revision: 2,
        service: intent.services.get("web") as ServiceIntent,
        previous: undefined,
      },
    ]);
    table.publish(remoteFact("ov", "10.0.1.60", "web"));
    table.publish(remoteFact("ingress", "10.255.0.60", "web"));
    // The mesh gets the new backend although the overlay's FDB batch keeps failing.
    await until(() => kernel.elements("", "ingress_backends").length === 1, "the mesh to apply");
    await until(() => stats("overlay").failures >= 1, "the overlay to fail");
    assert.equal(kernel.fdb("t-ov4097", "vx4097").has("02:42:0a:00:01:3c"), false);
    // …and the overlay heals by itself, with backoff, no one asking.
    await until(() => kernel.fdb("t-ov4097", "vx4097").has("02:42:0a:00:01:3c"), "the overlay to retry");
    assert.equal(stats("overlay").consecutiveFailures, 0);
  });

  it("counts resync passes: a resync runs one in every reconciler, a change runs none", async () => {
    const resyncs = () => new Map(agent.loop?.stats().map((s) => [s.name, s.resyncs]));
    const before = resyncs();
    table.publish(remoteFact("ov", "10.0.1.77", ""));
    await agent.sync();
    assert.deepEqual(resyncs(), before, "a fast-path pass is no resync");
    await agent.resync();
    for (const [name, n] of resyncs()) assert.equal(n, (before.get(name) ?? 0) + 1, name);
  });

  it("a burst of 100 gossip events costs at most 2 passes", async () => {
    const before = stats("overlay").passes;
    const meshBefore = stats("mesh").passes;
    for (let i = 0; i < 100; i++) table.publish(remoteFact("ov", `10.0.1.${100 + i}`, ""));
    await agent.sync(["overlay", "mesh"]);
    assert.ok(stats("overlay").passes - before <= 2, `overlay passes: ${stats("overlay").passes - before}`);
    assert.ok(stats("mesh").passes - meshBefore <= 2, `mesh passes: ${stats("mesh").passes - meshBefore}`);
    assert.equal(kernel.fdb("t-ov4097", "vx4097").size, 101, "every endpoint of the burst is programmed");
  });

  it("work per pass does not grow with containers: a resync looks into at most 16 of them per reconciler, a run into none but its own", async function () {
    this.timeout(60_000);
    for (let i = 0; i < 39; i++) await runOnOverlay(`m${i}`);
    const intoContainers = () => kernel.log.filter((l) => /-n t-c-\S+ .*addr show/.test(l)).length;
    let before = intoContainers();
    await agent.resync();
    const perResync = intoContainers() - before;
    assert.ok(perResync > 0 && perResync <= 2 * 16, `container namespaces read in one resync: ${perResync}`);
    before = intoContainers();
    await runOnOverlay("one-more");
    await agent.sync();
    assert.equal(intoContainers() - before, 0, "a run reads no other container's namespace");
    // Drift inside a container is still found, within a rotation of resyncs.
    const victim = agent.containers.find("m7");
    await new Executor(kernel).ip(["addr", "flush", "dev", "eth0"], { netns: victim.netns });
    for (let i = 0; i < 3 && kernel.addresses(victim.netns ?? "", "eth0").length === 0; i++)
      await agent.resync();
    assert.deepEqual(kernel.addresses(victim.netns ?? "", "eth0"), [victim.endpoints[0]?.ip + "/24"]);
  });

  it("an idle resync starts as many processes with 40 containers as with 10, on overlays and bridges (container sides read by one shell)", async function () {
    this.timeout(60_000);
    const spawns = () => [...executor.spawned.values()].reduce((a, b) => a + b, 0);
    const perResync = async () => {
      const before = spawns();
      await agent.resync();
      return spawns() - before;
    };
    // Half of them on the default bridge: its driver looks into containers too.
    const run = (i: number) =>
      i % 2 === 0
        ? runOnOverlay(`m${i}`)
        : agent.containers.run({
            name: `m${i}`,
            networks: [],
            command: ["sleep", "1"],
            env: {},
            detach: false,
          });
    for (let i = 0; i < 9; i++) await run(i);
    const with10 = await perResync();
    for (let i = 9; i < 39; i++) await run(i);
    assert.equal(await perResync(), with10);
  });

  it("a restarted agent in a cluster removes nothing until the managers' intent has arrived", async () => {
    intent.services.set("web", service("web", "ov", "10.0.1.100", 8080));
    table.publish(remoteFact("ingress", "10.255.0.9", "web"));
    agent.setIntent(intent);
    await agent.sync();
    assert.deepEqual(kernel.elements("", "ingress_ports"), ["tcp . 8080"]);
    await agent.stop();
    // The new agent knows its containers but neither the intent nor any other node yet.
    const fresh = new Agent(agent.config, {
      executor: new Executor(kernel),
      endpoints: new LocalEndpointTable(),
      attacher: new FakeAttacher(intent.networks),
      logger: silentLogger(),
      capabilities: CAPS,
      joined: true,
      dnsListen: (namespaces) => dns.listenAll(namespaces),
    });
    agent = fresh;
    await fresh.start();
    await fresh.sync();
    assert.deepEqual(kernel.elements("", "ingress_ports"), ["tcp . 8080"], "published ports stay");
    assert.equal(kernel.fdb("t-ov4097", "vx4097").size, 1, "remote endpoints stay");
    // The intent arrives (no gossip here, so nothing more to wait for): now it converges.
    intent.services.delete("web");
    fresh.setIntent(intent);
    await fresh.sync();
    assert.deepEqual(kernel.elements("", "ingress_ports"), []);
    assert.equal(kernel.fdb("t-ov4097", "vx4097").size, 0, "the endpoint no node reports is gone");
  });

  it("host and none: the node's stack, or only lo; nothing joins them (Docker's messages)", async () => {
    const host = await agent.containers.run({
      name: "h",
      networks: [{ network: "host", ip: undefined, aliases: [] }],
      command: ["sleep", "1"],
      env: {},
      detach: false,
    });
    assert.equal(host.netns, undefined, "a host-network container has no namespace of its own");
    const none = await agent.containers.run({
      name: "n",
      networks: [{ network: "none", ip: undefined, aliases: [] }],
      command: ["sleep", "1"],
      env: {},
      detach: false,
    });
    assert.deepEqual(kernel.links(none.netns ?? ""), ["lo"]);
    await assert.rejects(
      agent.containers.connect("n", { network: "ov", ip: undefined, aliases: [] }),
      /private \(none\) mode/,
    );
    await assert.rejects(
      agent.containers.connect("h", { network: "ov", ip: undefined, aliases: [] }),
      /sharing network namespace/,
    );
    await assert.rejects(
      agent.containers.connect("c1", { network: "host", ip: undefined, aliases: [] }),
      /connected to host network/,
    );
    await assert.rejects(
      agent.containers.run({
        name: "x",
        networks: [
          { network: "host", ip: undefined, aliases: [] },
          { network: "ov", ip: undefined, aliases: [] },
        ],
        command: ["true"],
        env: {},
        detach: false,
      }),
      /cannot attach both user-defined and non-user-defined/,
    );
    assert.equal(agent.containers.list(true).length + agent.containers.list(false).length >= 3, true);
    assert.equal(
      agent.containers.list(true).some((c) => c.name === "x" || c.name === "y"),
      false,
      "refused containers leave no record",
    );
  });
});
