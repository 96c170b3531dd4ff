/**
 * The overlay driver on the real kernel, three nodes on a hand-built underlay, driven the
 * way the agent drives it (desired state from intent + NetworkDB): cross-node ping and a
 * 10 MB TCP transfer, isolation between overlays, adoption without changes by a fresh
 * driver (agent restart), repair of a hand-deleted FDB entry, withdrawal of a dead node's
 * entries, teardown of an unused network, and rollback of a failed setup.
 */
import assert from "node:assert/strict";
import { macFromIpv4, parseIpv4 } from "../../../common/net-addr.js";
import {
  OverlayKernel,
  sandboxNetns,
  vxlanDevice,
  type LocalEndpoint,
  type OverlayDesired,
  type OverlayNetwork,
} from "../../../agent/drivers/overlay/index.js";
import { isRoot } from "../../support/netns.js";
import { ScratchTopology } from "../../../deploy/lab/scratch-topology.js";
import { transfer } from "../../support/tcp-transfer.js";

interface Container {
  name: string;
  node: number;
  net: OverlayNetwork;
  ip: string;
  netns: string;
}

describe("overlay driver (netns, real kernel)", function () {
  const topo = new ScratchTopology();
  const ov1: OverlayNetwork = {
    id: "net-ov1",
    name: "ov1",
    vni: 4097,
    subnet: "10.10.1.0/24",
    gateway: "10.10.1.1",
    mtu: 1450,
    dstPort: 4789,
  };
  const ov2: OverlayNetwork = {
    id: "net-ov2",
    name: "ov2",
    vni: 4098,
    subnet: "10.10.2.0/24",
    gateway: "10.10.2.1",
    mtu: 1450,
    dstPort: 4789,
  };
  const containers: Container[] = [];
  const drivers = new Map<number, OverlayKernel>();
  const deadNodes = new Set<number>();

  const mac = (ip: string) => macFromIpv4(parseIpv4(ip) ?? 0);
  const prefix = (node: number) => `${topo.node(node).netns}-`;
  const endpoint = (c: Container): LocalEndpoint => ({
    id: `${c.name}/${c.net.id}`,
    networkId: c.net.id,
    containerNetns: c.netns,
    ifname: "eth0",
    ip: c.ip,
    mac: mac(c.ip),
    defaultRoute: true,
  });
  /** What NetworkDB would tell node `n`: every live remote endpoint. */
  const desiredFor = (n: number): OverlayDesired => ({
    networks: [ov1, ov2],
    local: containers.filter((c) => c.node === n).map(endpoint),
    remote: containers
      .filter((c) => c.node !== n && !deadNodes.has(c.node))
      .map((c) => ({ networkId: c.net.id, ip: c.ip, mac: mac(c.ip), vtep: topo.node(c.node).address })),
  });
  const reconcileAll = async () => {
    for (const [n, d] of drivers) if (!deadNodes.has(n)) await d.reconcile(desiredFor(n));
  };
  const byName = (name: string) => containers.find((c) => c.name === name) as Container;

  before(async function () {
    if (!isRoot) return this.skip();
    await topo.build(3);
    for (const [name, node, net, ip] of [
      ["a", 1, ov1, "10.10.1.2"],
      ["b", 2, ov1, "10.10.1.3"],
      ["c", 3, ov1, "10.10.1.4"],
      ["d", 2, ov2, "10.10.2.2"],
    ] as const) {
      containers.push({ name, node, net, ip, netns: await topo.container(node, name) });
    }
    for (const n of [1, 2, 3])
      drivers.set(n, new OverlayKernel(topo.ex, { prefix: prefix(n), nodeNetns: topo.node(n).netns }));
    await reconcileAll();
  });

  after(async () => {
    if (isRoot) await topo.destroy();
  });

  it("connects containers on three nodes: ping both ways and a 10 MB TCP transfer", async () => {
    for (const [from, to] of [
      ["a", "b"],
      ["a", "c"],
      ["b", "c"],
      ["c", "a"],
    ] as const) {
      assert.ok(await topo.ping(byName(from).netns, byName(to).ip), `${from} -> ${to}`);
    }
    const r = await transfer(
      topo.ex,
      byName("a").netns,
      byName("b").netns,
      byName("b").ip,
      5001,
      10 * 1024 * 1024,
    );
    assert.equal(r.received, r.sent, "10 MB arrived intact");
    assert.match(r.sent, /^10485760 [0-9a-f]{64}$/);
  });

  it("creates the VXLAN device with the network's VNI, no learning, MTU underlay − 50", async () => {
    const out = await topo.ex.ip(["-d", "link", "show", vxlanDevice(4097)], {
      netns: sandboxNetns(prefix(1), 4097),
    });
    assert.match(out, /vxlan id 4097 /);
    assert.match(out, /mtu 1450/);
    assert.match(out, /nolearning/);
    const eth0 = await topo.ex.ip(["link", "show", "eth0"], { netns: byName("a").netns });
    assert.match(eth0, /mtu 1450/);
  });

  it("creates nothing for a network on a node without an endpoint on it", async () => {
    const all = await topo.ex.netnsList();
    assert.ok(!all.includes(sandboxNetns(prefix(1), 4098)), "n1 has no ov2 endpoint");
    assert.ok(all.includes(sandboxNetns(prefix(2), 4098)));
  });

  it("isolates overlays: d (ov2) reaches none of a, b, c", async () => {
    for (const name of ["a", "b", "c"]) {
      assert.equal(await topo.ping(byName("d").netns, byName(name).ip), false, `d -> ${name}`);
    }
  });

  it("a restarted agent's driver adopts everything without a single change", async () => {
    const fresh = new OverlayKernel(topo.ex, { prefix: prefix(2), nodeNetns: topo.node(2).netns });
    const r = await fresh.reconcile(desiredFor(2));
    assert.deepEqual(r, { batches: 0, createdSandboxes: [], deletedSandboxes: [] });
  });

  it("repairs an FDB entry deleted by hand", async () => {
    const ns = sandboxNetns(prefix(1), 4097);
    await topo.ex.bridge(["fdb", "del", mac(byName("b").ip), "dev", vxlanDevice(4097), "self"], {
      netns: ns,
    });
    assert.equal(await topo.ping(byName("a").netns, byName("b").ip), false, "broken by hand");
    const r = await drivers.get(1)?.reconcile(desiredFor(1));
    assert.equal(r?.batches, 1);
    assert.ok(await topo.ping(byName("a").netns, byName("b").ip));
  });

  it("repairs an endpoint veth deleted by hand", async () => {
    const out = await topo.ex.ipJson<{ ifname: string }>(["link", "show", "master", "br0"], {
      netns: sandboxNetns(prefix(3), 4097),
    });
    const veth = out.find((l) => l.ifname.startsWith("ve"))?.ifname ?? "";
    await topo.ex.ip(["link", "del", veth], { netns: sandboxNetns(prefix(3), 4097) });
    await drivers.get(3)?.reconcile(desiredFor(3));
    assert.ok(await topo.ping(byName("c").netns, byName("a").ip));
  });

  it("repairs a container's address flushed by hand (a resync reads the containers' sides in one process)", async () => {
    const a = byName("a");
    await topo.ex.ip(["addr", "flush", "dev", "eth0"], { netns: a.netns });
    assert.equal(await topo.ping(a.netns, byName("b").ip), false, "broken by hand");
    const spawnedBefore = topo.ex.spawned.get("sh") ?? 0;
    await drivers.get(1)?.reconcile(desiredFor(1), true);
    assert.equal((topo.ex.spawned.get("sh") ?? 0) - spawnedBefore, 1, "one shell read the containers");
    assert.ok(await topo.ping(a.netns, byName("b").ip));
  });

  it("withdraws a dead node's entries everywhere and restores them when it returns", async () => {
    deadNodes.add(3);
    await reconcileAll();
    const fdb = await topo.ex.bridge(["fdb", "show", "dev", vxlanDevice(4097)], {
      netns: sandboxNetns(prefix(1), 4097),
    });
    const tunnelled = fdb.split("\n").filter((l) => l.includes(" dst "));
    assert.ok(!tunnelled.some((l) => l.startsWith(mac(byName("c").ip))), `c's entry withdrawn on n1: ${fdb}`);
    deadNodes.delete(3);
    await reconcileAll();
    assert.ok(await topo.ping(byName("a").netns, byName("c").ip), "c reachable again, never re-created");
  });

  it("removes a network's sandbox when its last local endpoint leaves", async () => {
    const d = byName("d");
    containers.splice(containers.indexOf(d), 1);
    const r = await drivers.get(2)?.reconcile(desiredFor(2));
    assert.deepEqual(r?.deletedSandboxes, [sandboxNetns(prefix(2), 4098)]);
    assert.ok(await topo.ping(byName("b").netns, byName("a").ip), "b unaffected");
  });

  it("gives the node itself a port on an overlay (the routing mesh's ingress port)", async () => {
    const desired = desiredFor(1);
    desired.local.push({
      id: "node-n1/net-ov1",
      networkId: ov1.id,
      containerNetns: undefined,
      ifname: "ingress0",
      ip: "10.10.1.250",
      mac: mac("10.10.1.250"),
      defaultRoute: false,
    });
    await drivers.get(1)?.reconcile(desired);
    const onN2 = desiredFor(2);
    onN2.remote.push({
      networkId: ov1.id,
      ip: "10.10.1.250",
      mac: mac("10.10.1.250"),
      vtep: topo.node(1).address,
    });
    await drivers.get(2)?.reconcile(onN2);
    assert.ok(await topo.ping(topo.node(1).netns, byName("b").ip), "n1's own namespace reaches b on n2");
    const again = await drivers.get(1)?.reconcile(desired);
    assert.equal(again?.batches, 0, "adopted on the next reconcile");
    await reconcileAll();
    const links = await topo.ex.ip(["link", "show"], { netns: topo.node(1).netns });
    assert.ok(!links.includes("ingress0"), "removed with its endpoint");
  });

  it("rolls back a network whose setup fails, leaving nothing behind", async () => {
    const bad: OverlayNetwork = { ...ov2, id: "net-bad", vni: 4099, gateway: "10.10.9.300" };
    const ns = await topo.container(1, "e");
    const driver = drivers.get(1) as OverlayKernel;
    const desired = desiredFor(1);
    desired.networks.push(bad);
    desired.local.push({
      id: "e/net-bad",
      networkId: bad.id,
      containerNetns: ns,
      ifname: "eth0",
      ip: "10.10.2.9",
      mac: mac("10.10.2.9"),
      defaultRoute: false,
    });
    await assert.rejects(driver.reconcile(desired), /10\.10\.9\.300/);
    const all = await topo.ex.netnsList();
    assert.ok(!all.includes(sandboxNetns(prefix(1), 4099)));
    const links = await topo.ex.ip(["link", "show"], { netns: topo.node(1).netns });
    assert.ok(!links.includes(vxlanDevice(4099)));
    assert.ok(await topo.ping(byName("a").netns, byName("b").ip), "ov1 untouched");
  });
});
