/**
 * Two user-space datapaths back to back in memory: what one reads from its relay device
 * arrives at the other's, sealed on the way; what must not be carried is dropped and
 * counted.
 */
import assert from "node:assert/strict";
import { createSecretKey } from "node:crypto";
import { parseIpv4 } from "../../../common/net-addr.js";
import { Datapath, type DatapathKey } from "../../../agent/encryption/datapath.js";
import { deriveDirectionKey } from "../../../agent/encryption/key-derivation.js";
import { NonceSequence } from "../../../agent/encryption/nonce.js";
import { openRecord, parseRecord, recordHeader, sealRecord } from "../../../agent/encryption/record-codec.js";
import { injectHeaders, ipv4HeaderChecksum, parseRelayFrame } from "../../../agent/encryption/relay-frame.js";

const A = "100.64.1.1";
const B = "100.64.1.2";
const RELAY_B_ON_A = "198.18.1.2";
const RELAY_A_ON_B = "198.18.1.1";
const mac = (last: number) => Buffer.from([2, 0, 0, 0, 0, last]);
const key = (tag: number): DatapathKey => ({ tag, secret: Buffer.alloc(32, tag) });

/** A frame as the relay device gives it: virtio-net ‖ Ethernet ‖ IPv4 ‖ UDP ‖ payload. */
function relayFrame(
  dst: string,
  payload: Buffer,
  vnet: Buffer<ArrayBufferLike> = Buffer.alloc(10),
  dport = 4789,
): Buffer {
  const f = Buffer.alloc(10 + 14 + 20 + 8 + payload.length);
  vnet.copy(f, 0);
  f.writeUInt16BE(0x0800, 10 + 12);
  const ip = 24;
  f[ip] = 0x45;
  f.writeUInt16BE(20 + 8 + payload.length, ip + 2);
  f[ip + 8] = 64;
  f[ip + 9] = 17;
  f.writeUInt32BE(parseIpv4(A) ?? 0, ip + 12);
  f.writeUInt32BE(parseIpv4(dst) ?? 0, ip + 16);
  f.writeUInt16BE(ipv4HeaderChecksum(f, ip), ip + 10);
  f.writeUInt16BE(40000, ip + 20);
  f.writeUInt16BE(dport, ip + 22);
  f.writeUInt16BE(8 + payload.length, ip + 24);
  payload.copy(f, ip + 28);
  return f;
}

function vxlanPayload(text: string): Buffer {
  return Buffer.concat([Buffer.from([8, 0, 0, 0, 0, 0x10, 0x02, 0]), Buffer.from(text)]);
}

function pair() {
  const records: { parts: Buffer[]; to: string }[] = [];
  const framesAtB: Buffer[] = [];
  let wall = 1_700_000_000_000;
  const a = new Datapath(
    {
      localAddr: A,
      vxlanPort: 4789,
      replayWindow: 64,
      nodeMac: mac(1),
      tapMac: mac(11),
      nonce: new NonceSequence(
        () => 0xa,
        () => wall,
      ),
    },
    { sendRecord: (parts, to) => records.push({ parts: [...parts], to }), writeFrame: () => undefined },
  );
  const b = new Datapath(
    {
      localAddr: B,
      vxlanPort: 4789,
      replayWindow: 64,
      nodeMac: mac(2),
      tapMac: mac(12),
      nonce: new NonceSequence(
        () => 0xb,
        () => wall,
      ),
    },
    { sendRecord: () => undefined, writeFrame: (parts) => framesAtB.push(Buffer.concat(parts)) },
  );
  a.setPeers([{ underlayAddr: B, relayAddr: RELAY_B_ON_A }]);
  b.setPeers([{ underlayAddr: A, relayAddr: RELAY_A_ON_B }]);
  const send = (text: string, vnet?: Buffer<ArrayBufferLike>) => {
    const f = relayFrame(RELAY_B_ON_A, vxlanPayload(text), vnet);
    a.onFrame(f, f.length);
  };
  const deliver = (i: number) => {
    const r = records[i];
    assert.ok(r, `record ${i} exists`);
    b.onRecord(Buffer.concat(r.parts), A);
  };
  return { a, b, records, framesAtB, send, deliver, advance: (ms: number) => (wall += ms) };
}

describe("encryption user-space datapath (in memory)", () => {
  it("carries a VXLAN datagram to the peer sealed, and injects it there addressed to the local VXLAN socket", () => {
    const p = pair();
    for (const d of [p.a, p.b]) d.setKeys([key(1), key(2)], 1);
    p.send("hello inner frame");
    assert.equal(p.records.length, 1);
    const wire = Buffer.concat(p.records[0]?.parts ?? []);
    assert.equal(p.records[0]?.to, B);
    assert.equal(wire.indexOf("hello inner frame"), -1, "plaintext on the wire");
    p.deliver(0);
    const f = p.framesAtB[0] as Buffer;
    assert.ok(f);
    const parsed = parseRelayFrame(f, f.length, 4789);
    assert.ok(typeof parsed !== "string", String(parsed));
    assert.deepEqual(f.subarray(parsed.payloadOffset), vxlanPayload("hello inner frame"));
    assert.deepEqual(f.subarray(10, 16), mac(2), "to the node-side relay device");
    assert.equal(f.readUInt32BE(24 + 12), parseIpv4(RELAY_A_ON_B), "from A's relay address on B");
    assert.equal(f.readUInt32BE(24 + 16), parseIpv4(B));
    assert.equal(ipv4HeaderChecksum(f, 24), 0, "valid IPv4 header checksum");
    assert.equal(p.b.counters.recordsIn, 1);
  });

  it("carries the cluster's data-path port once set: frames to it sealed, injected to it; 4789's dropped", () => {
    const p = pair();
    for (const d of [p.a, p.b]) {
      d.setKeys([key(1)], 1);
      d.setVxlanPort(7789);
    }
    const old = relayFrame(RELAY_B_ON_A, vxlanPayload("to the old port"), undefined, 4789);
    p.a.onFrame(old, old.length);
    assert.equal(p.records.length, 0);
    assert.equal(p.a.counters.dropNotVxlan, 1);
    const f = relayFrame(RELAY_B_ON_A, vxlanPayload("to the new port"), undefined, 7789);
    p.a.onFrame(f, f.length);
    p.deliver(0);
    const got = p.framesAtB[0] as Buffer;
    assert.equal(got.readUInt16BE(24 + 20 + 2), 7789, "injected to the local VXLAN socket's port");
    assert.ok(typeof parseRelayFrame(got, got.length, 7789) !== "string");
  });

  it("carries checksum offload across (NEEDS_CSUM re-based on the rebuilt headers)", () => {
    const p = pair();
    for (const d of [p.a, p.b]) d.setKeys([key(1)], 1);
    const vnet = Buffer.alloc(10);
    vnet[0] = 1; // NEEDS_CSUM
    vnet.writeUInt16LE(14 + 20 + 8 + 8 + 14 + 20, 6); // inner TCP header in the frame
    vnet.writeUInt16LE(16, 8);
    p.send("x".repeat(100), vnet);
    p.deliver(0);
    const f = p.framesAtB[0] as Buffer;
    assert.equal(f[0], 1);
    assert.equal(f.readUInt16LE(6), 14 + 20 + 8 + 8 + 14 + 20);
    assert.equal(f.readUInt16LE(8), 16);
  });

  it("drops the outer-UDP checksum request: the outer header is rebuilt with checksum 0", () => {
    const frame = relayFrame(RELAY_B_ON_A, vxlanPayload("ping"));
    frame[0] = 1;
    frame.writeUInt16LE(14 + 20, 6); // csum_start at the outer UDP header
    frame.writeUInt16LE(6, 8);
    const parsed = parseRelayFrame(frame, frame.length, 4789);
    assert.ok(typeof parsed !== "string");
    assert.equal(parsed.vnet[0], 0);
  });

  it("drops a replayed record and counts it; the original was delivered once", () => {
    const p = pair();
    for (const d of [p.a, p.b]) d.setKeys([key(1)], 1);
    p.send("one");
    p.send("two");
    p.deliver(0);
    p.deliver(1);
    p.deliver(0);
    p.deliver(1);
    assert.equal(p.framesAtB.length, 2);
    assert.equal(p.b.counters.dropReplay, 2);
  });

  it("delivers records that arrive out of order within the window", () => {
    const p = pair();
    for (const d of [p.a, p.b]) d.setKeys([key(1)], 1);
    for (let i = 0; i < 5; i++) p.send(`m${i}`);
    for (const i of [4, 0, 3, 1, 2]) p.deliver(i);
    assert.equal(p.framesAtB.length, 5);
    assert.equal(p.b.counters.dropReplay, 0);
  });

  it("rejects a tampered record, a record from a non-peer and garbage, counting each", () => {
    const p = pair();
    for (const d of [p.a, p.b]) d.setKeys([key(1)], 1);
    p.send("secret");
    const wire = Buffer.concat(p.records[0]?.parts ?? []);
    const flipped = Buffer.from(wire);
    flipped[30] = (flipped[30] as number) ^ 1;
    p.b.onRecord(flipped, A);
    const renumbered = Buffer.from(wire);
    renumbered[19] = (renumbered[19] as number) ^ 1; // counter (part of the nonce) altered
    p.b.onRecord(renumbered, A);
    p.b.onRecord(wire, "100.64.1.9");
    p.b.onRecord(Buffer.from("not a record at all, just bytes on the port"), A);
    p.b.onRecord(Buffer.alloc(10), A);
    assert.equal(p.framesAtB.length, 0);
    assert.equal(p.b.counters.dropAuth, 2);
    assert.equal(p.b.counters.dropUnknownSource, 1);
    assert.equal(p.b.counters.dropMalformed, 2);
    p.deliver(0); // the genuine one still passes: failed attempts did not move the window
    assert.equal(p.framesAtB.length, 1);
  });

  it("rotation: sends with the new primary once promoted, accepts the old one until it is removed, then never", () => {
    const p = pair();
    const ring1 = [key(1), key(2)];
    for (const d of [p.a, p.b]) d.setKeys(ring1, 1);
    p.send("under 1");
    // B learns the next ring first (rx-only key 3 added, primary 2); A still sends with 1.
    p.b.setKeys([key(1), key(2), key(3)], 2);
    p.send("still under 1");
    p.a.setKeys([key(1), key(2), key(3)], 2);
    p.send("under 2");
    for (let i = 0; i < 3; i++) p.deliver(i);
    assert.equal(p.framesAtB.length, 3);
    const tags = p.records.map((r) => (r.parts[0] as Buffer).readUInt32BE(4));
    assert.deepEqual(tags, [1, 1, 2]);
    // Next rotation removes key 1 on both: an old record is no longer accepted at all.
    for (const d of [p.a, p.b]) d.setKeys([key(2), key(3), key(4)], 3);
    p.b.onRecord(Buffer.concat(p.records[0]?.parts ?? []), A);
    assert.equal(p.b.counters.dropUnknownKey, 1);
    // …and the window of a key that stays survived the new ring: replaying "under 2" fails.
    p.deliver(2);
    assert.equal(p.b.counters.dropReplay, 1);
    assert.equal(p.framesAtB.length, 3);
  });

  it("a record sealed for another node does not open here (keys are per direction)", () => {
    const secret = Buffer.alloc(32, 1);
    const header = recordHeader(1, (b, o) =>
      new NonceSequence(
        () => 1,
        () => 1,
      ).write(b, o),
    );
    const forC = createSecretKey(deriveDirectionKey(secret, "udp", A, "100.64.1.3", 1));
    const wire = Buffer.concat(sealRecord(forC, header, [Buffer.from("x")]));
    const r = parseRecord(wire);
    assert.ok(r);
    const atB = createSecretKey(deriveDirectionKey(secret, "udp", A, B, 1));
    assert.equal(openRecord(atB, r), undefined);
    assert.deepEqual(openRecord(forC, r), Buffer.from("x"));
  });

  it("drops frames it must not carry: no key yet, unknown relay address, not VXLAN, too big", () => {
    const p = pair();
    p.send("no keys yet");
    assert.equal(p.a.counters.dropNoKey, 1);
    p.a.setKeys([key(1)], 1);
    const stray = relayFrame("198.18.9.9", vxlanPayload("to nobody"));
    p.a.onFrame(stray, stray.length);
    assert.equal(p.a.counters.dropNoPeer, 1);
    const wake = relayFrame(RELAY_B_ON_A, Buffer.from("wake"), Buffer.alloc(10), 4800);
    p.a.onFrame(wake, wake.length);
    assert.equal(p.a.counters.dropNotVxlan, 1);
    const huge = relayFrame(RELAY_B_ON_A, Buffer.alloc(65_490));
    p.a.onFrame(huge, huge.length);
    assert.equal(p.a.counters.dropOversize, 1);
    assert.equal(p.records.length, 0);
  });

  it("never reuses a nonce across many records", () => {
    const p = pair();
    p.a.setKeys([key(1)], 1);
    for (let i = 0; i < 5000; i++) p.send(`m${i}`);
    const nonces = new Set(p.records.map((r) => (r.parts[0] as Buffer).subarray(8, 20).toString("hex")));
    assert.equal(nonces.size, 5000);
  });

  it("rebuilds headers only for payloads that fit an IPv4 datagram", () => {
    const a = { dstMac: mac(1), srcMac: mac(2), src: 1, dst: 2, vxlanPort: 4789 };
    assert.ok(injectHeaders(Buffer.alloc(10), 65_507, a));
    assert.equal(injectHeaders(Buffer.alloc(10), 65_508, a), undefined);
  });
});
