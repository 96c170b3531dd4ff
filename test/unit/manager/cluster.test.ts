import assert from "node:assert/strict";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import { ClusterService, NodeService, parseJoinToken } from "../../../manager/cluster/index.js";
import { keys, MemoryKv, Store, type SessionRecord } from "../../../manager/store/index.js";
import { TEST_CSR } from "../../support/pki.js";

const addr = (hostname: string, ip: string) => ({
  hostname,
  advertiseAddr: ip,
  underlayAddrs: [`${ip}/16`],
  csr: TEST_CSR,
});

async function initCluster() {
  const store = new Store(new MemoryKv());
  const clusterSvc = new ClusterService(store);
  const first = await clusterSvc.init({
    ...addr("n1", "100.64.1.1"),
    defaultAddrPools: [],
    defaultAddrPoolMaskLength: 0,
    dataPathPort: 0,
    keyRotationIntervalMs: 0,
    csr: TEST_CSR,
  });
  return { store, clusterSvc, first };
}

describe("cluster (in-memory store)", () => {
  it("init makes the caller a manager and refuses a second init", async () => {
    const { clusterSvc, first } = await initCluster();
    assert.equal(first.role, "manager");
    await assert.rejects(
      clusterSvc.init({
        ...addr("n2", "100.64.1.2"),
        defaultAddrPools: [],
        defaultAddrPoolMaskLength: 0,
        dataPathPort: 0,
        keyRotationIntervalMs: 0,
        csr: TEST_CSR,
      }),
      (e: unknown) => isSwarmnetError(e, ErrorCode.AlreadyExists),
    );
    const view = await clusterSvc.inspect();
    assert.equal(view.cluster.dataPathPort, 4789);
    assert.deepEqual(
      view.keyTags.map((k) => `${k.kind}:${k.tag}`),
      ["data:1", "data:2", "data:3", "gossip:1", "gossip:2", "gossip:3"],
    );
  });

  it("tokens decide the role; a rotated token no longer joins; a foreign token says so", async () => {
    const { clusterSvc } = await initCluster();
    const worker = await clusterSvc.joinToken("worker", false);
    const manager = await clusterSvc.joinToken("manager", false);
    assert.match(worker, /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
    assert.equal(
      (await clusterSvc.join({ ...addr("n2", "100.64.1.2"), token: worker, csr: TEST_CSR })).role,
      "worker",
    );
    assert.equal(
      (await clusterSvc.join({ ...addr("n3", "100.64.1.3"), token: manager, csr: TEST_CSR })).role,
      "manager",
    );
    const rotated = await clusterSvc.joinToken("worker", true);
    assert.notEqual(rotated, worker);
    await assert.rejects(
      clusterSvc.join({ ...addr("n4", "100.64.1.4"), token: worker, csr: TEST_CSR }),
      (e: unknown) =>
        isSwarmnetError(e, ErrorCode.Unauthenticated) &&
        /not valid for this cluster/.test(e.message) &&
        !/format|expected SWMTKN/.test(e.message) &&
        !e.message.includes(parseJoinToken(worker).secret),
    );
    assert.equal(
      (await clusterSvc.join({ ...addr("n4", "100.64.1.4"), token: rotated, csr: TEST_CSR })).role,
      "worker",
    );
    const other = await initCluster();
    const foreign = await other.clusterSvc.joinToken("worker", false);
    await assert.rejects(
      clusterSvc.join({ ...addr("n5", "100.64.1.5"), token: foreign, csr: TEST_CSR }),
      /another cluster, or one from before a CA rotation/,
    );
    assert.throws(() => parseJoinToken("nonsense"), /invalid join token/);
  });

  it("node ls: ready from sessions, Leader/Reachable from managers; leave revokes; rm needs down or --force", async () => {
    const { store, clusterSvc, first } = await initCluster();
    const w = await clusterSvc.join({
      ...addr("n2", "100.64.1.2"),
      token: await clusterSvc.joinToken("worker", false),
    });
    const session: SessionRecord = { nodeId: w.nodeId, sessionId: "s1", manager: "n1", since: "" };
    await store.transact(async (tx) => {
      tx.put(keys.session(w.nodeId, "s1"), session);
      tx.put(keys.manager("n1"), { nodeName: "n1", address: "100.64.1.1:4242", since: "" });
    });
    const nodes = new NodeService(store, async () => "n1");
    const ls = await nodes.list();
    assert.deepEqual(
      ls.map((n) => [n.hostname, n.role, n.status, n.managerStatus]),
      [
        ["n1", "manager", "down", "Leader"],
        ["n2", "worker", "ready", ""],
      ],
    );
    await assert.rejects(nodes.remove("n2", false), /not down/);
    await clusterSvc.leave(w.nodeId, false);
    assert.equal((await nodes.list()).find((n) => n.hostname === "n2")?.status, "down");
    await assert.rejects(clusterSvc.leave(w.nodeId, false), /not part of the cluster/);
    await assert.rejects(clusterSvc.leave(first.nodeId, false), /use --force/);
    await nodes.remove("n2", false);
    assert.deepEqual(
      (await nodes.list()).map((n) => n.hostname),
      ["n1"],
    );
  });

  it("a worker joining again after a lost answer replaces the node it left behind; one that ran, or elsewhere, stays", async () => {
    const { store, clusterSvc } = await initCluster();
    const token = await clusterSvc.joinToken("worker", false);
    const nodes = new NodeService(store, async () => "n1");
    const names = async () => (await nodes.list()).map((n) => `${n.hostname}@${n.advertiseAddr}`).sort();
    const lost = await clusterSvc.join({ ...addr("n2", "100.64.1.2"), token });
    const again = await clusterSvc.join({ ...addr("n2", "100.64.1.2"), token });
    assert.notEqual(again.nodeId, lost.nodeId);
    assert.deepEqual(await names(), ["n1@100.64.1.1", "n2@100.64.1.2"]);
    assert.equal((await nodes.list()).find((n) => n.hostname === "n2")?.id, again.nodeId);
    // It opened a session: a second join of that name is a second node, as on Docker.
    await store.transact(async (tx) =>
      tx.put(keys.session(again.nodeId, "s1"), {
        nodeId: again.nodeId,
        sessionId: "s1",
        manager: "n1",
        since: "",
      }),
    );
    await clusterSvc.join({ ...addr("n2", "100.64.1.2"), token });
    // Same name at another address: another machine.
    await clusterSvc.join({ ...addr("n2", "100.64.1.9"), token });
    assert.deepEqual(await names(), ["n1@100.64.1.1", "n2@100.64.1.2", "n2@100.64.1.2", "n2@100.64.1.9"]);
  });

  it("node rm: never the caller's own node, never a manager (demote first); demote keeps a reachable manager", async () => {
    const { store, clusterSvc, first } = await initCluster();
    const token = await clusterSvc.joinToken("manager", false);
    const m2 = await clusterSvc.join({ ...addr("n2", "100.64.1.2"), token });
    const m3 = await clusterSvc.join({ ...addr("n3", "100.64.1.3"), token });
    const register = (name: string, ip: string) =>
      store.transact(async (tx) =>
        tx.put(keys.manager(name), { nodeName: name, address: `${ip}:2377`, since: "" }),
      );
    await register("n1", "100.64.1.1");
    await register("n2", "100.64.1.2");
    const nodes = new NodeService(store, async () => "n1");
    for (const force of [false, true]) {
      await assert.rejects(
        nodes.remove("n1", force, first.nodeId),
        (e: unknown) =>
          isSwarmnetError(e, ErrorCode.Conflict) &&
          /node n1 is the node this command runs on/.test(e.message),
      );
      await assert.rejects(
        nodes.remove("n3", force, first.nodeId),
        /node n3 is a cluster manager\. It must be demoted to worker before removal/,
      );
    }
    // n3's manager is not registered: demoting it leaves n1 and n2, both reachable.
    await nodes.setRole("n3", "worker");
    await nodes.remove("n3", true, first.nodeId);
    assert.deepEqual(
      (await nodes.list()).map((n) => n.hostname),
      ["n1", "n2"],
    );
    // n2 is down (unregistered): n1 may not be demoted, it would leave no manager that answers.
    await store.transact(async (tx) => tx.delete(keys.manager("n2")));
    await assert.rejects(nodes.setRole("n1", "worker"), /last reachable manager/);
    await nodes.setRole("n2", "worker");
    await assert.rejects(nodes.setRole("n1", "worker"), /last manager of the swarm/);
    assert.equal(m2.role, "manager");
    assert.equal(m3.role, "manager");
  });

  it("swarm update --task-history-limit: kept in the cluster record, bounds checked, nothing on a bad value", async () => {
    const { clusterSvc } = await initCluster();
    assert.equal((await clusterSvc.inspect()).cluster.taskHistoryLimit, undefined);
    await clusterSvc.update({ keyRotationIntervalMs: undefined, taskHistoryLimit: 2 });
    assert.equal((await clusterSvc.inspect()).cluster.taskHistoryLimit, 2);
    for (const bad of [0, -1, 1.5, 1001]) {
      await assert.rejects(
        clusterSvc.update({ keyRotationIntervalMs: undefined, taskHistoryLimit: bad }),
        /task history limit must be a whole number from 1 to 1000/,
      );
    }
    assert.equal((await clusterSvc.inspect()).cluster.taskHistoryLimit, 2);
  });
});
