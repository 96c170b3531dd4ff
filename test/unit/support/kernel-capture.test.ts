/** Canonical kernel readings: what two readings may differ in, and how a difference is named. */
import assert from "node:assert/strict";
import { canonicalNft, firstDifference } from "../../support/kernel-capture.js";

const listing = (handles: number, elems: string[], packets: number) => ({
  nftables: [
    { metainfo: { version: "1.0.6", json_schema_version: 1 } },
    { table: { family: "ip", name: "swarmnet", handle: handles } },
    { chain: { family: "ip", table: "swarmnet", name: "pre", handle: handles + 1, type: "nat" } },
    {
      rule: {
        family: "ip",
        table: "swarmnet",
        chain: "pre",
        handle: handles + 2,
        expr: [{ counter: { packets, bytes: packets * 60 } }, { jump: { target: "a" } }],
      },
    },
    {
      rule: { family: "ip", table: "swarmnet", chain: "pre", handle: handles + 3, expr: [{ accept: null }] },
    },
    { set: { family: "ip", table: "swarmnet", name: "ports", handle: handles + 4, elem: elems } },
  ],
});

describe("kernel capture (fast-path-vs-resync test)", () => {
  it("nft: handles, counter values and element order do not count; rule order and elements do", () => {
    const a = canonicalNft(listing(1, ["a", "b"], 0));
    assert.equal(firstDifference(a, canonicalNft(listing(90, ["b", "a"], 17))), undefined);
    assert.match(
      firstDifference(a, canonicalNft(listing(1, ["a"], 0))) ?? "",
      /^set ip swarmnet ports › elem: only before \["\\"b\\""\]; only after \[\]/,
    );
    const swapped = listing(1, ["a", "b"], 0);
    swapped.nftables.splice(3, 2, swapped.nftables[4] as never, swapped.nftables[3] as never);
    assert.match(firstDifference(a, canonicalNft(swapped)) ?? "", /^rules ip swarmnet pre › 0: /);
  });

  it("names the first differing field by its path", () => {
    const before = { "sn-x-n1": { links: { vx4097: { ifindex: 7, mtu: 1450 } } } };
    const after = { "sn-x-n1": { links: { vx4097: { ifindex: 9, mtu: 1450 } } } };
    assert.equal(firstDifference(before, after), "sn-x-n1 › links › vx4097 › ifindex: 7 → 9");
    assert.equal(firstDifference(before, structuredClone(before)), undefined);
  });

  it("the order of tables does not count (the mesh's resync re-creates its table last)", () => {
    const other = { table: { family: "ip", name: "swarmnet_bridges", handle: 3 } };
    const first = listing(1, ["a"], 0);
    const last = listing(1, ["a"], 0);
    first.nftables.splice(1, 0, other as never);
    last.nftables.push(other as never);
    assert.equal(firstDifference({ nft: canonicalNft(first) }, { nft: canonicalNft(last) }), undefined);
    assert.match(
      firstDifference({ nft: canonicalNft(first) }, { nft: canonicalNft(listing(1, ["a"], 0)) }) ?? "",
      /^nft › table ip swarmnet_bridges: /,
    );
  });
});
