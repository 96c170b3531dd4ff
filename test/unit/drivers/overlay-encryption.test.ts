/**
 * Encrypted overlays follow the cluster's data-path port (`swarm init --data-path-port`):
 * the encryption reconciler takes the port from the intent's cluster settings, the
 * backend (the kernel one here, on a recording executor) protects exactly that port, and
 * until it does the overlay programs no remote endpoint of an encrypted network.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Executor, RecordingRunner } from "../../../common/executor.js";
import { silentLogger } from "../../../common/logger.js";
import { emptyState, type IntentState } from "../../../agent/dispatcher/index.js";
import { desiredEncryption, OverlayEncryption } from "../../../agent/drivers/overlay/encryption.js";
import { OverlayDriver } from "../../../agent/drivers/overlay/overlay-driver.js";
import { validateKeyRing } from "../../../agent/encryption/key-schedule.js";
import type { NodeSnapshot } from "../../../agent/node-snapshot.js";
import type { KernelCapabilities } from "../../../agent/probe.js";
import type { ContainerRecord } from "../../../agent/sandbox/container.js";

const NODE = { name: "n1", advertiseAddr: "100.64.1.1", underlayMtu: 1500 };
const ESP: KernelCapabilities = {
  kernelRelease: "test",
  features: [{ name: "esp_aes_gcm", available: true, detail: "test" }],
};
const RING = validateKeyRing({ keys: [{ tag: 1, secret: Buffer.alloc(32, 1) }], primaryTag: 1 });

function container(dstPort: number): ContainerRecord {
  return {
    id: "c1",
    name: "ea",
    netns: "sn-x-c1",
    command: ["sleep", "1"],
    env: {},
    status: "running",
    pid: 42,
    exitCode: 0,
    createdAt: "",
    endpoints: [
      {
        networkId: "enc",
        networkName: "encp",
        driver: "overlay",
        ip: "10.0.1.2",
        prefixLength: 24,
        gateway: "10.0.1.1",
        mac: "02:42:0a:00:01:02",
        mtu: 1410,
        internal: false,
        aliases: [],
        ifname: "eth0",
        driverData: { vni: 4097, subnet: "10.0.1.0/24", dstPort, encrypted: true },
      },
    ],
    labels: {},
  };
}

function snapshot(clusterPort: number | undefined, endpointPort = 7789): NodeSnapshot {
  const intent: IntentState = { ...emptyState(), dataKeys: RING };
  if (clusterPort !== undefined) intent.cluster = { clusterId: "c", dataPathPort: clusterPort };
  return {
    node: NODE,
    intent,
    endpoints: [
      {
        networkId: "enc",
        key: "task-10.0.1.3/enc",
        ip: "10.0.1.3",
        node: "n2",
        container: "eb",
        aliases: [],
        serviceId: "",
        serviceName: "",
        vip: "",
        data: { mac: "02:42:0a:00:01:03", vtep: "100.64.1.2" },
      },
    ],
    containers: [container(endpointPort)],
    localNetworks: [],
    settling: false,
  };
}

describe("encrypted overlays follow the cluster's data-path port", () => {
  let stateDir = "";
  let runner: RecordingRunner;
  let enc: OverlayEncryption;
  let driver: OverlayDriver;
  const sync = (s: NodeSnapshot) => {
    const d = desiredEncryption(s);
    return enc.sync(d.vnis, d.peers, d.keys, d.vxlanPort);
  };

  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), "snt-overlay-enc-"));
    runner = new RecordingRunner();
    const ex = new Executor(runner);
    enc = new OverlayEncryption(ex, ESP, NODE.advertiseAddr, stateDir, silentLogger());
    driver = new OverlayDriver({ ex, prefix: "sn-x-", node: NODE, encryption: enc, log: silentLogger() });
  });

  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  it("takes the port from the intent's cluster settings: unknown before they arrive, never a guess", () => {
    assert.equal(desiredEncryption(snapshot(undefined)).vxlanPort, undefined);
    assert.equal(desiredEncryption(snapshot(7789)).vxlanPort, 7789);
    assert.equal(
      desiredEncryption(snapshot(0)).vxlanPort,
      4789,
      "a cluster record without one: Docker's default",
    );
  });

  it("starts nothing and programs no encrypted entry until the port is known; then protects that port only", async () => {
    await sync(snapshot(undefined));
    assert.deepEqual(runner.lines(), [], "no guard, no xfrm state before the port is known");
    assert.equal(enc.readyFor(7789), false);
    assert.deepEqual(driver.desired(snapshot(undefined)).remote, []);

    await sync(snapshot(7789));
    const lines = runner.lines();
    assert.ok(
      lines.some((l) => l.includes("udp dport 7789 @th,96,24 @encrypted_vnis rt ipsec missing counter drop")),
    );
    assert.ok(
      lines.some((l) =>
        /xfrm policy add src 100\.64\.1\.1\/32 dst 100\.64\.1\.2\/32 proto udp dport 7789 /.test(l),
      ),
    );
    assert.ok(!lines.some((l) => l.includes("4789")), "nothing of 4789");
    assert.equal(enc.readyFor(7789), true);
    assert.deepEqual(
      driver.desired(snapshot(7789)).remote.map((r) => r.vtep),
      ["100.64.1.2"],
      "the encrypted network's remote endpoint, once protected",
    );
  });

  it("programs no remote entry for an encrypted network whose VXLAN device uses another port than the one protected", async () => {
    const s = snapshot(7789, 4789);
    await sync(s);
    assert.equal(enc.readyFor(4789), false);
    assert.deepEqual(driver.desired(s).remote, []);
  });
});
