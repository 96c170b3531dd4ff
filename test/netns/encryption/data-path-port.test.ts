/**
 * An encrypted overlay in a swarm whose VXLAN runs on another UDP port than 4789
 * (`swarm init --data-path-port 7789`), through the whole system: the agents learn the
 * port from the managers' intent, and the encryption backend the probe chose (the
 * user-space datapath on a kernel without ESP) must protect that port, not 4789.
 *
 * One lab of two nodes built by hand (`lab up --no-init`, then init with the port and a
 * join): containers on an encrypted and on a plain overlay ping and transfer; a capture
 * on the underlay shows the plain overlay's VXLAN on the custom port (so the port is in
 * effect and the capture can see it), the encrypted one's traffic crossing encrypted and
 * no plaintext VXLAN of its VNI on either port; plaintext VXLAN of the encrypted VNI
 * injected to the custom port from the underlay (the lab's client) is dropped and counted
 * by the guard.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Executor } from "../../../common/executor.js";
import { ENCRYPTION_DEFAULTS, GUARD_TABLE } from "../../../agent/encryption/index.js";
import { guardDrops } from "../../../agent/encryption/nft-guard.js";
import { runTraffic } from "../../../bench/encryption-topology.js";
import { swarmnet } from "../../support/cli.js";
import { eventually, LabCli, sleep } from "../../support/lab-cli.js";
import { isRoot, uniqueLabName } from "../../support/netns.js";
import { patternBytes, transfer } from "../../support/tcp-transfer.js";
import { captureDuring } from "./capture.js";
import { containsBytes, espPackets, ipv4Of, plaintextVnis } from "./pcap.js";
import { plaintextVxlan } from "./scenario.js";

const PORT = 7789;
const N1 = "100.64.1.1";
const N2 = "100.64.1.2";
const TRANSFER_BYTES = 2 * 1024 * 1024;

interface Inspected {
  NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string; Gateway: string }> };
}

/** Packets that crossed encrypted: ESP, or the user-space datapath's records (whole or first fragments). */
function encryptedPackets(frames: readonly Buffer[]): number {
  let records = 0;
  for (const f of frames) {
    const ip = ipv4Of(f);
    if (ip === undefined || ip.proto !== 17 || ip.laterFragment || ip.payload.length < 4) continue;
    if (ip.payload.readUInt16BE(2) === ENCRYPTION_DEFAULTS.dataPort) records++;
  }
  return records + espPackets(frames);
}

describe("encrypted overlay on a custom data-path port (netns lab)", function () {
  this.timeout(600_000);
  const ex = new Executor();
  const name = uniqueLabName();
  const lab = new LabCli(name);
  const dir = mkdtempSync(join(tmpdir(), `${name}-capture-`));
  const c: Record<string, { ip: string; gateway: string; netns: string }> = {};
  const vni: Record<string, number> = {};
  const at = (cname: string) => c[cname] as { ip: string; gateway: string; netns: string };

  const container = async (node: string, cname: string, network: string) => {
    await lab.ok(node, "run", "-d", "--name", cname, "--network", network, "--", "sleep", "3600");
    const i = (JSON.parse(await lab.ok(node, "inspect", cname)) as Inspected[])[0] as Inspected;
    const n = Object.values(i.NetworkSettings.Networks)[0];
    c[cname] = {
      ip: n?.IPAddress ?? "",
      gateway: n?.Gateway ?? "",
      netns: i.NetworkSettings.SandboxKey.replace("/run/netns/", ""),
    };
  };
  const traffic = <T>(netns: string, args: (string | number)[], timeoutMs = 60_000): Promise<T> =>
    runTraffic<T>(ex, netns, args, timeoutMs);

  before(async function () {
    if (!isRoot) return this.skip();
    const up = await swarmnet(["lab", "up", "--name", name, "--nodes", "2", "--no-init"]);
    assert.equal(up.exitCode, 0, up.stderr);
    await lab.ok("n1", "swarm", "init", "--advertise-addr", N1, "--data-path-port", String(PORT));
    const token = (await lab.ok("n1", "swarm", "join-token", "-q", "worker")).trim();
    await lab.ok("n2", "swarm", "join", "--token", token, "--advertise-addr", N2, N1);
    const info = JSON.parse(await lab.ok("n1", "swarm", "inspect")) as { DataPathPort: number }[];
    assert.equal(info[0]?.DataPathPort, PORT);
    for (const [net, opts] of [
      ["encp", ["--opt", "encrypted"]],
      ["plainp", []],
    ] as const) {
      await lab.ok("n1", "network", "create", "-d", "overlay", "--attachable", ...opts, net);
      const out = JSON.parse(await lab.ok("n1", "network", "inspect", net)) as {
        Options: Record<string, string>;
      }[];
      vni[net] = Number(out[0]?.Options["com.docker.network.driver.overlay.vxlanid_list"]);
    }
    await container("n1", "ea", "encp");
    await container("n2", "eb", "encp");
    await container("n1", "pa", "plainp");
    await container("n2", "pb", "plainp");
  });

  after(async () => {
    if (isRoot) await swarmnet(["lab", "down", "--name", name]);
    rmSync(dir, { recursive: true, force: true });
  });

  it(`pings and transfers over the encrypted overlay with no plaintext VXLAN of its VNI on port ${PORT} or 4789`, async () => {
    assert.ok(await eventually(() => lab.ping("n1", "pa", at("pb").ip), 60), "pa -> pb (plain)");
    assert.ok(await eventually(() => lab.ping("n1", "ea", at("eb").ip), 60), "ea -> eb (encrypted)");
    const marker = patternBytes(1024 * 1024, 32);
    let moved = { sent: "", received: "" };
    const enc = await captureDuring(ex, `sn-${name}-u`, "br0", dir, "enc", async () => {
      moved = await transfer(ex, at("ea").netns, at("eb").netns, at("eb").ip, 5002, TRANSFER_BYTES);
      assert.ok(await lab.ping("n1", "ea", at("eb").ip), "ea -> eb during the capture");
    });
    assert.equal(moved.received, moved.sent, "2 MiB intact over the encrypted overlay");
    const carried = encryptedPackets(enc.frames);
    assert.ok(carried >= 20, `encrypted packets on the underlay: ${carried} of ${enc.frames.length} frames`);
    for (const port of [PORT, 4789]) {
      const leaked = plaintextVnis(enc.frames, port).get(vni["encp"] ?? 0) ?? 0;
      assert.equal(leaked, 0, `plaintext VXLAN of the encrypted VNI to port ${port}`);
    }
    assert.equal(containsBytes(enc.frames, marker), false, "the transfer's bytes in clear on the underlay");

    const plain = await captureDuring(ex, `sn-${name}-u`, "br0", dir, "plain", async () => {
      assert.ok(await lab.ping("n1", "pa", at("pb").ip), "pa -> pb during the capture");
    });
    const seen = plaintextVnis(plain.frames, PORT).get(vni["plainp"] ?? 0) ?? 0;
    assert.ok(seen > 0, `the plain overlay's VXLAN on port ${PORT} (the capture can see it): ${seen}`);
  });

  it(`drops plaintext VXLAN of the encrypted VNI injected to port ${PORT}; the plain VNI's arrives`, async () => {
    const window = 5;
    const listenEnc = traffic<{ payloads: string[] }>(at("eb").netns, ["udp-listen", 9999, window]);
    let plainDone = false;
    const listenPlain = traffic<{ payloads: string[] }>(at("pb").netns, ["udp-listen", 9999, window]).finally(
      () => (plainDone = true),
    );
    const node2 = { netns: `sn-${name}-n2` };
    const drops = async () => guardDrops(await ex.nft(["-j", "list", "table", "ip", GUARD_TABLE], node2)).in;
    const before = await drops();
    await sleep(1000);
    // The listeners' start-up time is unknown: the pair goes out until the plain one's window ends.
    for (let round = 0; round < 5 || !plainDone; round++) {
      for (const [net, target] of [
        ["encp", at("eb")],
        ["plainp", at("pb")],
      ] as const) {
        const hex = plaintextVxlan(
          vni[net] ?? 0,
          target.ip,
          target.gateway.replace(/\.1$/, ".50"),
          9999,
          "INJECTED",
        );
        const r = await traffic<{ sent: boolean }>(`sn-${name}-client`, ["udp-send", N2, PORT, hex]);
        assert.equal(r.sent, true);
      }
      await sleep(300);
    }
    const plainGot = (await listenPlain).payloads;
    assert.ok(plainGot.length > 0, "the crafted packet is deliverable (plain VNI)");
    assert.deepEqual((await listenEnc).payloads, [], "plaintext reached the encrypted network's container");
    assert.ok((await drops()) > before, "the guard counted the drop");
  });
});
