/**
 * The encrypted-overlay acceptance scenario on the real kernel, for either backend: two
 * hand-built nodes (bench/encryption-topology.ts), one encrypted and one plain overlay
 * between containers on them, and what a user and an attacker on the underlay would
 * notice — traffic flows, the underlay never shows the encrypted network's plaintext
 * (while it does show the plain one's, so the capture is known to work), replays and
 * plaintext injection are dropped and counted, and ten key rotations lose nothing.
 *
 * Sized for this host; under `$SWARMNET_TEST_SLOWDOWN` (test/support/slowdown.ts: the
 * kernel backend's run inside a VM under emulation, test/vm/kernel-esp.ts) every
 * bound grows by that factor and transfers and the stream's rate shrink by it. The checks
 * stay the same: counts of what arrived, never how fast.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Executor } from "../../../common/executor.js";
import { macFromIpv4, parseIpv4 } from "../../../common/net-addr.js";
import {
  createEncryptionBackend,
  initialKeyRing,
  loadEncryptionConfig,
  rotateKeyRing,
  spiFor,
  formatSpi,
  type BackendKind,
  type DataKey,
  type EncryptionBackend,
  type KeyRing,
} from "../../../agent/encryption/index.js";
import { GUARD_TABLE } from "../../../agent/encryption/nft-guard.js";
import { hasFeature, probeKernel } from "../../../agent/probe.js";
import { EncryptionTopology, UNDERLAY_MTU, type BuiltOverlay } from "../../../bench/encryption-topology.js";
import { ipv4HeaderChecksum } from "../../../agent/encryption/relay-frame.js";
import { isRoot } from "../../support/netns.js";
import { testSlowdown } from "../../support/slowdown.js";
import { captureDuring } from "./capture.js";
import { containsBytes, espPackets, plaintextVnis, udpPayloads } from "./pcap.js";

const ENC_VNI = 4102;
const PLAIN_VNI = 4101;
/** An address the test gives the underlay namespace itself: "someone on the underlay". */
const ATTACKER = "100.64.0.99";
const SLOW = testSlowdown();
const CHUNK = 64 * 1024;
/** 10 MB on this host; a tenth of it or less where the datapath is emulated. */
const TRANSFER_BYTES = Math.max(CHUNK, Math.round((10 * 1024 * 1024) / SLOW / CHUNK) * CHUNK);
const TRANSFER_MB = (TRANSFER_BYTES / (1024 * 1024)).toFixed(1).replace(/\.0$/, "");
/** Full-size segments such a transfer puts on the underlay, at the least (1000 for 10 MB). */
const TRANSFER_MIN_PACKETS = Math.floor(TRANSFER_BYTES / 10_240);
const ROTATIONS = 10;
const ROTATION_INTERVAL_MS = 2000;
/** Pings during the rotations go in batches of one second, until the last rotation is in. */
const PINGS_PER_SECOND = 20;
/** The rotation test's stream: slow enough to leave the two cores to the datapaths. */
const STREAM_RATE_BPS = Math.round((4 * 1024 * 1024) / SLOW);

interface TransferResult {
  source: { bytes: number; sha256: string };
  got: { bytes: number; sha256?: string; error?: string };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A VXLAN datagram's payload: VXLAN header, then Ethernet/IPv4/UDP carrying `text`. */
export function plaintextVxlan(
  vni: number,
  dstIp: string,
  srcIp: string,
  port: number,
  text: string,
): string {
  const body = Buffer.from(text);
  const f = Buffer.alloc(8 + 14 + 20 + 8 + body.length);
  f[0] = 0x08;
  f.writeUIntBE(vni, 4, 3);
  Buffer.from(
    macFromIpv4(parseIpv4(dstIp) ?? 0)
      .split(":")
      .map((h) => parseInt(h, 16)),
  ).copy(f, 8);
  Buffer.from([0x02, 0x42, 0xde, 0xad, 0xbe, 0xef]).copy(f, 14);
  f.writeUInt16BE(0x0800, 20);
  const ip = 22;
  f[ip] = 0x45;
  f.writeUInt16BE(20 + 8 + body.length, ip + 2);
  f[ip + 8] = 64;
  f[ip + 9] = 17;
  f.writeUInt32BE(parseIpv4(srcIp) ?? 0, ip + 12);
  f.writeUInt32BE(parseIpv4(dstIp) ?? 0, ip + 16);
  f.writeUInt16BE(ipv4HeaderChecksum(f, ip), ip + 10);
  f.writeUInt16BE(5555, ip + 20);
  f.writeUInt16BE(port, ip + 22);
  f.writeUInt16BE(8 + body.length, ip + 24);
  body.copy(f, ip + 28);
  return f.toString("hex");
}

export function encryptedOverlaySuite(kind: BackendKind): void {
  describe(`encrypted overlay, ${kind} backend (netns, real kernel)`, function () {
    this.timeout(120_000 * SLOW);
    const ex = new Executor();
    const topo = new EncryptionTopology(ex);
    const config = loadEncryptionConfig();
    const backends: EncryptionBackend[] = [];
    const marker = Buffer.from(`SWARMNET-MARKER-${randomBytes(4).toString("hex")}`);
    let runDir = "";
    let enc: BuiltOverlay;
    let plain: BuiltOverlay;
    let ring: KeyRing;
    let lastTag = 0;
    const newKey = (): DataKey => ({ tag: ++lastTag, secret: randomBytes(32) });
    const backend = (node: number) => backends[node - 1] as EncryptionBackend;
    const counters = async (node: number) => (await backend(node).stats()).counters;

    before(async function () {
      if (!isRoot) return this.skip();
      if (kind === "kernel") {
        const esp = (await probeKernel(ex)).features.find((f) => f.name === "esp_aes_gcm");
        if (esp === undefined || !hasFeature({ kernelRelease: "", features: [esp] }, "esp_aes_gcm")) {
          console.log(
            `      skipped: this kernel has no ESP with AES-GCM (probe: ${esp?.detail ?? "not probed"})`,
          );
          return this.skip();
        }
      }
      runDir = mkdtempSync(join(tmpdir(), "snt-enc-"));
      await topo.build();
      ring = rotateKeyRing(initialKeyRing(newKey()), newKey());
      for (const i of [1, 2]) {
        const b = createEncryptionBackend(kind, {
          executor: ex,
          config,
          localAddr: topo.node(i).address,
          netns: topo.node(i).netns,
          runDir,
        });
        backends.push(b);
        await b.start();
        await b.setKeys(ring);
        await b.setPeers([{ nodeName: `n${3 - i}`, underlayAddr: topo.node(3 - i).address }]);
        await b.setEncryptedVnis([ENC_VNI]);
      }
      enc = await topo.addOverlay(
        { key: "enc", vni: ENC_VNI, subnet: 2, mtu: backend(1).overlayMtu(UNDERLAY_MTU) },
        (n, p) => backend(n).fdbDestination(topo.node(p).address),
      );
      plain = await topo.addOverlay(
        { key: "plain", vni: PLAIN_VNI, subnet: 1, mtu: UNDERLAY_MTU - 50 },
        (_n, p) => topo.node(p).address,
      );
      await ex.ipBatch([`addr add ${ATTACKER}/16 dev br0`], { netns: topo.scratch.underlay });
    });

    after(async () => {
      for (const b of backends) await b.stop().catch(() => undefined);
      await topo.destroy();
      if (runDir !== "") rmSync(runDir, { recursive: true, force: true });
    });

    async function transfer(
      o: BuiltOverlay,
      bytes: number,
      rateBps = 0,
      port = 5001,
    ): Promise<TransferResult> {
      const [a, b] = o.endpoints;
      const seconds = (rateBps > 0 ? Math.ceil(bytes / rateBps) + 60 : 90) * SLOW;
      const sink = topo.traffic<TransferResult["got"]>(
        b.container,
        ["tcp-sink", port, seconds],
        seconds * 1000 + 5000,
      );
      const source = await topo.traffic<TransferResult["source"]>(
        a.container,
        // The sink is a process starting beside this one: connect for as long as it may take.
        ["tcp-source", b.ip, port, bytes, rateBps, marker.toString(), 10 * SLOW],
        seconds * 1000 + 5000,
      );
      return { source, got: await sink };
    }

    it(`carries ping and a ${TRANSFER_MB} MB TCP transfer between containers on two nodes`, async () => {
      const [a, b] = enc.endpoints;
      const ping = await topo.ping(a.container, b.ip, 10);
      assert.equal(ping.received, 10, ping.raw);
      const t = await transfer(enc, TRANSFER_BYTES);
      assert.equal(t.got.bytes, TRANSFER_BYTES, JSON.stringify(t.got));
      assert.equal(t.got.sha256, t.source.sha256);
    });

    it("shows the underlay no plaintext VXLAN header for the VNI and no marker; a plain overlay shows both", async () => {
      const encCap = await captureDuring(ex, topo.scratch.underlay, topo.underlayPort(1), runDir, "enc", () =>
        transfer(enc, TRANSFER_BYTES),
      );
      assert.equal(encCap.result.got.sha256, encCap.result.source.sha256);
      const carried =
        kind === "kernel" ? espPackets(encCap.frames) : encCap.frames.filter((f) => f.length > 1000).length;
      assert.ok(
        carried > TRANSFER_MIN_PACKETS,
        `the capture saw the transfer (${carried} packets, ${encCap.frames.length} frames)`,
      );
      assert.equal(
        plaintextVnis(encCap.frames).get(ENC_VNI) ?? 0,
        0,
        "plaintext VXLAN header of the encrypted VNI",
      );
      assert.equal(
        containsBytes(encCap.frames, marker),
        false,
        "the transfer's marker bytes on the underlay",
      );

      const plainCap = await captureDuring(
        ex,
        topo.scratch.underlay,
        topo.underlayPort(1),
        runDir,
        "plain",
        () => transfer(plain, TRANSFER_BYTES, 0, 5002),
      );
      const plainHeaders = plaintextVnis(plainCap.frames).get(PLAIN_VNI) ?? 0;
      assert.ok(plainHeaders > TRANSFER_MIN_PACKETS / 10, `plain VXLAN headers seen: ${plainHeaders}`);
      assert.equal(containsBytes(plainCap.frames, marker), true, "the capture can see plaintext");
    });

    // Only the user-space backend's own records: re-sending raw ESP needs a raw socket, and
    // ESP replay protection is the kernel's (so a kernel run has nothing skipped).
    if (kind === "userspace")
      it("drops and counts a captured encrypted packet re-sent on the underlay", async function () {
        const [a, b] = enc.endpoints;
        const cap = await captureDuring(
          ex,
          topo.scratch.underlay,
          topo.underlayPort(1),
          runDir,
          "replay",
          () => topo.ping(a.container, b.ip, 3),
        );
        const records = udpPayloads(cap.frames, topo.node(1).address, topo.node(2).address, config.dataPort);
        assert.ok(records.length >= 3, `captured ${records.length} records`);
        const before = await counters(2);
        const sent = await topo.traffic<{ sent: boolean }>(topo.node(1).netns, [
          "udp-send",
          topo.node(2).address,
          config.dataPort,
          (records[0] as Buffer).toString("hex"),
          topo.node(1).address,
        ]);
        assert.equal(sent.sent, true);
        await sleep(300);
        const after = await counters(2);
        assert.equal((after["dropReplay"] ?? 0) - (before["dropReplay"] ?? 0), 1);
        assert.equal(after["recordsIn"], before["recordsIn"], "nothing was delivered");
      });

    it("drops a plaintext VXLAN packet with the encrypted VNI sent from the underlay; the plain VNI's arrives", async () => {
      const port = 9999;
      // The listeners' start-up time is unknown here, so the pair of packets goes out again
      // and again until the plain listener's window is over; only "none at all" or "some"
      // matters.
      const window = 5 * SLOW;
      const listenEnc = topo.traffic<{ payloads: string[] }>(
        enc.endpoints[1].container,
        ["udp-listen", port, window],
        (window + 60) * 1000 * SLOW,
      );
      let plainDone = false;
      const listenPlain = topo
        .traffic<{ payloads: string[] }>(
          plain.endpoints[1].container,
          ["udp-listen", port, window],
          (window + 60) * 1000 * SLOW,
        )
        .finally(() => (plainDone = true));
      await sleep(1000);
      const before = await counters(2);
      for (let round = 0; round < 5 || !plainDone; round++) {
        for (const o of [enc, plain]) {
          const hex = plaintextVxlan(
            o.spec.vni,
            o.endpoints[1].ip,
            o.gateway.replace(/\.1$/, ".50"),
            port,
            "INJECTED",
          );
          const r = await topo.traffic<{ sent: boolean }>(topo.scratch.underlay, [
            "udp-send",
            topo.node(2).address,
            4789,
            hex,
          ]);
          assert.equal(r.sent, true);
        }
        await sleep(300);
      }
      const plainGot = (await listenPlain).payloads;
      assert.ok(plainGot.length > 0, "the crafted packet is deliverable (plain VNI)");
      assert.ok(plainGot.every((p) => p === "INJECTED"));
      assert.deepEqual((await listenEnc).payloads, [], "plaintext reached the encrypted network's container");
      const after = await counters(2);
      assert.ok((after["guardDropsIn"] ?? 0) > (before["guardDropsIn"] ?? 0), "the guard counted the drop");
    });

    it(`rotates keys every ${ROTATION_INTERVAL_MS / 1000} s ${ROTATIONS} times: no ping lost, the stream intact, old tags refused`, async function () {
      this.timeout(180_000 * SLOW);
      const [a, b] = enc.endpoints;
      const oldTag = ring.keys[0]?.tag as number;
      // One record under the current primary, to replay once its key is gone.
      let oldRecord: Buffer | undefined;
      if (kind === "userspace") {
        const cap = await captureDuring(ex, topo.scratch.underlay, topo.underlayPort(1), runDir, "old", () =>
          topo.ping(a.container, b.ip, 2),
        );
        oldRecord = udpPayloads(cap.frames, topo.node(1).address, topo.node(2).address, config.dataPort)[0];
        assert.ok(oldRecord);
        assert.equal(oldRecord.readUInt32BE(4), ring.primaryTag);
      }
      const durationS = (ROTATIONS * ROTATION_INTERVAL_MS) / 1000 + 2;
      const streamP = transfer(enc, durationS * STREAM_RATE_BPS, STREAM_RATE_BPS, 5003);
      let rotating = true;
      const rotations = (async () => {
        for (let i = 0; i < ROTATIONS; i++) {
          await sleep(ROTATION_INTERVAL_MS);
          ring = rotateKeyRing(ring, newKey());
          await Promise.all(backends.map((bk) => bk.setKeys(ring)));
        }
      })().finally(() => (rotating = false));
      // Applying keys takes longer where commands are slow: ping until every rotation is in.
      const ping = { sent: 0, received: 0, raw: "" };
      do {
        const batch = await topo.ping(a.container, b.ip, PINGS_PER_SECOND, 1 / PINGS_PER_SECOND);
        ping.sent += batch.sent;
        ping.received += batch.received;
        if (batch.received !== batch.sent) ping.raw += batch.raw;
      } while (rotating);
      await rotations;
      const stream = await streamP;
      if (ping.received !== ping.sent) {
        // Which drop counters moved says where the lost probes went.
        const nonzero = async (n: number) =>
          Object.entries(await counters(n)).filter(([k, v]) => v > 0 && /drop|Errors$/i.test(k));
        assert.fail(
          `${ping.sent - ping.received} of ${ping.sent} pings lost; drop counters so far n1 ${JSON.stringify(await nonzero(1))} n2 ${JSON.stringify(await nonzero(2))}\n${ping.raw}`,
        );
      }
      assert.ok(ping.sent >= PINGS_PER_SECOND, `pings sent: ${ping.sent}`);
      assert.equal(stream.got.bytes, stream.source.bytes, JSON.stringify(stream.got));
      assert.equal(stream.got.sha256, stream.source.sha256);
      const stats = await backend(2).stats();
      assert.deepEqual(
        stats.keyTags,
        ring.keys.map((k) => k.tag),
      );
      assert.equal(stats.primaryTag, ring.primaryTag);
      assert.ok(!stats.keyTags.includes(oldTag));
      if (oldRecord !== undefined) {
        const before = await counters(2);
        await topo.traffic(topo.node(1).netns, [
          "udp-send",
          topo.node(2).address,
          config.dataPort,
          oldRecord.toString("hex"),
          topo.node(1).address,
        ]);
        await sleep(300);
        const after = await counters(2);
        assert.equal(
          (after["dropUnknownKey"] ?? 0) - (before["dropUnknownKey"] ?? 0),
          1,
          "old key tag refused",
        );
        assert.equal(after["dropAuth"] ?? 0, 0);
      } else {
        const states = await ex.ip(["xfrm", "state", "list"], { netns: topo.node(2).netns });
        assert.ok(!states.includes(formatSpi(spiFor(topo.node(1).address, topo.node(2).address, oldTag))));
      }
    });

    it("repair() puts back what someone removed: the guard table, and on the kernel backend the ESP states", async () => {
      const ns = { netns: topo.node(2).netns };
      await ex.nft(["delete", "table", "ip", GUARD_TABLE], ns);
      if (kind === "kernel") await ex.ip(["xfrm", "state", "flush"], ns);
      await backend(2).repair();
      assert.match(await ex.nft(["list", "table", "ip", GUARD_TABLE], ns), /chain guard_in/);
      if (kind === "kernel") {
        // Restored outbound states restart their sequence numbers, which the peer drops as
        // replays (kernel-backend.ts): a rotation gives both ends new states.
        ring = rotateKeyRing(ring, newKey());
        await Promise.all(backends.map((bk) => bk.setKeys(ring)));
      }
      const [a, b] = enc.endpoints;
      const ping = await topo.ping(a.container, b.ip, 5);
      assert.equal(ping.received, 5, ping.raw);
      const before = await counters(2);
      await topo.traffic<{ sent: boolean }>(topo.scratch.underlay, [
        "udp-send",
        topo.node(2).address,
        4789,
        plaintextVxlan(ENC_VNI, b.ip, enc.gateway.replace(/\.1$/, ".50"), 9999, "INJECTED"),
      ]);
      await sleep(300);
      const after = await counters(2);
      assert.ok((after["guardDropsIn"] ?? 0) > (before["guardDropsIn"] ?? 0), "the guard drops again");
    });

    it("stop() leaves no relay device, xfrm state, guard table or datapath behind", async () => {
      for (const b of backends) await b.stop();
      for (const i of [1, 2]) {
        const ns = { netns: topo.node(i).netns };
        const links = await ex.ipJson<{ ifname: string }>(["link", "show"], ns);
        assert.deepEqual(
          links.map((l) => l.ifname).filter((n) => n.startsWith("snenc")),
          [],
        );
        assert.equal((await ex.ip(["xfrm", "state", "list"], ns)).trim(), "");
        assert.doesNotMatch(await ex.nft(["list", "tables"], ns), /swarmnet_encryption/);
        const pids = await ex.netnsPids(topo.node(i).netns);
        assert.deepEqual(pids, [], `processes left in ${topo.node(i).netns}`);
      }
    });
  });
}
