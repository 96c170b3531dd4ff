/**
 * Three manager processes on a three-member etcd cluster, with agents' dispatcher
 * streams (real DispatcherClients in this process): concurrent creates from every
 * manager, leader hand-over after kill -9, streams moving to a live manager without
 * losing a change, and an etcd member lost while the cluster keeps serving.
 */
import assert from "node:assert/strict";
import { DispatcherClient } from "../../../agent/dispatcher/index.js";
import type { ManagerClient } from "../../../cli/manager-client.js";
import type { ClusterInfo__Output } from "../../../proto/generated/swarmnet/v1/ClusterInfo.js";
import type { ListNodesResponse__Output } from "../../../proto/generated/swarmnet/v1/ListNodesResponse.js";
import type { Network__Output } from "../../../proto/generated/swarmnet/v1/Network.js";
import { eventually, Fixture, type JoinedNode, type ManagerProc } from "./support.js";

const createOn = (client: ManagerClient, name: string) =>
  client.call<Network__Output>((c, o, cb) => c.networks.Create({ name, driver: "overlay" }, o, cb));
const leaderOf = async (client: ManagerClient) =>
  (await client.call<ClusterInfo__Output>((c, o, cb) => c.cluster.Inspect({}, o, cb))).leader;

describe("managers: failover on a 3-member etcd cluster (integration)", function () {
  this.timeout(120_000);
  const fx = new Fixture();
  const agents: { name: string; client: DispatcherClient; moves: { resumed: boolean }[] }[] = [];

  before(async () => {
    await fx.startEtcd(3);
    await Promise.all(
      ["m1", "m2", "m3"].map((n) => fx.startManager(n, fx.endpoints, ["--heartbeat-period=500ms"])),
    );
    await fx.init();
    // m2 and m3 join as managers (their certificates open their listeners); their
    // agents' streams use those certificates, the workers' their own.
    const joinedManagers = new Map<string, JoinedNode>();
    for (const m of fx.managers.slice(1)) joinedManagers.set(m.name, await fx.joinManager(m));
    const names = ["m2", "m3", "w1", "w2", "w3", "w4"];
    const addresses = fx.managers.map((m) => m.address);
    for (const [i, name] of names.entries()) {
      const joined = joinedManagers.get(name) ?? (await fx.joinNode(name, "worker", `127.0.0.${i + 2}`));
      // Spread the streams: each agent starts with a different manager first.
      const rotated = [...addresses.slice(i % 3), ...addresses.slice(0, i % 3)];
      const client = new DispatcherClient({
        managers: rotated,
        tls: joined.tls,
        clusterId: joined.response.clusterId,
        hostname: name,
        advertiseAddr: `127.0.0.${i + 2}`,
        underlayAddrs: [],
        capabilities: { kernelRelease: "test", features: [{ name: "vxlan", available: true, detail: "" }] },
      });
      const agent = { name, client, moves: [] as { resumed: boolean }[] };
      client.on("connected", (e) => agent.moves.push({ resumed: e.resumed }));
      client.start();
      agents.push(agent);
    }
    await Promise.all(agents.map((a) => a.client.whenReady()));
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.client.stop()));
    await fx.cleanup();
  });

  it("node ls shows every agent ready, roles, one Leader and the capabilities reported", async () => {
    const admin = fx.client();
    const nodes = await eventually(
      async () => {
        const r = await admin.call<ListNodesResponse__Output>((c, o, cb) => c.nodes.List({}, o, cb));
        return r.nodes.filter((n) => n.status === "ready").length === 6 ? r.nodes : undefined;
      },
      10_000,
      "six ready nodes",
    );
    assert.equal(nodes.filter((n) => n.managerStatus === "Leader").length, 1);
    assert.deepEqual(nodes.map((n) => [n.hostname, n.role]).sort(), [
      ["m1", "manager"],
      ["m2", "manager"],
      ["m3", "manager"],
      ["w1", "worker"],
      ["w2", "worker"],
      ["w3", "worker"],
      ["w4", "worker"],
    ]);
    assert.equal(nodes.find((n) => n.hostname === "w1")?.capabilities?.features[0]?.name, "vxlan");
  });

  it("50 parallel creates from three managers: 50 networks, 50 distinct subnets and VNIs", async () => {
    const perManager = fx.managers.map((m) => fx.client([m.address]));
    const made = await Promise.all(
      Array.from({ length: 50 }, (_, i) => createOn(perManager[i % 3] as ManagerClient, `par${i}`)),
    );
    assert.equal(new Set(made.map((n) => n.name)).size, 50);
    assert.equal(new Set(made.map((n) => n.ipamConfigs[0]?.subnet)).size, 50);
    assert.equal(new Set(made.map((n) => n.vni)).size, 50);
    // Every agent's stream got all 50.
    await eventually(
      async () => agents.every((a) => made.every((n) => a.client.state.networks.has(n.id))),
      10_000,
      "every agent to see the 50 networks",
    );
  });

  it("kill -9 the leader: another leads and creates work within 10 s; streams move without losing a change", async () => {
    const all = fx.client();
    const leaderName = await eventually(async () => (await leaderOf(all)) || undefined, 10_000, "a leader");
    const leader = fx.managers.find((m) => m.name === leaderName) as ManagerProc;
    const survivors = fx.managers.filter((m) => m !== leader);
    const live = fx.client(survivors.map((m) => m.address));
    const onLeader = agents.filter((a) => a.client.manager === leader.address);
    const movesBefore = new Map(agents.map((a) => [a.name, a.moves.length]));

    // Create networks continuously through the survivors while the leader dies.
    const created: string[] = [];
    let creating = true;
    const creator = (async () => {
      for (let i = 0; creating; i++) {
        try {
          created.push((await createOn(live, `during${i}`)).id);
        } catch {
          // a create may fail while etcd's leader changes; the next one retries
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    await fx.killManager(leader, "SIGKILL");
    const newLeader = await eventually(
      async () => {
        const l = await leaderOf(live);
        return l !== "" && l !== leaderName ? l : undefined;
      },
      10_000,
      "a new leader",
    );
    await createOn(live, "after-failover");
    const handover = Date.now() - killedAt;
    assert.ok(handover < 10_000, `hand-over took ${handover} ms`);
    await new Promise((r) => setTimeout(r, 500));
    creating = false;
    await creator;
    assert.ok(created.length > 5, `created ${created.length} networks during the failover`);
    assert.notEqual(newLeader, leaderName);

    await eventually(
      async () => agents.every((a) => created.every((id) => a.client.state.networks.has(id))),
      10_000,
      "every change made during the failover to reach every agent",
    );
    for (const a of onLeader) {
      assert.ok(
        survivors.some((m) => m.address === a.client.manager),
        `${a.name} moved to a live manager`,
      );
      const moves = a.moves.slice(movesBefore.get(a.name) ?? 0);
      assert.ok(moves.length >= 1 && moves.every((m) => m.resumed), `${a.name} resumed without a snapshot`);
    }
    // node ls marks the new leader and the dead manager unreachable once its lease ends.
    await eventually(
      async () => {
        const r = await live.call<ListNodesResponse__Output>((c, o, cb) => c.nodes.List({}, o, cb));
        const by = new Map(r.nodes.map((n) => [n.hostname, n.managerStatus]));
        return by.get(newLeader) === "Leader" && by.get(leaderName) === "Unreachable";
      },
      15_000,
      "node ls to show the new leader",
    );
  });

  it("kill one etcd member: the cluster keeps serving and agents keep receiving", async () => {
    const victim = fx.members[0];
    assert.ok(victim);
    await fx.killMember(victim);
    const live = fx.client(
      fx.managers.filter((m) => m.proc.exitCode === null && m.proc.signalCode === null).map((m) => m.address),
    );
    const n = await eventually(
      async () => createOn(live, "after-etcd-loss"),
      15_000,
      "a create after losing a member",
    );
    await eventually(
      async () => agents.every((a) => a.client.state.networks.has(n.id)),
      15_000,
      "agents to see it",
    );
  });
});
