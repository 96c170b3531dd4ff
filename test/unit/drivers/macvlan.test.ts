/**
 * macvlan (and ipvlan) networks through the agent on the fake kernel: a container's
 * interface is a macvlan child of the parent with the network's address and route;
 * disconnect removes it; an 802.1q parent is made with the network and removed with it
 * where the kernel has 802.1q, and refused naming 802.1q where it has not; a `--scope
 * swarm` network's 802.1q parent exists while a container of the node is on it; ipvlan where
 * the kernel lacks it, a parent that does not exist, no parent, a parent already used:
 * one clear line each, nothing changed.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LoopbackListeners } from "../../support/loopback-dns.js";
import { Executor } from "../../../common/executor.js";
import { FakeKernel } from "../../../common/fake-kernel.js";
import { silentLogger } from "../../../common/logger.js";
import { Agent } from "../../../agent/agent.js";
import { LocalEndpointTable, type Attachment, type NetworkAttacher } from "../../../agent/attachments.js";
import { emptyState } from "../../../agent/dispatcher/index.js";
import type { NetworkIntent } from "../../../common/cluster-types.js";
import { AGENT_DEFAULTS } from "../../../agent/config.js";
import { FEATURES, type Feature, type KernelCapabilities } from "../../../agent/probe.js";
import { networkRequest } from "../../../common/network-spec.js";
import { planSub } from "../../../agent/drivers/macvlan/index.js";

const caps = (missing: Feature[]): KernelCapabilities => ({
  kernelRelease: "fake",
  features: FEATURES.map((name) => ({ name, available: !missing.includes(name), detail: "fake" })),
});

const MV = { driver: "macvlan", subnets: ["100.64.0.0/16"], ipRanges: ["100.64.200.0/24"] };

describe("drivers: macvlan and ipvlan networks (fake kernel)", () => {
  let dir: string;
  let kernel: FakeKernel;
  let agent: Agent;

  const start = async (missing: Feature[], attacher?: NetworkAttacher) => {
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
        executor: new Executor(kernel),
        endpoints: new LocalEndpointTable(),
        ...(attacher === undefined ? {} : { attacher }),
        logger: silentLogger(),
        dnsListen: (namespaces) => new LoopbackListeners().listenAll(namespaces),
        capabilities: caps(missing),
      },
    );
    await agent.start();
  };
  const run = (name: string, network: string) =>
    agent.containers.run({
      name,
      networks: [{ network, ip: undefined, aliases: [] }],
      command: ["sleep", "1"],
      env: {},
      detach: false,
    });
  const state = () => ({
    networks: agent.localNetworks.all().map((n) => n.name),
    links: kernel.links(),
    netns: kernel.netnsNames(),
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "swarmnet-macvlan-"));
    kernel = new FakeKernel();
    const ex = new Executor(kernel);
    await ex.ipBatch(["link add eth0 type dummy", "addr add 100.64.1.1/16 dev eth0", "link set eth0 up"]);
  });

  afterEach(async () => {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives a container a macvlan child of the parent with its address and route; disconnect removes it", async () => {
    await start(["ipvlan", "vlan_8021q"]);
    await agent.networks.create(
      networkRequest("mv", { ...MV, gateways: ["100.64.0.1"], options: { parent: "eth0" } }),
    );
    const c = await run("m1", "mv");
    const ns = c.netns ?? "";
    assert.equal(c.endpoints[0]?.ip, "100.64.200.0");
    assert.deepEqual(kernel.device(ns, "eth0"), {
      kind: "macvlan",
      parent: "eth0",
      isolated: false,
      mtu: 1500,
      up: true,
    });
    assert.deepEqual(kernel.addresses(ns, "eth0"), ["100.64.200.0/16"]);
    assert.deepEqual(kernel.routes(ns), ["default via 100.64.0.1 dev eth0"]);
    assert.deepEqual(kernel.links(), ["eth0", "lo", "swarmnet0"], "no temporary device left on the node");
    await agent.containers.connect("m1", { network: "bridge", ip: undefined, aliases: [] });
    await agent.containers.disconnect("m1", "mv", false);
    assert.equal(kernel.device(ns, "eth0"), undefined);
    assert.deepEqual(kernel.routes(ns), ["default via 172.17.0.1 dev eth1"]);
  });

  it("makes an 802.1q parent with the network and removes it with it, where the kernel has 802.1q", async () => {
    kernel.extraKinds.push("vlan");
    await start(["ipvlan"]);
    await agent.networks.create(networkRequest("tagged", { ...MV, options: { parent: "eth0.10" } }));
    assert.equal(kernel.device("", "eth0.10")?.kind, "vlan");
    await run("t1", "tagged");
    await agent.containers.remove("t1", true);
    await agent.networks.remove("tagged");
    assert.equal(kernel.device("", "eth0.10"), undefined);
  });

  it("a --scope swarm network's 802.1q parent exists while a container of this node is on it", async () => {
    kernel.extraKinds.push("vlan");
    const swarm: NetworkIntent = {
      id: "s1",
      name: "smv",
      driver: "macvlan",
      scope: "swarm",
      createdAt: "",
      internal: false,
      attachable: true,
      ingress: false,
      ipam: {
        driver: "default",
        configs: [{ subnet: "10.90.10.0/24", gateway: "10.90.10.1", ipRange: undefined, auxAddresses: {} }],
        options: {},
      },
      options: { parent: "eth0.10" },
      labels: {},
      vni: undefined,
      encrypted: false,
      mtu: undefined,
    };
    const attacher: NetworkAttacher = {
      attach: async (): Promise<Attachment> => ({
        intent: swarm,
        subnet: "10.90.10.0/24",
        gateway: "10.90.10.1",
        dataPathPort: 4789,
        ip: "10.90.10.2",
      }),
      release: async () => undefined,
    };
    await start(["ipvlan"], attacher);
    const intent = emptyState();
    intent.networks.set(swarm.id, swarm);
    agent.setIntent(intent);
    await agent.sync();
    assert.equal(kernel.device("", "eth0.10"), undefined, "not before a container is on it");
    const c = await run("s1", "smv");
    assert.equal(kernel.device("", "eth0.10")?.kind, "vlan");
    assert.equal(kernel.device(c.netns ?? "", "eth0")?.parent, "eth0.10");
    assert.deepEqual(kernel.addresses(c.netns ?? "", "eth0"), ["10.90.10.2/24"]);
    await agent.containers.remove("s1", true);
    assert.equal(kernel.device("", "eth0.10"), undefined, "removed with the node's last container on it");
  });

  it("refuses with one clear line and changes nothing: 802.1q and ipvlan missing here, bad parents", async () => {
    await start(["ipvlan", "vlan_8021q"]);
    await agent.networks.create(networkRequest("mv", { ...MV, options: { parent: "eth0" } }));
    const before = state();
    const refusals: [Partial<Parameters<typeof networkRequest>[1]>, RegExp][] = [
      [
        { ...MV, subnets: ["10.10.0.0/24"], ipRanges: [], options: { parent: "eth0.10" } },
        /eth0\.10 is an 802\.1q VLAN sub-interface, and this kernel has no 802\.1q VLAN support/,
      ],
      [
        { ...MV, subnets: ["10.11.0.0/24"], ipRanges: [], driver: "ipvlan", options: { parent: "eth1" } },
        /driver ipvlan, which this node cannot run: the kernel has no ipvlan devices/,
      ],
      [
        { ...MV, subnets: ["10.12.0.0/24"], ipRanges: [], options: {} },
        /a macvlan network needs its parent interface: -o parent=/,
      ],
      [
        { ...MV, subnets: ["10.9.0.0/24"], ipRanges: [], options: { parent: "eth9" } },
        /parent interface eth9 does not exist on this node/,
      ],
      [
        { ...MV, subnets: ["10.8.0.0/24"], ipRanges: [], options: { parent: "eth0" } },
        /network mv is already using parent interface eth0/,
      ],
      [
        { ...MV, subnets: ["10.7.0.0/24"], ipRanges: [], options: { parent: "eth1", macvlan_mode: "loud" } },
        /invalid macvlan_mode "loud"/,
      ],
    ];
    for (const [o, message] of refusals)
      await assert.rejects(agent.networks.create(networkRequest("x", o)), message);
    assert.deepEqual(state(), before);
  });

  it("plans one 802.1q parent when two networks name it (a local one and a swarm-scope one)", () => {
    const vlan = { device: "eth0.10", base: "eth0", id: 10 };
    const observed = {
      vlans: new Map<string, string>(),
      devices: new Set(["eth0"]),
      strays: [],
      present: new Set<string>(),
      healthy: new Set<string>(),
      routed: new Set<string>(),
    };
    const desired = {
      vlans: [
        { ...vlan, networkId: "a" },
        { ...vlan, networkId: "b" },
      ],
      endpoints: [],
    };
    const adds = planSub("macvlan", desired, observed, []).flatMap((s) =>
      s.lines.filter((l) => l.startsWith("link add")),
    );
    assert.deepEqual(adds, ["link add link eth0 name eth0.10 type vlan id 10"]);
  });
});
