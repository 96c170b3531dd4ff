/**
 * What this node publishes in the gossiped endpoint tables: a task names its service
 * (load-balancing backend, `tasks.SERVICE`) only while its process runs.
 */
import assert from "node:assert/strict";
import { desiredFacts } from "../../../agent/endpoint-facts.js";
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

function snapshot(c: ContainerRecord): NodeSnapshot {
  return {
    node: { name: "n1", advertiseAddr: "100.64.1.1", underlayMtu: 1500 },
    intent: undefined,
    endpoints: [],
    containers: [c],
    localNetworks: [],
    settling: false,
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
});
