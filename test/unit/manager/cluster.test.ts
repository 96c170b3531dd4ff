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
      (e: unknown) => isSwarmnetError(e, ErrorCode.Unauthenticated) && /rotated/.test(e.message),
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
});
