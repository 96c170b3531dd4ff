/**
 * The kernel backend's exact xfrm state and policy set for a 3-node cluster, before and
 * after a rotation, as the recording executor sees it (key bytes redacted in the golden
 * text; their agreement across nodes is checked separately), plus the guard ruleset.
 */
import assert from "node:assert/strict";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import { Executor, RecordingRunner } from "../../../common/executor.js";
import { KernelEncryptionBackend } from "../../../agent/encryption/kernel-backend.js";
import { loadEncryptionConfig } from "../../../agent/encryption/config.js";
import {
  rotateKeyRing,
  validateKeyRing,
  type DataKey,
  type KeyRing,
} from "../../../agent/encryption/key-schedule.js";
import { redactXfrmBatch, staleOurPolicyDeletes } from "../../../agent/encryption/xfrm-plan.js";

const key = (tag: number): DataKey => ({ tag, secret: Buffer.alloc(32, tag) });
const NODES = [
  { nodeName: "n1", underlayAddr: "100.64.1.1" },
  { nodeName: "n2", underlayAddr: "100.64.1.2" },
  { nodeName: "n3", underlayAddr: "100.64.1.3" },
];
const RING_BEFORE = validateKeyRing({ keys: [key(1), key(2), key(3)], primaryTag: 2 });
const RING_AFTER = rotateKeyRing(RING_BEFORE, key(4));

const STATE = (src: string, dst: string, spi: string) =>
  `  xfrm state add src ${src} dst ${dst} proto esp spi ${spi} reqid 21335 mode transport replay-window 128 flag esn aead rfc4106(gcm(aes)) 0x<key> 128`;
const POLICY = (verb: string, dst: string, spi: string) =>
  `  xfrm policy ${verb} src 100.64.1.1/32 dst ${dst}/32 proto udp dport 4789 dir out mark 0x53574e43 mask 0xffffffff tmpl src 100.64.1.1 dst ${dst} proto esp spi ${spi} reqid 21335 mode transport`;

async function backendFor(node: number, ring: KeyRing) {
  const runner = new RecordingRunner();
  const self = NODES[node] as (typeof NODES)[number];
  const b = new KernelEncryptionBackend({
    executor: new Executor(runner),
    config: loadEncryptionConfig(),
    localAddr: self.underlayAddr,
    netns: `sn-lab-${self.nodeName}`,
  });
  await b.start();
  await b.setEncryptedVnis([4097]);
  await b.setKeys(ring);
  runner.clear();
  await b.setPeers(NODES.filter((n) => n !== self));
  return { b, runner };
}

/** (src>dst#spi) → key hex, from the unredacted batch lines. */
function keysOf(runner: RecordingRunner): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of runner.lines()) {
    const m = /state add src (\S+) dst (\S+) proto esp spi (\S+) .* 0x([0-9a-f]{72}) 128/.exec(l);
    if (m) out.set(`${m[1]}>${m[2]}#${m[3]}`, m[4] as string);
  }
  return out;
}

describe("encryption kernel backend (recording executor)", () => {
  it("programs n1 of a 3-node cluster: inbound states for all three keys, outbound and policy for the primary", async () => {
    const { runner } = await backendFor(0, RING_BEFORE);
    assert.deepEqual(redactXfrmBatch(runner.lines()), [
      "ip -n sn-lab-n1 -batch -",
      STATE("100.64.1.2", "100.64.1.1", "0x3847cf13"),
      STATE("100.64.1.2", "100.64.1.1", "0x3947d0a6"),
      STATE("100.64.1.2", "100.64.1.1", "0x3a47d239"),
      STATE("100.64.1.3", "100.64.1.1", "0xa994dabc"),
      STATE("100.64.1.3", "100.64.1.1", "0xac94df75"),
      STATE("100.64.1.3", "100.64.1.1", "0xab94dde2"),
      STATE("100.64.1.1", "100.64.1.2", "0x1c0e9946"),
      STATE("100.64.1.1", "100.64.1.3", "0x62b5e109"),
      POLICY("add", "100.64.1.2", "0x1c0e9946"),
      POLICY("add", "100.64.1.3", "0x62b5e109"),
    ]);
  });

  it("rotates in one batch in the order that loses nothing: new inbound, new outbound, policies, then old states", async () => {
    const { b, runner } = await backendFor(0, RING_BEFORE);
    runner.clear();
    await b.setKeys(RING_AFTER);
    assert.deepEqual(redactXfrmBatch(runner.lines()), [
      "ip -n sn-lab-n1 -batch -",
      STATE("100.64.1.2", "100.64.1.1", "0x3b47d3cc"),
      STATE("100.64.1.3", "100.64.1.1", "0xa694d603"),
      STATE("100.64.1.1", "100.64.1.2", "0x1d0e9ad9"),
      STATE("100.64.1.1", "100.64.1.3", "0x61b5df76"),
      POLICY("update", "100.64.1.2", "0x1d0e9ad9"),
      POLICY("update", "100.64.1.3", "0x61b5df76"),
      "  xfrm state delete src 100.64.1.2 dst 100.64.1.1 proto esp spi 0x3847cf13",
      "  xfrm state delete src 100.64.1.1 dst 100.64.1.2 proto esp spi 0x1c0e9946",
      "  xfrm state delete src 100.64.1.3 dst 100.64.1.1 proto esp spi 0xa994dabc",
      "  xfrm state delete src 100.64.1.1 dst 100.64.1.3 proto esp spi 0x62b5e109",
    ]);
  });

  it("every node's outbound state is the peer's inbound state: same SPI, same key bytes, before and after", async () => {
    for (const ring of [RING_BEFORE, RING_AFTER]) {
      const all = new Map<string, string>();
      const perNode = await Promise.all(
        [0, 1, 2].map(async (i) => keysOf((await backendFor(i, ring)).runner)),
      );
      for (const m of perNode) for (const [k, v] of m) all.set(k, v);
      for (const [i, m] of perNode.entries()) {
        const self = NODES[i]?.underlayAddr as string;
        const outbound = [...m].filter(([id]) => id.startsWith(`${self}>`));
        assert.equal(outbound.length, 2);
        for (const [id, hex] of outbound) {
          const peerIndex = NODES.findIndex((n) => id.includes(`>${n.underlayAddr}#`));
          assert.equal(perNode[peerIndex]?.get(id), hex, `peer's inbound ${id}`);
        }
      }
      assert.equal(
        all.size,
        3 * 2 * ring.keys.length,
        "inbound: 3 nodes × 2 peers × keys; outbound ids coincide",
      );
    }
  });

  it("removes every state and policy when the last encrypted peer goes, and everything of ours on stop", async () => {
    const { b, runner } = await backendFor(0, RING_BEFORE);
    runner.clear();
    await b.setPeers([]);
    const lines = runner.lines();
    assert.equal(lines.filter((l) => l.includes("xfrm state delete")).length, 8);
    assert.equal(lines.filter((l) => l.includes("xfrm policy delete")).length, 2);
    assert.equal((await b.stats()).counters["xfrmStates"], 0);
    runner.clear();
    await b.stop();
    assert.deepEqual(runner.lines(), [
      "ip -n sn-lab-n1 xfrm policy list dir out",
      "ip -n sn-lab-n1 -batch -",
      "  xfrm state deleteall reqid 21335",
      "ip netns exec sn-lab-n1 nft -f -",
      "  table ip swarmnet_encryption {}",
      "  delete table ip swarmnet_encryption",
    ]);
  });

  it("marks encrypted VNIs for the ESP policy and drops their plaintext both ways", async () => {
    const runner = new RecordingRunner();
    const b = new KernelEncryptionBackend({
      executor: new Executor(runner),
      config: loadEncryptionConfig(),
      localAddr: "100.64.1.1",
    });
    await b.start();
    runner.clear();
    await b.setEncryptedVnis([4098, 4097, 4098]);
    assert.deepEqual(b.encryptedVnis, [4097, 4098]);
    assert.deepEqual(runner.lines(), [
      "nft -f -",
      "  table ip swarmnet_encryption {}",
      "  delete table ip swarmnet_encryption",
      "  table ip swarmnet_encryption {",
      "    set encrypted_vnis {",
      "      typeof @th,96,24",
      "      elements = { 4097, 4098 }",
      "    }",
      "    chain mark_out {",
      "      type route hook output priority mangle; policy accept;",
      "      udp dport 4789 @th,96,24 @encrypted_vnis meta mark set 0x53574e43",
      "    }",
      "    chain guard_out {",
      "      type filter hook postrouting priority srcnat + 1; policy accept;",
      "      udp dport 4789 @th,96,24 @encrypted_vnis rt ipsec missing counter drop",
      "    }",
      "    chain guard_in {",
      "      type filter hook input priority filter; policy accept;",
      "      udp dport 4789 @th,96,24 @encrypted_vnis meta ipsec missing counter drop",
      "    }",
      "  }",
    ]);
  });

  it("follows the cluster's data-path port: set before start, the guard and the policies select it", async () => {
    const runner = new RecordingRunner();
    const b = new KernelEncryptionBackend({
      executor: new Executor(runner),
      config: loadEncryptionConfig(),
      localAddr: "100.64.1.1",
    });
    await b.setVxlanPort(7789);
    assert.deepEqual(runner.lines(), [], "nothing programmed before start()");
    await b.start();
    await b.setEncryptedVnis([4097]);
    await b.setKeys(RING_BEFORE);
    await b.setPeers([NODES[1] as (typeof NODES)[number]]);
    const lines = runner.lines();
    assert.ok(lines.includes("      udp dport 7789 @th,96,24 @encrypted_vnis meta mark set 0x53574e43"));
    assert.ok(lines.includes("      udp dport 7789 @th,96,24 @encrypted_vnis rt ipsec missing counter drop"));
    assert.ok(
      lines.includes("      udp dport 7789 @th,96,24 @encrypted_vnis meta ipsec missing counter drop"),
    );
    assert.ok(!lines.some((l) => l.includes("4789")), "nothing of 4789");
    assert.ok(lines.includes(POLICY("add", "100.64.1.2", "0x1c0e9946").replace("dport 4789", "dport 7789")));
  });

  it("on a new port while running: guard on both ports in one transaction, then new policies before the old go", async () => {
    const { b, runner } = await backendFor(0, RING_BEFORE);
    runner.clear();
    await b.setVxlanPort(7789);
    const at7789 = (dst: string, spi: string) => POLICY("add", dst, spi).replace("dport 4789", "dport 7789");
    const del = (dst: string) =>
      `  xfrm policy delete src 100.64.1.1/32 dst ${dst}/32 proto udp dport 4789 dir out mark 0x53574e43 mask 0xffffffff`;
    assert.deepEqual(runner.lines(), [
      "ip netns exec sn-lab-n1 nft -f -",
      "  table ip swarmnet_encryption {}",
      "  delete table ip swarmnet_encryption",
      "  table ip swarmnet_encryption {",
      "    set encrypted_vnis {",
      "      typeof @th,96,24",
      "      elements = { 4097 }",
      "    }",
      "    chain mark_out {",
      "      type route hook output priority mangle; policy accept;",
      "      udp dport { 4789, 7789 } @th,96,24 @encrypted_vnis meta mark set 0x53574e43",
      "    }",
      "    chain guard_out {",
      "      type filter hook postrouting priority srcnat + 1; policy accept;",
      "      udp dport { 4789, 7789 } @th,96,24 @encrypted_vnis rt ipsec missing counter drop",
      "    }",
      "    chain guard_in {",
      "      type filter hook input priority filter; policy accept;",
      "      udp dport { 4789, 7789 } @th,96,24 @encrypted_vnis meta ipsec missing counter drop",
      "    }",
      "  }",
      "ip -n sn-lab-n1 -batch -",
      at7789("100.64.1.2", "0x1c0e9946"),
      at7789("100.64.1.3", "0x62b5e109"),
      del("100.64.1.2"),
      del("100.64.1.3"),
    ]);
    runner.clear();
    await b.setVxlanPort(7789);
    assert.deepEqual(runner.lines(), [], "the same port again changes nothing");
  });

  it("after a failed batch, reprograms everything of ours from scratch on the next change", async () => {
    const { b, runner } = await backendFor(0, RING_BEFORE);
    runner.clear();
    runner.on(/-batch/, { exitCode: 2, stderr: "RTNETLINK answers: No such process\nCommand failed -:3" }, 1);
    await assert.rejects(b.setKeys(RING_AFTER), (err: unknown) => {
      assert.ok(isSwarmnetError(err));
      assert.equal(err.retryable, true);
      assert.doesNotMatch(err.message, /[0-9a-f]{72}/, "no key bytes in errors");
      return true;
    });
    runner.clear();
    await b.setKeys(RING_AFTER);
    const lines = runner.lines();
    assert.equal(lines[0], "ip -n sn-lab-n1 xfrm policy list dir out");
    assert.ok(lines.includes("  xfrm state deleteall reqid 21335"));
    assert.equal(lines.filter((l) => l.includes("xfrm state add")).length, 8);
    assert.equal(lines.filter((l) => l.includes("xfrm policy add")).length, 2);
  });

  it("finds only its own stale policies (by mark) in a listing", () => {
    const listing = [
      "src 100.64.1.1/32 dst 100.64.1.2/32 proto udp dport 4789 ",
      "\tdir out priority 0 ptype main ",
      "\tmark 0x53574e43/0xffffffff ",
      "\ttmpl src 100.64.1.1 dst 100.64.1.2",
      "\t\tproto esp spi 0x12345678 reqid 21335 mode transport",
      "src 100.64.1.1/32 dst 100.64.1.3/32 proto udp dport 4789 ",
      "\tdir out priority 0 ptype main ",
      "\tmark 0xd0c4e3/0xffffffff ",
      "\ttmpl src 100.64.1.1 dst 100.64.1.3",
      "\t\tproto esp reqid 7 mode transport",
    ].join("\n");
    assert.deepEqual(staleOurPolicyDeletes(listing, { mark: 0x53574e43, reqid: 21335, replayWindow: 128 }), [
      "xfrm policy delete src 100.64.1.1/32 dst 100.64.1.2/32 proto udp dport 4789 dir out mark 0x53574e43 mask 0xffffffff",
    ]);
  });

  it("points FDB entries at the peer's underlay address and lowers the MTU by the ESP overhead", () => {
    const b = new KernelEncryptionBackend({
      executor: new Executor(new RecordingRunner()),
      config: loadEncryptionConfig(),
      localAddr: "100.64.1.1",
    });
    assert.equal(b.fdbDestination("100.64.1.2"), "100.64.1.2");
    assert.equal(b.overlayMtu(1500), 1410);
  });

  it("rejects bad input before touching the kernel", async () => {
    const runner = new RecordingRunner();
    const b = new KernelEncryptionBackend({
      executor: new Executor(runner),
      config: loadEncryptionConfig(),
      localAddr: "100.64.1.1",
    });
    assert.throws(() => b.setEncryptedVnis([0]), /VNI 0 is not an integer in 1\.\.16777215/);
    assert.throws(
      () => b.setKeys({ keys: [key(1)], primaryTag: 2 }),
      (e: unknown) => isSwarmnetError(e, ErrorCode.InvalidArgument),
    );
    assert.equal(runner.commands.length, 0);
  });
});

describe("encryption kernel backend repair (the resync pass)", () => {
  /** `ip xfrm state list` / `policy list` as the kernel prints what `lines` added (keys left out). */
  function listings(lines: string[]): { states: string; policies: string } {
    const states: string[] = [];
    const policies: string[] = [];
    for (const l of lines) {
      const s = /xfrm state add src (\S+) dst (\S+) proto esp spi (\S+) reqid (\d+)/.exec(l);
      if (s) states.push(`src ${s[1]} dst ${s[2]}\n\tproto esp spi ${s[3]} reqid ${s[4]} mode transport\n`);
      const p = /xfrm policy add (src \S+ dst \S+ proto udp dport \d+) dir out mark (\S+) mask (\S+)/.exec(l);
      if (p) policies.push(`${p[1]} \n\tdir out priority 0 \n\tmark ${p[2]}/${p[3]} \n\ttmpl src x dst y\n`);
    }
    return { states: states.join(""), policies: policies.join("") };
  }
  const TABLE = (packets: number, rules = 1) =>
    JSON.stringify({
      nftables: [
        { metainfo: { version: "1.0.6" } },
        { table: { family: "ip", name: "swarmnet_encryption", handle: 7 } },
        ...Array.from({ length: rules }, (_, i) => ({
          rule: {
            chain: "guard_in",
            handle: 10 + i,
            expr: [{ counter: { packets, bytes: packets * 90 } }, { drop: null }],
          },
        })),
      ],
    });
  const LIST_GUARD = "nft -j list table ip swarmnet_encryption";

  it("changes nothing while the kernel holds what it programmed (counters may move)", async () => {
    const { b, runner } = await backendFor(0, RING_BEFORE);
    const { states, policies } = listings(runner.lines());
    runner.on("xfrm state list", { stdout: states }).on("xfrm policy list", { stdout: policies });
    runner.on(LIST_GUARD, { stdout: TABLE(0) }, 1).on(LIST_GUARD, { stdout: TABLE(42) });
    runner.clear();
    await b.repair();
    await b.repair();
    assert.deepEqual(
      runner.lines().filter((l) => !/list/.test(l)),
      [],
      "only reads",
    );
  });

  it("applies the guard again when its table is gone or a rule went, and reprograms states when one is missing", async () => {
    const { b, runner } = await backendFor(0, RING_BEFORE);
    const { states, policies } = listings(runner.lines());
    // Earlier rules answer first: three intact state listings, then one missing a state.
    runner.on("xfrm state list", { stdout: states }, 3).on("xfrm policy list", { stdout: policies });
    runner.on(
      "xfrm state list",
      {
        stdout: states
          .split(/(?=src )/)
          .slice(1)
          .join(""),
      },
      1,
    );
    runner.on(LIST_GUARD, { exitCode: 1, stderr: "Error: No such file or directory" }, 1);
    runner.clear();
    await b.repair();
    assert.ok(runner.lines().includes("  table ip swarmnet_encryption {"), "the guard applied again");
    assert.ok(!runner.lines().some((l) => l.includes("xfrm state add")), "states were intact");

    runner.on(LIST_GUARD, { stdout: TABLE(5, 2) }, 1).on(LIST_GUARD, { stdout: TABLE(5, 1) });
    await b.repair(); // the first look after an apply: the reference
    runner.clear();
    await b.repair(); // a rule went
    assert.ok(runner.lines().includes("  table ip swarmnet_encryption {"), "the guard applied again");

    runner.clear();
    await b.repair();
    const lines = runner.lines();
    assert.ok(lines.includes("  xfrm state deleteall reqid 21335"), lines.join("\n"));
    assert.equal(lines.filter((l) => l.includes("xfrm state add")).length, 8);
    assert.ok(!lines.includes("  table ip swarmnet_encryption {"), "the guard was intact this time");
  });
});
