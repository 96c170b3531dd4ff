import assert from "node:assert/strict";
import { VirtualClock } from "../../../common/clock.js";
import { ErrorCode, type SwarmnetError } from "../../../common/errors.js";
import { silentLogger } from "../../../common/logger.js";
import { applyBatch, diffSnapshot, emptyState } from "../../../agent/dispatcher/intent.js";
import { ClusterService, NodeService } from "../../../manager/cluster/index.js";
import { Dispatcher, type SessionOutput, type SessionSink } from "../../../manager/dispatcher/dispatcher.js";
import { IntentView } from "../../../manager/dispatcher/intent-view.js";
import { sessionOutputToProto } from "../../../manager/grpc/convert.js";
import { NetworkService } from "../../../manager/networks/index.js";
import { MemoryKv, Store } from "../../../manager/store/index.js";
import { protoType } from "../../../common/proto.js";
import { networkRequest } from "../../../common/network-spec.js";
import type { ChangeBatch__Output } from "../../../proto/generated/swarmnet/v1/ChangeBatch.js";
import type { SessionMessage__Output } from "../../../proto/generated/swarmnet/v1/SessionMessage.js";
import type { SessionSnapshot__Output } from "../../../proto/generated/swarmnet/v1/SessionSnapshot.js";
import { TEST_CSR } from "../../support/pki.js";

class FakeSink implements SessionSink {
  readonly messages: SessionOutput[] = [];
  ended: SwarmnetError | "clean" | undefined;
  private closers: (() => void)[] = [];
  write(m: SessionOutput): void {
    this.messages.push(m);
  }
  end(err?: SwarmnetError): void {
    this.ended = err ?? "clean";
  }
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }
  /** The agent goes away. */
  close(): void {
    for (const fn of this.closers) fn();
  }
}

const tick = () => new Promise((r) => setImmediate(r));

async function setup() {
  const kv = new MemoryKv();
  const store = new Store(kv);
  const clusterSvc = new ClusterService(store);
  await clusterSvc.init({
    hostname: "n1",
    advertiseAddr: "100.64.1.1",
    underlayAddrs: [],
    defaultAddrPools: [],
    defaultAddrPoolMaskLength: 0,
    dataPathPort: 0,
    keyRotationIntervalMs: 0,
    csr: TEST_CSR,
  });
  const token = await clusterSvc.joinToken("worker", false);
  const node = await clusterSvc.join({
    hostname: "n2",
    advertiseAddr: "100.64.1.2",
    underlayAddrs: [],
    token,
    csr: TEST_CSR,
  });
  const view = new IntentView(kv, 100);
  await view.start();
  const lease = await kv.grantLease(5);
  const clock = new VirtualClock();
  const dispatcher = new Dispatcher(
    store,
    view,
    () => lease.id,
    { managerName: "m1", heartbeatPeriodMs: 1000, heartbeatGrace: 3, resumeWaitMs: 100 },
    clock,
    silentLogger(),
  );
  dispatcher.start();
  const request = (resumeRevision = 0) => ({
    nodeId: node.nodeId,
    hostname: "n2",
    advertiseAddr: "100.64.1.2",
    underlayAddrs: ["100.64.1.2/16"],
    capabilities: { kernelRelease: "6.1", features: [{ name: "vxlan", available: true, detail: "" }] },
    resumeRevision,
  });
  const nodes = new NodeService(store, async () => "m1");
  const status = async () => (await nodes.list()).find((n) => n.hostname === "n2")?.status;
  return {
    kv,
    store,
    clusterSvc,
    node,
    view,
    clock,
    dispatcher,
    request,
    status,
    networks: new NetworkService(store),
  };
}

/** Feeds what a sink received to the agent's pure intent logic, as the wire would. */
function agentState(sink: FakeSink) {
  const state = emptyState();
  for (const m of sink.messages) {
    const msg = sessionOutputToProto(m) as SessionMessage__Output;
    if (msg.snapshot) diffSnapshot(state, msg.snapshot);
    if (msg.changes) applyBatch(state, msg.changes);
  }
  return state;
}

describe("dispatcher (server side, in-memory store, virtual clock)", () => {
  it("a new session gets a snapshot, then every change; the node turns ready with its capabilities", async () => {
    const t = await setup();
    const sink = new FakeSink();
    await t.dispatcher.open(t.request(), sink);
    assert.equal(sink.messages[0]?.kind, "snapshot");
    assert.equal(await t.status(), "ready");
    const n = await t.networks.create({
      name: "web",
      driver: "overlay",
      subnets: [],
      gateways: [],
      ipRanges: [],
      auxAddresses: [],
      options: {},
      labels: {},
      attachable: true,
      ingress: false,
      internal: false,
      ipamDriver: "",
      ipamOptions: {},
    });
    for (let i = 0; i < 50 && !agentState(sink).networks.has(n.id); i++) await tick();
    const state = agentState(sink);
    assert.deepEqual([...state.networks.values()].map((x) => x.name).sort(), ["ingress", "web"]);
    assert.deepEqual(
      state.seeds.map((s) => s.hostname),
      ["n2"],
    );
    assert.equal((await t.store.getNode(t.node.nodeId))?.capabilities?.features[0]?.name, "vxlan");
  });

  it("a reconnecting agent with a known revision resumes without a snapshot", async () => {
    const t = await setup();
    const first = new FakeSink();
    await t.dispatcher.open(t.request(), first);
    const seen = t.view.revision;
    first.close();
    await t.networks.create(networkRequest("later", { driver: "overlay" }));
    for (let i = 0; i < 50 && t.view.revision === seen; i++) await tick();
    const second = new FakeSink();
    await t.dispatcher.open(t.request(seen), second);
    assert.equal(second.messages[0]?.kind, "resumed");
    const names = second.messages.flatMap((m) =>
      m.kind === "changes"
        ? m.batch.changes.flatMap((c) => (c.kind === "networkUpsert" ? [c.network.name] : []))
        : [],
    );
    assert.deepEqual(names, ["later"]);
  });

  it("a session without heartbeats ends and the node turns down; heartbeats keep it", async () => {
    const t = await setup();
    const sink = new FakeSink();
    await t.dispatcher.open(t.request(), sink);
    const sessionId = sink.messages[0]?.kind === "snapshot" ? sink.messages[0].sessionId : "";
    for (let i = 0; i < 5; i++) {
      t.clock.advance(1000);
      t.dispatcher.heartbeat(sessionId, t.node.nodeId);
    }
    assert.equal(sink.ended, undefined);
    t.clock.advance(4000);
    assert.equal((sink.ended as SwarmnetError | undefined)?.code, ErrorCode.Unavailable);
    for (let i = 0; i < 20 && (await t.status()) !== "down"; i++) await tick();
    assert.equal(await t.status(), "down");
    assert.throws(() => t.dispatcher.heartbeat(sessionId, t.node.nodeId), /no session/);
  });

  it("a node that leaves has its stream ended as unauthenticated and cannot open another", async () => {
    const t = await setup();
    const sink = new FakeSink();
    await t.dispatcher.open(t.request(), sink);
    await t.clusterSvc.leave(t.node.nodeId, false);
    for (let i = 0; i < 50 && sink.ended === undefined; i++) await tick();
    assert.equal((sink.ended as SwarmnetError | undefined)?.code, ErrorCode.Unauthenticated);
    await assert.rejects(
      t.dispatcher.open(t.request(), new FakeSink()),
      /no longer valid: the node left or was removed/,
    );
  });
});

describe("agent intent (pure)", () => {
  it("drops a batch at or below its revision and diffs a snapshot into changes", async () => {
    const state = emptyState();
    // Messages as the wire delivers them: every field present, defaults filled in.
    const wire = <T>(type: string, value: object): T =>
      protoType(type).toObject(protoType(type).fromObject(value), {
        longs: String,
        enums: String,
        defaults: true,
        arrays: true,
        objects: true,
        oneofs: true,
      }) as T;
    const net = (id: string) => ({ id, name: id, driver: "overlay", scope: "swarm", vni: 4096 });
    const snapshot = (revision: string, ids: string[]) =>
      wire<SessionSnapshot__Output>("SessionSnapshot", {
        revision,
        networks: ids.map(net),
        managers: ["m:1"],
      });
    const snap = snapshot("5", ["a", "b"]);
    assert.equal(diffSnapshot(state, snap).filter((e) => e.kind === "networkUpsert").length, 2);
    assert.deepEqual(
      applyBatch(
        state,
        wire<ChangeBatch__Output>("ChangeBatch", {
          revision: "5",
          changes: [{ networkRemoved: { id: "a", name: "a" } }],
        }),
      ),
      [],
    );
    const again = snapshot("9", ["b", "c"]);
    const events = diffSnapshot(state, again);
    assert.deepEqual(events.map((e) => `${e.kind}:${"network" in e ? e.network.name : ""}`).sort(), [
      "networkRemoved:a",
      "networkUpsert:c",
    ]);
    assert.equal(state.revision, 9);
  });
});
