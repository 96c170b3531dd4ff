/**
 * Local networks on the bridge driver, through the agent as the CLI drives it, on the
 * fake kernel: the default bridge made at start, `run` with no network landing on it,
 * user-defined bridges with their subnets from the local pools, isolation, icc=false,
 * --internal, connect/disconnect on the fly, `-p` to a bridge address, and Docker's
 * refusals — each leaving the networks, the containers and the kernel as they were.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LoopbackListeners } from "../../support/loopback-dns.js";
import { Executor } from "../../../common/executor.js";
import { FakeKernel } from "../../../common/fake-kernel.js";
import { silentLogger } from "../../../common/logger.js";
import { networkRequest } from "../../../common/network-spec.js";
import { Agent } from "../../../agent/agent.js";
import { LocalEndpointTable } from "../../../agent/attachments.js";
import { AGENT_DEFAULTS } from "../../../agent/config.js";
import { bridgeVeth } from "../../../agent/drivers/bridge/index.js";
import { FEATURES, type KernelCapabilities } from "../../../agent/probe.js";
import { endpointKey } from "../../../agent/sandbox/container.js";
import type { AttachOptions } from "../../../agent/sandbox/containers.js";
import type { PortMapping } from "../../../agent/sandbox/port-spec.js";

const CAPS: KernelCapabilities = {
  kernelRelease: "fake",
  features: FEATURES.map((name) => ({
    name,
    available: name !== "ipvlan" && name !== "vlan_8021q",
    detail: "fake",
  })),
};

const on = (network: string, ip?: string): AttachOptions => ({ network, ip, aliases: [] });

describe("drivers: bridge networks (fake kernel)", () => {
  let dir: string;
  let kernel: FakeKernel;
  let agent: Agent;

  const newAgent = () =>
    new Agent(
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
        logger: silentLogger(),
        dnsListen: (namespaces) => new LoopbackListeners().listenAll(namespaces),
        capabilities: CAPS,
      },
    );
  const run = (name: string, networks: AttachOptions[] = [], ports: PortMapping[] = []) =>
    agent.containers.run({ name, networks, command: ["sleep", "1"], env: {}, detach: false, ports });
  const netnsOf = (name: string) => agent.containers.find(name).netns ?? "";
  const deviceOf = (network: string) => {
    const n = agent.localNetworks.find(network);
    assert.ok(n);
    return n.options["com.docker.network.bridge.name"] ?? `br-${n.id.slice(0, 12)}`;
  };
  /** Everything a refused request must leave alone. */
  const state = () => ({
    networks: agent.localNetworks.all().map((n) => n.name),
    containers: agent.containers.list(true).map((c) => JSON.stringify(c)),
    links: kernel.links(),
    nft: kernel.dump(),
  });

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "swarmnet-bridge-"));
    kernel = new FakeKernel();
    agent = newAgent();
    await agent.start();
  });

  afterEach(async () => {
    await agent.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("makes the default bridge at start: swarmnet0 with 172.17.0.1/16, masqueraded, isolated", () => {
    assert.deepEqual(kernel.addresses("", "swarmnet0"), ["172.17.0.1/16"]);
    assert.equal(kernel.device("", "swarmnet0")?.up, true);
    assert.deepEqual(kernel.elements("", "egress_sources"), ["172.17.0.0/16"]);
    assert.deepEqual(kernel.elements("", "bridges", "ip swarmnet_bridges"), ['"gwbridge"', '"swarmnet0"']);
  });

  it("runs a container with no --network on the default bridge: eth0, its address, the default route", async () => {
    const c = await run("a3");
    assert.equal(c.endpoints[0]?.networkName, "bridge");
    assert.equal(c.gatewayIp, undefined, "no gateway bridge: the bridge is its way out");
    assert.deepEqual(kernel.addresses(c.netns ?? "", "eth0"), ["172.17.0.2/16"]);
    assert.deepEqual(kernel.routes(c.netns ?? ""), ["default via 172.17.0.1 dev eth0"]);
    const ep = c.endpoints[0];
    assert.ok(ep);
    assert.equal(kernel.device("", bridgeVeth(endpointKey(c, ep)))?.master, "swarmnet0");
    assert.equal((await run("a5")).endpoints[0]?.ip, "172.17.0.3");
  });

  it("walks Docker's user-defined bridge tutorial: subnets from the local pools, connect, disconnect", async () => {
    const net = await agent.networks.create(networkRequest("alpine-net"));
    assert.equal(net.scope, "local");
    assert.equal(
      net.ipam.configs[0]?.subnet,
      "172.19.0.0/16",
      "clear of 172.17 (bridge) and 172.18 (gwbridge)",
    );
    const dev = deviceOf("alpine-net");
    assert.deepEqual(kernel.addresses("", dev), ["172.19.0.1/16"]);
    await run("alpine1", [on("alpine-net")]);
    await run("alpine2", [on("alpine-net")]);
    await run("alpine3");
    await run("alpine4", [on("alpine-net")]);
    await agent.containers.connect("alpine4", on("bridge"));
    const a4 = agent.containers.find("alpine4");
    assert.deepEqual(
      a4.endpoints.map((e) => [e.ifname, e.networkName, e.ip]),
      [
        ["eth0", "alpine-net", "172.19.0.4"],
        ["eth1", "bridge", "172.17.0.3"],
      ],
    );
    assert.deepEqual(kernel.routes(netnsOf("alpine4")), ["default via 172.19.0.1 dev eth0"]);
    // Isolation: routed traffic between the two bridges is dropped, both ways.
    const forward = kernel
      .dump()
      .split("\n")
      .filter((l) => l.includes("oifname @bridges drop"));
    assert.equal(forward.length, 3, forward.join("\n"));
    assert.deepEqual(kernel.elements("", "egress_sources"), ["172.17.0.0/16", "172.19.0.0/16"]);
    // The route holder goes: the default route follows to the next network that routes out.
    await agent.containers.disconnect("alpine4", "alpine-net", false);
    assert.deepEqual(kernel.routes(netnsOf("alpine4")), ["default via 172.17.0.1 dev eth1"]);
    assert.equal(kernel.addresses(netnsOf("alpine4"), "eth0").length, 0);
  });

  it("enable_icc=false isolates the bridge ports; --internal has no route out and no masquerade", async () => {
    await agent.networks.create(
      networkRequest("quiet", { options: { "com.docker.network.bridge.enable_icc": "false" } }),
    );
    const q = await run("q1", [on("quiet")]);
    const ep = q.endpoints[0];
    assert.ok(ep);
    assert.equal(kernel.device("", bridgeVeth(endpointKey(q, ep)))?.isolated, true);
    await agent.networks.create(networkRequest("inner", { internal: true, subnets: ["10.77.0.0/24"] }));
    const i = await run("i1", [on("inner")]);
    assert.deepEqual(kernel.routes(i.netns ?? ""), []);
    assert.ok(!kernel.elements("", "egress_sources").includes("10.77.0.0/24"));
    const dev = deviceOf("inner");
    assert.ok(kernel.dump().includes(`oifname "${dev}" iifname != "${dev}" drop`));
    await agent.networks.create(
      networkRequest("nomasq", { options: { "com.docker.network.bridge.enable_ip_masquerade": "false" } }),
    );
    assert.deepEqual(kernel.elements("", "egress_sources"), ["172.17.0.0/16", "172.19.0.0/16"]);
  });

  it("-p on a bridge container forwards to its bridge address; a second holder of the port is refused", async () => {
    const mapping: PortMapping = { hostIp: "", hostPort: 8080, containerPort: 80, protocol: "tcp" };
    const w = await run("web", [], [mapping]);
    assert.equal(w.gatewayIp, undefined);
    assert.deepEqual(kernel.elements("", "local_ports"), ["tcp . 8080"]);
    assert.match(kernel.dump(), /tcp \. 8080 comment "web" : 172\.17\.0\.2 \. 80/);
    assert.ok(
      kernel.dump().includes("ct status dnat iifname @bridges oifname @bridges masquerade"),
      "hairpin",
    );
    const before = state();
    await assert.rejects(
      run("web2", [], [mapping]),
      /host port 8080\/tcp is already in use by container web/,
    );
    kernel.listeners.push("8090");
    await assert.rejects(
      run("web3", [], [{ ...mapping, hostPort: 8090 }]),
      /host port 8090\/tcp is already in use by a process of the node/,
    );
    assert.deepEqual(state(), before);
  });

  it("refuses bad input with one clear line and changes nothing", async () => {
    await agent.networks.create(networkRequest("taken", { subnets: ["10.50.0.0/24"] }));
    await run("busy", [on("taken", "10.50.0.9")]);
    await run("nobody", [on("none")]);
    const before = state();
    const refusals: [() => Promise<unknown>, RegExp][] = [
      [
        () => agent.networks.create(networkRequest("x1", { subnets: ["10.50.0.0/16"] })),
        /overlaps 10\.50\.0\.0\/24 \(network taken\)/,
      ],
      [
        () => agent.networks.create(networkRequest("x2", { subnets: ["172.17.5.0/24"] })),
        /overlaps 172\.17\.0\.0\/16 \(network bridge\)/,
      ],
      [
        () =>
          agent.networks.create(networkRequest("x3", { subnets: ["10.60.0.0/24"], gateways: ["10.61.0.1"] })),
        /gateway 10\.61\.0\.1 is outside subnet 10\.60\.0\.0\/24/,
      ],
      [() => agent.networks.create(networkRequest("taken")), /network with name taken already exists/],
      [() => agent.networks.create(networkRequest("bridge")), /network with name bridge already exists/],
      [
        () =>
          agent.networks.create(
            networkRequest("x5", { options: { "com.docker.network.bridge.enable_icc": "maybe" } }),
          ),
        /enable_icc/,
      ],
      [
        () =>
          agent.networks.create(
            networkRequest("x6", { options: { "com.docker.network.bridge.name": "swarmnet0" } }),
          ),
        /bridge name swarmnet0 is already used/,
      ],
      [
        () => run("y1", [on("taken", "10.51.0.3")]),
        /address 10\.51\.0\.3 is outside subnet 10\.50\.0\.0\/24/,
      ],
      [() => run("y2", [on("taken", "10.50.0.9")]), /address 10\.50\.0\.9 is already in use/],
      [
        () => run("y3", [on("bridge", "172.17.0.50")]),
        /user specified IP address is supported on user defined networks only/,
      ],
      [() => agent.networks.remove("taken"), /network taken id [0-9a-f]+ has active endpoints/],
      [() => agent.networks.remove("bridge"), /bridge is a pre-defined network and cannot be removed/],
      [() => agent.containers.connect("nobody", on("taken")), /private \(none\) mode/],
    ];
    for (const [attempt, message] of refusals) await assert.rejects(attempt(), message);
    assert.deepEqual(state(), before);
  });

  it("removes a network's bridge with it; prune removes unused local networks; a restart adopts the rest", async () => {
    await agent.networks.create(networkRequest("gone"));
    const dev = deviceOf("gone");
    await agent.networks.remove("gone");
    assert.equal(kernel.device("", dev), undefined);
    await agent.networks.create(networkRequest("kept"));
    await agent.networks.create(networkRequest("idle"));
    await run("k1", [on("kept")]);
    assert.deepEqual(await agent.networks.prune(), ["idle"]);
    await agent.stop();
    const commands = kernel.log.length;
    agent = newAgent();
    await agent.start();
    assert.deepEqual(
      agent.localNetworks.all().map((n) => n.name),
      ["bridge", "host", "none", "kept"],
    );
    const rebuilt = kernel.log.slice(commands).filter((l) => /link add|addr add/.test(l));
    assert.deepEqual(rebuilt, [], "nothing rebuilt");
  });
});
