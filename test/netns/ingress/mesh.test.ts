/**
 * The routing mesh on the real kernel, in the two-node topology of `topology.ts`: what a
 * client outside the cluster and a container inside it see when ports are published,
 * backends change, and bad input arrives. The scenarios both engines must pass (published
 * ports, scale, removal, long bindings, host mode, VIPs) ask their questions through the
 * checks of test/support/mesh-acceptance.ts, which test/vm/ipvs-mesh.ts runs on IPVS.
 */
import assert from "node:assert/strict";
import { ErrorCode } from "../../../common/errors.js";
import { Executor } from "../../../common/executor.js";
import { Mesh, type IngressPublication, type MeshState } from "../../../agent/ingress/index.js";
import { isRoot } from "../../support/netns.js";
import {
  expectBalanced,
  expectHostMode,
  expectLongBinding,
  expectOnly,
  expectRemovalReset,
  holdConnections,
} from "../../support/mesh-acceptance.js";
import {
  BACKENDS,
  C1_ADDR,
  CLIENT_ADDR,
  INGRESS_ADDR,
  MeshTopology,
  NODE_ADDR,
  netnsMeshLab,
} from "./topology.js";

const ALL = BACKENDS.map((b) => b.ip);
const WEB: IngressPublication = {
  serviceId: "web",
  protocol: "tcp",
  publishedPort: 8080,
  targetPort: 80,
  backends: ALL,
};

function nodeState(node: "n1" | "n2", extra: Partial<MeshState> = {}): MeshState {
  return { ingress: [WEB], ingressSource: INGRESS_ADDR[node], ...extra };
}

function names(answers: { task: string }[]): string[] {
  return [...new Set(answers.map((a) => a.task))].sort();
}

describe("ingress routing mesh (netns, real kernel)", function () {
  const ex = new Executor();
  const topo = new MeshTopology(ex);
  const lab = netnsMeshLab(topo, ex);
  let m1: Mesh;
  let m2: Mesh;

  before(async function () {
    if (!isRoot) this.skip();
    m1 = new Mesh(ex, { netns: topo.ns("n1") });
    m2 = new Mesh(ex, { netns: topo.ns("n2") });
    await topo.up();
  });

  after(async () => {
    if (isRoot) await topo.down();
  });

  const ruleset = async (role: string) => ex.nft(["list", "ruleset"], { netns: topo.ns(role) });

  it("a published TCP port balances over every backend, through either node, also those on the other node", async () => {
    await m1.apply(nodeState("n1"));
    await m2.apply(nodeState("n2"));
    for (const node of ["n1", "n2"] as const)
      // Masqueraded to the node's ingress address: replies come back through that node.
      await expectBalanced(
        lab,
        "client",
        lab.url(NODE_ADDR[node], 8080),
        30,
        ["b1", "b2", "b3"],
        INGRESS_ADDR[node],
      );
  });

  it("scales up and down; a removed backend's established connections are reset, a survivor's idle one lives on, bound for days", async () => {
    const withBackends = (node: "n1" | "n2", backends: string[]) =>
      nodeState(node, { ingress: [{ ...WEB, backends }] });
    const [b1, b2] = ALL;
    for (const node of ["n1", "n2"] as const)
      await (node === "n1" ? m1 : m2).apply(withBackends(node, [b1 ?? "", b2 ?? ""]));
    await expectBalanced(lab, "client", lab.url(NODE_ADDR.n2, 8080), 6, ["b1", "b2"]);
    await m1.apply(nodeState("n1"));
    await m2.apply(nodeState("n2"));
    await expectBalanced(lab, "client", lab.url(NODE_ADDR.n2, 8080), 6, ["b1", "b2", "b3"]);
    const held = await holdConnections(lab, "n1", 8080, 3);
    try {
      await expectLongBinding(lab, "n1", held);
      const stats = await m1.apply(withBackends("n1", [b2 ?? ""]));
      assert.ok(stats.conntrackQueued >= 1, "the flows to the removed backends are to be deleted");
      await m1.forgetFlows();
      // The removed tasks still run here: only the mesh can end their connections (a reset).
      assert.doesNotMatch(await expectRemovalReset(lab, held, ["b2"]), /closed/);
    } finally {
      held.kill();
    }
    await expectOnly(lab, "client", lab.url(NODE_ADDR.n1, 8080), 6, ["b2"]);
    await m1.apply(nodeState("n1"));
  });

  it("publishes and unpublishes a UDP port on a running mesh", async () => {
    const udp: IngressPublication = { ...WEB, protocol: "udp", publishedPort: 9090 };
    await m1.apply(nodeState("n1", { ingress: [WEB, udp] }));
    await m2.apply(nodeState("n2", { ingress: [WEB, udp] }));
    for (const node of ["n1", "n2"] as const) {
      const seen = new Set<string>();
      for (let i = 0; i < 9; i++) {
        const raw = await topo.udp("client", NODE_ADDR[node], 9090);
        assert.match(raw, /^Task: b\d\n[\s\S]*Echo: ping\n$/, `UDP through ${node}`);
        seen.add(raw.split("\n")[0] ?? "");
      }
      assert.deepEqual([...seen].sort(), ["Task: b1", "Task: b2", "Task: b3"]);
    }
    await m1.apply(nodeState("n1"));
    await m2.apply(nodeState("n2"));
    for (const node of ["n1", "n2"] as const) {
      const raw = await topo.udp("client", NODE_ADDR[node], 9090, 0, 1500);
      assert.doesNotMatch(raw, /Task:/, `closed on ${node}: ${raw}`);
    }
    assert.equal((await topo.http("client", `http://${NODE_ADDR.n1}:8080/`))?.task !== undefined, true);
  });

  it("a removed backend gets no new connection, and its flows are forgotten", async () => {
    const udp: IngressPublication = { ...WEB, protocol: "udp", publishedPort: 9191 };
    await m1.apply(nodeState("n1", { ingress: [WEB, udp] }));
    // One UDP flow (fixed source port) sticks to one backend while conntrack remembers it.
    const first = (await topo.udp("client", NODE_ADDR.n1, 9191, 40999)).split("\n")[0];
    assert.match(first ?? "", /^Task: b\d$/);
    assert.equal((await topo.udp("client", NODE_ADDR.n1, 9191, 40999)).split("\n")[0], first);
    const stuck = BACKENDS.find((b) => `Task: ${b.role}` === first) ?? assert.fail();
    const rest = ALL.filter((ip) => ip !== stuck.ip);
    const stats = await m1.apply(
      nodeState("n1", {
        ingress: [
          { ...WEB, backends: rest },
          { ...udp, backends: rest },
        ],
      }),
    );
    assert.equal(stats.mode, "incremental");
    assert.ok(stats.conntrackQueued >= 1, "the flows to the removed backend are to be deleted");
    await m1.forgetFlows(); // they go right after the apply; wait for that here
    // The removed task still runs and would answer: only the mesh keeps traffic from it.
    const after = (await topo.udp("client", NODE_ADDR.n1, 9191, 40999)).split("\n")[0];
    assert.match(after ?? "", /^Task: b\d$/);
    assert.notEqual(after, first, "the same flow now goes to a live backend");
    const answers = await topo.tasks("client", `http://${NODE_ADDR.n1}:8080/`, 20);
    assert.equal(answers.length, 20);
    assert.ok(
      !names(answers).includes(stuck.role),
      `no TCP connection to ${stuck.role}: ${names(answers).join(",")}`,
    );
    assert.equal(names(answers).length, 2);
    await m1.apply(nodeState("n1"));
  });

  it("a host-mode port answers only on the node that runs the task, with the client's own address", async () => {
    const b1 = BACKENDS[0] ?? assert.fail();
    await m1.apply(
      nodeState("n1", {
        hostPorts: [
          { taskId: "web.1", protocol: "tcp", publishedPort: 7000, targetIp: b1.ip, targetPort: 80 },
        ],
      }),
    );
    await expectHostMode(lab, 7000, { n1: "b1" }, ["n2"]);
  });

  it("a service VIP balances east-west, from a container's own namespace", async () => {
    const c1 = new Mesh(ex, { netns: topo.ns("c1"), config: { forwarding: false } });
    await c1.apply({
      vips: [
        { serviceId: "web", network: "ingress", vip: "10.255.0.100", backends: ALL },
        {
          serviceId: "web",
          network: "ingress",
          vip: "10.255.0.101",
          ports: [{ protocol: "tcp", port: 8000, targetPort: 80 }],
          backends: ALL,
        },
      ],
    });
    // The backends see the container's own address: no SNAT for VIPs.
    await expectBalanced(lab, "c1", "http://10.255.0.100/", 9, ["b1", "b2", "b3"], C1_ADDR);
    await expectBalanced(lab, "c1", "http://10.255.0.101:8000/", 6, ["b1", "b2", "b3"]);
    assert.equal(await topo.http("c1", "http://10.255.0.101:80/", 2), undefined, "only the listed port");
  });

  it("egress masquerade lets a container reach the outside, as its node", async () => {
    const url = `http://${CLIENT_ADDR}/`;
    assert.equal(await topo.http("c1", url, 2), undefined, "the outside has no route back to containers");
    await m1.apply(nodeState("n1", { egress: { sourceCidrs: ["10.255.0.0/24"], bridges: ["ingbr"] } }));
    const a = await topo.http("c1", url);
    assert.equal(a?.task, "outside");
    assert.ok(a?.remoteAddr.startsWith(`${NODE_ADDR.n1}:`), `masqueraded: ${a?.remoteAddr}`);
    const inside = await topo.http("c1", `http://${BACKENDS[0]?.ip ?? ""}/`);
    assert.ok(inside?.remoteAddr.startsWith(`${C1_ADDR}:`), "traffic on the bridge keeps its source");
    await m1.apply(nodeState("n1"));
  });

  it("bad input changes nothing in the kernel", async () => {
    const before = await ruleset("n1");
    await assert.rejects(
      m1.apply(nodeState("n1", { ingress: [WEB, { ...WEB, serviceId: "api", targetPort: 81 }] })),
      { code: ErrorCode.PortInUse, message: /tcp port 8080 is already published by service web/ },
    );
    await assert.rejects(m1.apply(nodeState("n1", { ingress: [{ ...WEB, protocol: "sctp" as "tcp" }] })), {
      code: ErrorCode.InvalidArgument,
    });
    assert.equal(await ruleset("n1"), before);
  });

  it("resync repairs a table someone edited by hand", async () => {
    await m1.resync(); // the canonical (full-render) listing order, to compare against
    const before = await ruleset("n1");
    await ex.nft(["delete", "element", "ip", "swarmnet", "ingress_ports", "{ tcp . 8080 }"], {
      netns: topo.ns("n1"),
    });
    await ex.nft(["flush", "chain", "ip", "swarmnet", "postrouting"], { netns: topo.ns("n1") });
    assert.equal(
      await topo.http("client", `http://${NODE_ADDR.n1}:8080/`, 2),
      undefined,
      "drift breaks the port",
    );
    const stats = await m1.resync();
    assert.equal(stats.mode, "full");
    assert.equal(await ruleset("n1"), before);
    assert.equal((await topo.tasks("client", `http://${NODE_ADDR.n1}:8080/`, 6)).length, 6);
  });

  it("flush leaves no table behind", async () => {
    await m1.flush();
    await m2.flush();
    assert.doesNotMatch(await ruleset("n1"), /swarmnet/);
    assert.doesNotMatch(await ruleset("n2"), /swarmnet/);
  });
});
