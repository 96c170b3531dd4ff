/**
 * What this node publishes in the gossiped endpoint tables: a task names its service
 * (load-balancing backend, `tasks.SERVICE`) only while its process runs and listens.
 */
import assert from "node:assert/strict";
import { LocalEndpointTable } from "../../../agent/attachments.js";
import { desiredFacts, endpointFactsReconciler } from "../../../agent/endpoint-facts.js";
import type { NetworkDriver } from "../../../agent/drivers/driver.js";
import type { DriverRegistry } from "../../../agent/drivers/registry.js";
import type { NodeSnapshot } from "../../../agent/node-snapshot.js";
import type { ContainerRecord, ContainerStatus } from "../../../agent/sandbox/container.js";

const overlay = { name: "overlay", factData: () => ({ vtep: "100.64.1.1" }) } as unknown as NetworkDriver;
const drivers = { find: () => overlay, all: () => [] } as unknown as DriverRegistry;

function task(status: ContainerStatus): ContainerRecord {
  return {
    id: "c1",
    name: "web.1.x",
    netns: "sn-x-c1",
    command: ["sleep", "1"],
    env: {},
    status,
    pid: status === "running" ? 42 : 0,
    exitCode: 0,
    createdAt: "",
    endpoints: [
      {
        networkId: "net1",
        networkName: "ov",
        driver: "overlay",
        ip: "10.0.1.5",
        prefixLength: 24,
        gateway: "",
        mac: "02:42:0a:00:01:05",
        mtu: 1450,
        internal: false,
        aliases: [],
        ifname: "eth0",
        driverData: {},
      },
    ],
    labels: { serviceId: "svc1", serviceName: "web", taskId: "t1" },
  };
}

function snapshot(c: ContainerRecord | undefined, settling = false): NodeSnapshot {
  return {
    node: { name: "n1", advertiseAddr: "100.64.1.1", underlayMtu: 1500 },
    intent: undefined,
    endpoints: [],
    containers: c === undefined ? [] : [c],
    localNetworks: [],
    settling,
  };
}

describe("endpoint facts this node publishes", () => {
  it("a task is its service's backend only while its process runs; its address is published throughout", () => {
    for (const [status, service] of [
      ["created", ""],
      ["running", "svc1"],
      ["exited", ""],
    ] as const) {
      const [fact] = desiredFacts(snapshot(task(status)), drivers).facts;
      assert.equal(fact?.ip, "10.0.1.5", status);
      assert.equal(fact?.serviceId, service, status);
      assert.equal(fact?.serviceName, service === "" ? "" : "web", status);
    }
  });

  it("a running task waiting for its process to listen is no backend yet; its address is published", () => {
    const [fact] = desiredFacts(snapshot({ ...task("running"), waitingFor: ["80/tcp"] }), drivers).facts;
    assert.equal(fact?.ip, "10.0.1.5");
    assert.equal(fact?.serviceId, "");
  });

  it("while settling, a gone container's entry is withdrawn; the node's own entries and networks stay", async () => {
    const table = new LocalEndpointTable();
    const r = endpointFactsReconciler(
      "n1",
      () => table,
      () => drivers,
    );
    const [fact] = desiredFacts(snapshot(task("running")), drivers).facts;
    assert.ok(fact);
    table.joinNetwork("net1");
    table.publish(fact); // left by the previous run of the agent
    table.publish({ ...fact, key: "node-n1/net1", container: "", serviceId: "", serviceName: "" });
    const settling = snapshot(undefined, true);
    await r.apply(r.desired(settling) ?? assert.fail(), { resync: false });
    assert.deepEqual(
      table.all().map((f) => f.key),
      ["node-n1/net1"],
    );
    assert.deepEqual(table.networks(), ["net1"]);
  });
});
