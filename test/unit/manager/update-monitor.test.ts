/**
 * `--update-monitor` (Docker's Spec.UpdateConfig.Monitor) from flag to wire: the spec's
 * parsing and refusals, what `service create/update` store (nothing on a bad value), what
 * a record written before the field existed means (5 s), and the value crossing the wire
 * into `service inspect`'s JSON in nanoseconds, as Docker shows it.
 */
import assert from "node:assert/strict";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import { inspectView } from "../../../cli/service.js";
import { ClusterService } from "../../../manager/cluster/index.js";
import { createServiceInput, serviceToProto, updateServiceInput } from "../../../manager/grpc/convert.js";
import {
  DEFAULT_UPDATE_MONITOR_MS,
  parseServiceSpec,
  parseUpdateMonitor,
  parseUpdateSpec,
  ServiceControl,
  type CreateServiceInput,
} from "../../../manager/services/index.js";
import { keys, MemoryKv, Store, type ServiceRecord } from "../../../manager/store/index.js";
import type { CreateServiceRequest__Output } from "../../../proto/generated/swarmnet/v1/CreateServiceRequest.js";
import type { Service__Output } from "../../../proto/generated/swarmnet/v1/Service.js";
import type { UpdateServiceRequest__Output } from "../../../proto/generated/swarmnet/v1/UpdateServiceRequest.js";
import { TEST_CSR } from "../../support/pki.js";

function svc(name: string, updateMonitor = ""): CreateServiceInput {
  return {
    name,
    mode: "",
    replicas: undefined,
    networks: [],
    ports: [],
    endpointMode: "",
    command: ["true"],
    env: {},
    updateMonitor,
  };
}

const update = (service: string, updateMonitor: string) => ({
  service,
  replicas: undefined,
  networkAdd: [],
  networkRm: [],
  publishAdd: [],
  publishRm: [],
  updateMonitor,
});

function invalidArgument(message: RegExp) {
  return (err: unknown) => {
    assert.ok(isSwarmnetError(err, ErrorCode.InvalidArgument), String(err));
    assert.match(err.message, message);
    assert.equal(err.message.split("\n").length, 1);
    return true;
  };
}

async function setup() {
  const store = new Store(new MemoryKv());
  await new ClusterService(store).init({
    hostname: "n1",
    advertiseAddr: "100.64.1.1",
    underlayAddrs: [],
    defaultAddrPools: [],
    defaultAddrPoolMaskLength: 0,
    dataPathPort: 0,
    keyRotationIntervalMs: 0,
    csr: TEST_CSR,
  });
  return { store, services: new ServiceControl(store) };
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
    for (const text of ["5", "soon", "1m30", "2 s", " "]) {
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
    assert.equal(parseServiceSpec(svc("web", "2s")).updateMonitorMs, 2000);
    assert.equal(parseUpdateSpec(update("web", "")).updateMonitorMs, undefined);
    assert.equal(parseUpdateSpec(update("web", "750ms")).updateMonitorMs, 750);
  });

  it("is stored by create and changed by update (a new version); a bad value stores nothing", async () => {
    const { store, services } = await setup();
    const web = await services.create(svc("web", "2s"));
    assert.equal(web.updateMonitorMs, 2000);
    await assert.rejects(services.create(svc("bad", "2")), invalidArgument(/"--update-monitor"/));
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
