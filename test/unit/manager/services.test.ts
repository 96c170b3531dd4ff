/**
 * Services over the in-memory store: published-port allocation and conflicts (also
 * between two racing requests), the scheduler job driven step by step on a virtual clock
 * (a down node's tasks stay for the grace, then move), and the dispatcher view giving
 * each node every service but only its own tasks — in snapshots and in resumed batches;
 * `--update-monitor` (Docker's Spec.UpdateConfig.Monitor) from flag to wire: parsing and
 * refusals, what create/update store (nothing on a bad value), what a record written
 * before the field existed means (5 s), and `service inspect`'s nanoseconds.
 */
import assert from "node:assert/strict";
import { VirtualClock } from "../../../common/clock.js";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import { silentLogger } from "../../../common/logger.js";
import { networkRequest } from "../../../common/network-spec.js";
import { ClusterService } from "../../../manager/cluster/index.js";
import { IntentView } from "../../../manager/dispatcher/intent-view.js";
import { AttachmentService, NetworkService } from "../../../manager/networks/index.js";
import { NodeService } from "../../../manager/cluster/index.js";
import {
  applyTaskStatus,
  DEFAULT_UPDATE_MONITOR_MS,
  parseServiceSpec,
  parseUpdateMonitor,
  parseUpdateSpec,
  SchedulerJob,
  ServiceControl,
  type CreateServiceInput,
} from "../../../manager/services/index.js";
import {
  keys,
  MemoryKv,
  Store,
  type ServiceRecord,
  type SessionRecord,
  type TaskRecord,
} from "../../../manager/store/index.js";
import { inspectView } from "../../../cli/service.js";
import { createServiceInput, serviceToProto, updateServiceInput } from "../../../manager/grpc/convert.js";
import type { CreateServiceRequest__Output } from "../../../proto/generated/swarmnet/v1/CreateServiceRequest.js";
import type { Service__Output } from "../../../proto/generated/swarmnet/v1/Service.js";
import type { UpdateServiceRequest__Output } from "../../../proto/generated/swarmnet/v1/UpdateServiceRequest.js";
import { TEST_CSR } from "../../support/pki.js";

const tick = () => new Promise((r) => setImmediate(r));

function svc(name: string, more: Partial<CreateServiceInput> = {}): CreateServiceInput {
  return {
    name,
    mode: "",
    replicas: undefined,
    networks: [],
    ports: [],
    endpointMode: "",
    command: ["true"],
    env: {},
    updateMonitor: "",
    ...more,
  };
}

const port = (targetPort: number, publishedPort = 0, protocol = "tcp", mode = "") => ({
  protocol,
  targetPort,
  publishedPort,
  mode,
});

async function setup() {
  const kv = new MemoryKv();
  const store = new Store(kv);
  const cluster = new ClusterService(store);
  const init = await cluster.init({
    hostname: "n1",
    advertiseAddr: "100.64.1.1",
    underlayAddrs: [],
    defaultAddrPools: [],
    defaultAddrPoolMaskLength: 0,
    dataPathPort: 0,
    keyRotationIntervalMs: 0,
    csr: TEST_CSR,
  });
  const wt = await cluster.joinToken("worker", false);
  const n2 = await cluster.join({
    token: wt,
    hostname: "n2",
    advertiseAddr: "100.64.1.2",
    underlayAddrs: [],
    csr: TEST_CSR,
  });
  const view = new IntentView(kv, 1000);
  await view.start();
  const clock = new VirtualClock();
  let wall = Date.parse("2025-01-01T00:00:00Z");
  let ids = 0;
  const job = new SchedulerJob(
    store,
    view.reader,
    clock,
    { nodeDownGraceMs: 5_000, restartDelayMs: 1_000, historyLimit: 5, tickMs: 500, debounceMs: 5 },
    { newId: () => `task${++ids}`, now: () => new Date(wall) },
    silentLogger(),
  );
  const session = async (nodeId: string, on: boolean) => {
    const key = keys.session(nodeId, "s");
    const record: SessionRecord = { nodeId, sessionId: "s", manager: "m", since: "" };
    await store.transact(async (tx) => (on ? tx.put(key, record) : tx.delete(key)));
    await tick();
  };
  const settle = async () => {
    await tick();
    await job.reconcileNow();
    await tick();
  };
  return {
    kv,
    store,
    view,
    clock,
    job,
    session,
    settle,
    services: new ServiceControl(store),
    networks: new NetworkService(store),
    n1: init.nodeId,
    n2: n2.nodeId,
    wallNow: () => new Date(wall),
    advance: (ms: number) => {
      wall += ms;
      clock.advance(ms);
    },
    tasks: async () => (await store.list<TaskRecord>(keys.tasksPrefix)).sort((a, b) => a.slot - b.slot),
  };
}

describe("services (in-memory store)", () => {
  it("a missing published port is the lowest free one of 30000-32767, per protocol", async () => {
    const { services } = await setup();
    await services.create(svc("a", { ports: [port(80, 30000)] }));
    const b = await services.create(svc("b", { ports: [port(80), port(53, 0, "udp")] }));
    assert.deepEqual(
      b.ports.map((p) => `${p.publishedPort}/${p.protocol}`),
      ["30001/tcp", "30000/udp"],
    );
  });

  it("two requests racing for one port: exactly one wins, the other is refused", async () => {
    const { services, store } = await setup();
    const results = await Promise.allSettled([
      services.create(svc("a", { ports: [port(80, 8080)] })),
      services.create(svc("b", { ports: [port(81, 8080)] })),
    ]);
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
    const refused = results.find((r) => r.status === "rejected");
    assert.ok(refused?.status === "rejected" && isSwarmnetError(refused.reason, ErrorCode.PortInUse));
    assert.equal((await store.listEntries(keys.portsPrefix)).length, 1);
  });

  it("the scheduler leaves a down node's tasks for the grace, then moves them", async () => {
    const { services, session, settle, advance, tasks, n1, n2, job } = await setup();
    job.start();
    await session(n1, true);
    await session(n2, true);
    await services.create(svc("web", { replicas: 2 }));
    await settle();
    assert.deepEqual((await tasks()).map((t) => t.nodeId).sort(), [n1, n2].sort());
    await session(n2, false);
    await settle();
    advance(4_000);
    await settle();
    assert.deepEqual(
      (await tasks())
        .filter((t) => t.desiredState === "running")
        .map((t) => t.nodeId)
        .sort(),
      [n1, n2].sort(),
    );
    advance(1_500);
    await settle();
    const after = await tasks();
    assert.deepEqual(
      after.filter((t) => t.desiredState === "running").map((t) => t.nodeId),
      [n1, n1],
    );
    assert.equal(after.find((t) => t.nodeId === n2)?.state, "orphaned");
    job.stop();
  });

  it("status reports: running, failed (then replaced after the delay), shutdown releases the addresses", async () => {
    const { services, networks, session, settle, advance, tasks, n1, store, job, wallNow } = await setup();
    job.start();
    await session(n1, true);
    await networks.create(networkRequest("ov", { driver: "overlay", subnets: ["10.9.0.0/24"] }));
    await services.create(svc("web", { networks: ["ov"] }));
    await settle();
    const [t] = await tasks();
    assert.ok(t);
    assert.equal(t.networks.length, 1);
    const addressKey = keys.address(t.networks[0]?.networkId ?? "", t.networks[0]?.ip ?? "");
    assert.ok(await store.get(addressKey));
    const report = (state: string, exitCode = 0) =>
      applyTaskStatus(
        store,
        n1,
        [{ taskId: t.id, serviceId: t.serviceId, state, exitCode, message: "" }],
        () => undefined,
        wallNow,
      );
    await report("running");
    assert.equal((await tasks())[0]?.state, "running");
    await report("failed", 2);
    await settle();
    assert.equal(
      (await tasks()).filter((x) => x.desiredState === "running").length,
      0,
      "no replacement before the delay",
    );
    advance(1_100);
    await settle();
    const now = await tasks();
    assert.equal(now.filter((x) => x.desiredState === "running").length, 1, "replaced after the delay");
    assert.equal(now.find((x) => x.id === t.id)?.desiredState, "shutdown");
    await report("shutdown");
    const old = (await tasks()).find((x) => x.id === t.id);
    assert.equal(old?.released, true);
    assert.equal(old?.state, "failed", "a failed task stays failed in the history");
    assert.equal(await store.get(addressKey), undefined, "its address is free");
    await assert.rejects(report("exploded"), /invalid task state "exploded"/);
    job.stop();
  });

  it("the dispatcher view: every service to every node, each node only its own tasks and endpoint", async () => {
    const { services, session, settle, view, tasks, n1, n2, job } = await setup();
    job.start();
    await session(n1, true);
    await session(n2, true);
    const revision = view.revision;
    await services.create(svc("web", { replicas: 2, ports: [port(80, 8080)] }));
    await settle();
    const all = await tasks();
    for (const node of [n1, n2]) {
      const snap = view.snapshot(node);
      assert.deepEqual(
        snap.services.map((s) => s.name),
        ["web"],
      );
      assert.deepEqual(
        snap.tasks.map((t) => t.id),
        all.filter((t) => t.nodeId === node).map((t) => t.id),
      );
      assert.ok(snap.ingressEndpoint !== undefined);
      const resumed = view.batchesAfter(revision, node) ?? [];
      const seen = resumed.flatMap((b) => b.changes).filter((c) => c.kind === "taskUpsert");
      assert.ok(seen.length > 0);
      assert.ok(
        seen.every((c) => c.kind === "taskUpsert" && c.task.nodeId === node),
        "only its own tasks",
      );
    }
    assert.notEqual(view.snapshot(n1).ingressEndpoint?.ip, view.snapshot(n2).ingressEndpoint?.ip);
    job.stop();
    await view.stop();
  });

  it("a removed node's standalone containers give their addresses back", async () => {
    const { networks, store, settle, n2, job } = await setup();
    job.start();
    await networks.create({
      name: "att",
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
    const a = await new AttachmentService(store).attach({
      nodeId: n2,
      network: "att",
      containerId: "c1",
      containerName: "c1",
      ip: undefined,
    });
    await settle();
    assert.ok(await store.get(keys.address(a.network.id, a.ip)), "kept while the node is a member");
    await new NodeService(store, async () => undefined).remove(n2, true);
    await settle();
    assert.equal(await store.get(keys.address(a.network.id, a.ip)), undefined);
    assert.equal(await store.get(keys.attachment(a.network.id, "container:c1")), undefined);
    job.stop();
  });
});

const update = (service: string, updateMonitor: string) => ({
  service,
  replicas: undefined,
  networkAdd: [],
  networkRm: [],
  publishAdd: [],
  publishRm: [],
  updateMonitor,
  constraintAdd: [],
  constraintRm: [],
});

function invalidArgument(message: RegExp) {
  return (err: unknown) => {
    assert.ok(isSwarmnetError(err, ErrorCode.InvalidArgument), String(err));
    assert.match(err.message, message);
    assert.equal(err.message.split("\n").length, 1);
    return true;
  };
}

describe("services: --update-monitor", () => {
  it("takes Go's duration syntax as Docker does, in whole milliseconds", () => {
    const cases: [string, number][] = [
      ["500ms", 500],
      ["2s", 2000],
      ["1m30s", 90_000],
      ["1.5s", 1500],
      ["0s", 0],
      ["0", 0],
      ["1500us", 2],
    ];
    for (const [text, ms] of cases) assert.equal(parseUpdateMonitor(text), ms, text);
  });

  it("refuses what Docker refuses, naming the flag and the value", () => {
    for (const text of ["5", "soon", "1m30", "2 s", " ", "-x"]) {
      assert.throws(
        () => parseUpdateMonitor(text),
        invalidArgument(
          new RegExp(
            `^invalid argument ${JSON.stringify(JSON.stringify(text)).slice(1, -1)} for "--update-monitor" flag: use a duration like 500ms, 2s or 1m30s$`,
          ),
        ),
        text,
      );
    }
    assert.throws(
      () => parseUpdateMonitor("-1s"),
      invalidArgument(/^--update-monitor cannot be negative, got "-1s"$/),
    );
  });

  it("create: Docker's 5 s when not given; update: unchanged when not given", () => {
    assert.equal(parseServiceSpec(svc("web")).updateMonitorMs, DEFAULT_UPDATE_MONITOR_MS);
    assert.equal(parseServiceSpec(svc("web", { updateMonitor: "2s" })).updateMonitorMs, 2000);
    assert.equal(parseUpdateSpec(update("web", "")).updateMonitorMs, undefined);
    assert.equal(parseUpdateSpec(update("web", "750ms")).updateMonitorMs, 750);
  });

  it("is stored by create and changed by update (a new version); a bad value stores nothing", async () => {
    const { store, services } = await setup();
    const web = await services.create(svc("web", { updateMonitor: "2s" }));
    assert.equal(web.updateMonitorMs, 2000);
    await assert.rejects(
      services.create(svc("bad", { updateMonitor: "2" })),
      invalidArgument(/"--update-monitor"/),
    );
    assert.deepEqual(
      (await services.list()).map((s) => s.name),
      ["web"],
    );
    const changed = await services.update(update("web", "500ms"));
    assert.equal(changed.updateMonitorMs, 500);
    assert.equal(changed.version, web.version + 1);
    await assert.rejects(services.update(update("web", "-1s")), invalidArgument(/cannot be negative/));
    const stored = await store.get<ServiceRecord>(keys.service(web.id));
    assert.equal(stored?.updateMonitorMs, 500);
    assert.equal(stored?.version, changed.version);
    const same = await services.update(update("web", "500ms"));
    assert.equal(same.version, changed.version, "an unchanged monitor is no new version");
  });

  it("a record written before the field existed means 5 s", async () => {
    const { store, services } = await setup();
    const web = await services.create(svc("web"));
    const old = await store.get<ServiceRecord>(keys.service(web.id));
    assert.ok(old !== undefined);
    delete old.updateMonitorMs;
    await store.transact(async (tx) => tx.put(keys.service(web.id), old));
    assert.equal((await services.inspect("web")).updateMonitorMs, 5000);
    assert.equal((await services.update(update("web", ""))).updateMonitorMs, 5000);
  });

  it("crosses the wire both ways and shows in inspect as Docker's nanoseconds", async () => {
    const { services } = await setup();
    const req = { ...svc("web"), replicasSet: false, replicas: 0, updateMonitor: "1m30s" };
    assert.equal(createServiceInput(req as CreateServiceRequest__Output).updateMonitor, "1m30s");
    const up = { ...update("web", "3s"), replicasSet: false, replicas: 0 };
    assert.equal(updateServiceInput(up as UpdateServiceRequest__Output).updateMonitor, "3s");
    const wire = serviceToProto(
      await services.create(createServiceInput(req as CreateServiceRequest__Output)),
    );
    assert.equal(wire.updateMonitorMs, "90000");
    const view = inspectView({ ...wire, vips: [] } as unknown as Service__Output);
    assert.deepEqual(view.Spec.UpdateConfig, { Monitor: 90_000_000_000 });
  });
});
