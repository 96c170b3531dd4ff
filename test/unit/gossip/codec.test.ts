import assert from "node:assert/strict";
import {
  compoundEntryCost,
  encodeMessage,
  openPacket,
  packetOverhead,
  sealPacket,
  type GossipMessage,
  type PacketOpener,
  type PacketSealer,
} from "../../../agent/gossip/codec.js";
import { Keyring } from "../../../agent/gossip/keyring.js";
import { protoType } from "../../../common/proto.js";

const K1 = new Uint8Array(32).fill(1);
const K2 = new Uint8Array(32).fill(2);

function ends(label: string, keyring?: Keyring): { sealer: PacketSealer; opener: PacketOpener } {
  const bytes = Buffer.from(label);
  return {
    sealer: { label: bytes, keyring },
    opener: { label, labelBytes: bytes, keyring, maxBytes: 65_507 },
  };
}

const SAMPLES: GossipMessage[] = [
  { kind: "ping", ping: { seq: 7, node: "n2", sourceNode: "n1", sourceAddr: "10.0.0.1:7946" } },
  {
    kind: "indirectPing",
    indirectPing: {
      seq: 4_000_000_000,
      node: "n3",
      nodeAddr: "10.0.0.3:7946",
      nack: true,
      sourceNode: "n1",
      sourceAddr: "10.0.0.1:7946",
    },
  },
  { kind: "ack", ack: { seq: 9, payload: new Uint8Array([1, 2, 3]) } },
  { kind: "nack", nack: { seq: 10 } },
  {
    kind: "alive",
    alive: { incarnation: 3, node: "n2", addr: "10.0.0.2:7946", meta: Buffer.from("vtep=10.0.0.2") },
  },
  { kind: "suspect", suspect: { incarnation: 3, node: "n2", from: "n1" } },
  { kind: "dead", dead: { incarnation: 4, node: "n2", from: "n2" } },
  { kind: "user", user: new Uint8Array([9, 9]) },
  {
    kind: "pushPull",
    pushPull: {
      join: true,
      sourceNode: "n1",
      userState: new Uint8Array([5]),
      nodes: [
        { name: "n1", addr: "10.0.0.1:7946", meta: new Uint8Array(0), incarnation: 1, state: "alive" },
        { name: "n2", addr: "10.0.0.2:7946", meta: new Uint8Array([1]), incarnation: 2, state: "left" },
        { name: "n3", addr: "10.0.0.3:7946", meta: new Uint8Array(0), incarnation: 5, state: "dead" },
        { name: "n4", addr: "10.0.0.4:7946", meta: new Uint8Array(0), incarnation: 6, state: "suspect" },
      ],
    },
  },
  { kind: "error", error: "not n9" },
];

describe("gossip codec", () => {
  for (const [name, keyring] of [
    ["plaintext", undefined],
    ["encrypted", new Keyring([K1])],
  ] as const) {
    it(`round-trips every message kind in one compound packet (${name}, labelled)`, () => {
      const { sealer, opener } = ends("prod-eu", keyring);
      const packet = sealPacket(sealer, SAMPLES.map(encodeMessage));
      const opened = openPacket(opener, packet);
      assert.ok(opened.ok);
      assert.deepEqual(
        opened.messages.map((m) => m.kind),
        SAMPLES.map((m) => m.kind),
      );
      // Re-encoding what was decoded gives the original bytes: nothing lost or changed.
      opened.messages.forEach((m, i) =>
        assert.deepEqual(encodeMessage(m), encodeMessage(SAMPLES[i] as GossipMessage)),
      );
      const pp = opened.messages[8];
      assert.ok(pp?.kind === "pushPull");
      assert.deepEqual(
        pp.pushPull.nodes.map((n) => n.state),
        ["alive", "left", "dead", "suspect"],
      );
      const alive = opened.messages[4];
      assert.ok(alive?.kind === "alive");
      assert.equal(Buffer.from(alive.alive.meta).toString(), "vtep=10.0.0.2");
    });
  }

  it("writes exactly the bytes protobuf would for the envelope and compound", () => {
    const { sealer } = ends("lbl");
    const parts = SAMPLES.slice(0, 3).map(encodeMessage);
    const mine = sealPacket(sealer, parts);
    const body = protoType("GossipCompound")
      .encode({ messages: parts.map((p) => protoType("GossipMessage").decode(p)) })
      .finish();
    const theirs = protoType("GossipPacket").encode({ version: 1, clusterLabel: "lbl", body }).finish();
    assert.deepEqual([...mine], [...theirs]);
  });

  it("the computed overhead keeps a full packet within the budget", () => {
    for (const keyring of [undefined, new Keyring([K1])]) {
      const { sealer } = ends("a-long-cluster-label", keyring);
      const budget = 1400;
      const room = budget - packetOverhead(sealer, budget);
      // A user message of n ≥ 128 bytes encodes to n + 3 and takes n + 6 in a compound.
      const msg = encodeMessage({ kind: "user", user: new Uint8Array(room - 6) });
      assert.equal(compoundEntryCost(msg.length), room);
      const packet = sealPacket(sealer, [msg]);
      assert.ok(packet.length <= budget, `${packet.length} > ${budget}`);
    }
  });

  it("drops a truncated packet", () => {
    const { sealer, opener } = ends("");
    const packet = sealPacket(sealer, SAMPLES.map(encodeMessage));
    for (const cut of [1, 5, packet.length / 2, packet.length - 1]) {
      const r = openPacket(opener, packet.subarray(0, Math.floor(cut)));
      assert.equal(r.ok, false, `cut at ${cut}`);
    }
    const r = openPacket(opener, packet.subarray(0, packet.length - 1));
    assert.deepEqual(r, { ok: false, reason: "truncated" });
  });

  it("drops a corrupted packet, plaintext or encrypted", () => {
    const plainEnds = ends("");
    const packet = Buffer.from(sealPacket(plainEnds.sealer, [encodeMessage(SAMPLES[4] as GossipMessage)]));
    // [08 01][22 len][0a len <alive>]: break the compound entry's field header (wire type 7).
    assert.equal(packet[4], 0x0a);
    packet[4] = 0xff;
    assert.deepEqual(openPacket(plainEnds.opener, packet), { ok: false, reason: "malformed" });
    // Without a key, flipped bytes inside a string cannot be told from data: that is what
    // the keyring's authentication is for.

    const enc = ends("", new Keyring([K1]));
    const sealed = Buffer.from(sealPacket(enc.sealer, [encodeMessage(SAMPLES[0] as GossipMessage)]));
    sealed[sealed.length - 1] = (sealed[sealed.length - 1] ?? 0) ^ 1; // a flipped tag bit
    assert.deepEqual(openPacket(enc.opener, sealed), { ok: false, reason: "unauthenticated" });
  });

  it("drops a packet sealed with another key, or sent in plaintext to an encrypting member", () => {
    const writer = ends("", new Keyring([K2]));
    const reader = ends("", new Keyring([K1]));
    const packet = sealPacket(writer.sealer, [encodeMessage(SAMPLES[0] as GossipMessage)]);
    assert.deepEqual(openPacket(reader.opener, packet), { ok: false, reason: "unauthenticated" });
    const plainPacket = sealPacket(ends("").sealer, [encodeMessage(SAMPLES[0] as GossipMessage)]);
    assert.deepEqual(openPacket(reader.opener, plainPacket), { ok: false, reason: "unauthenticated" });
    assert.deepEqual(openPacket(ends("").opener, packet), { ok: false, reason: "unauthenticated" });
  });

  it("drops another cluster's label, another version, an oversized or an empty packet", () => {
    const blue = ends("blue");
    const packet = sealPacket(blue.sealer, [encodeMessage(SAMPLES[0] as GossipMessage)]);
    assert.deepEqual(openPacket(ends("red").opener, packet), { ok: false, reason: "label" });
    const v2 = protoType("GossipPacket").encode({ version: 2, clusterLabel: "blue" }).finish();
    assert.deepEqual(openPacket(blue.opener, v2), { ok: false, reason: "version" });
    assert.deepEqual(openPacket({ ...blue.opener, maxBytes: 10 }, packet), {
      ok: false,
      reason: "oversized",
    });
    const empty = protoType("GossipPacket").encode({ version: 1, clusterLabel: "blue" }).finish();
    assert.deepEqual(openPacket(blue.opener, empty), { ok: false, reason: "malformed" });
  });

  it("never throws on random bytes", () => {
    const { opener } = ends("");
    let seed = 42;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) & 255;
    for (let i = 0; i < 2000; i++) {
      const junk = Uint8Array.from({ length: 1 + (i % 200) }, next);
      const r = openPacket(opener, junk);
      assert.equal(typeof r.ok, "boolean");
    }
  });
});
