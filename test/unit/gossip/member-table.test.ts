/**
 * The SWIM state machine alone (no network): which messages change a member's state,
 * refutation, conflicts, and the probe schedules.
 */
import assert from "node:assert/strict";
import { VirtualClock } from "../../../common/clock.js";
import type { GossipMessage } from "../../../agent/gossip/codec.js";
import { loadGossipConfig } from "../../../agent/gossip/config.js";
import { MemberTable, type MemberEventType } from "../../../agent/gossip/member-table.js";
import { seededRandom } from "../../../agent/gossip/random.js";

interface Probe {
  table: MemberTable;
  clock: VirtualClock;
  sent: GossipMessage[];
  events: string[];
  conflicts: string[];
  refutations: number;
}

function table(name = "me", extra: Record<string, unknown> = {}, clock = new VirtualClock()): Probe {
  const p: Probe = {
    table: undefined as unknown as MemberTable,
    clock,
    sent: [],
    events: [],
    conflicts: [],
    refutations: 0,
  };
  p.table = new MemberTable(
    loadGossipConfig({ nodeName: name, ...extra }),
    clock,
    seededRandom(1),
    {
      broadcast: (_key, msg) => p.sent.push(msg),
      event: (type: MemberEventType, m) => p.events.push(`${type} ${m.name}`),
      conflict: (existing, claim) => p.conflicts.push(`${existing.name} ${claim.addr}`),
      refuted: () => p.refutations++,
      suspected: () => undefined,
      declaredDead: () => undefined,
    },
    `10.0.0.1:7946`,
    new Uint8Array(0),
  );
  return p;
}

const alive = (node: string, incarnation: number, addr = `${node}:7946`) => ({
  incarnation,
  node,
  addr,
  meta: new Uint8Array(0),
});

describe("gossip member table (SWIM rules)", () => {
  it("learns a member from alive, ignores stale incarnations, reports metadata changes", () => {
    const p = table();
    p.table.aliveNode(alive("b", 1));
    assert.deepEqual(p.events, ["join b"]);
    p.table.aliveNode(alive("b", 1));
    assert.equal(p.sent.length, 1, "the same news is not re-broadcast");
    p.table.aliveNode({ ...alive("b", 2), meta: Uint8Array.of(7) });
    assert.deepEqual(p.events, ["join b", "update b"]);
    p.table.aliveNode(alive("b", 1));
    assert.equal(p.table.get("b")?.incarnation, 2);
  });

  it("suspect → dead after the suspicion timeout; alive with a higher incarnation refutes", () => {
    const p = table();
    for (const n of ["b", "c", "d"]) p.table.aliveNode(alive(n, 1));
    p.table.suspectNode({ incarnation: 1, node: "b", from: "c" });
    assert.equal(p.table.get("b")?.state, "suspect");
    p.table.aliveNode(alive("b", 2));
    assert.equal(p.table.get("b")?.state, "alive");
    p.table.suspectNode({ incarnation: 2, node: "c", from: "b" });
    p.clock.advance(60_000); // k = 2 for N = 4: a lone accuser waits 6 × min
    assert.equal(p.table.get("c")?.state, "dead");
    assert.ok(p.events.includes("dead c"));
  });

  it("another member's dead verdict kills a suspected member at once, one we see alive only becomes suspect", () => {
    const p = table();
    for (const n of ["b", "c", "d"]) p.table.aliveNode(alive(n, 1));
    p.table.deadNode({ incarnation: 1, node: "b", from: "c" });
    assert.equal(p.table.get("b")?.state, "suspect");
    const last = p.sent.at(-1);
    assert.ok(last?.kind === "suspect" && last.suspect.from === "c");
    p.table.aliveNode(alive("b", 2)); // b heard it and refuted
    assert.equal(p.table.get("b")?.state, "alive");
    p.table.suspectNode({ incarnation: 1, node: "d", from: "c" });
    p.table.deadNode({ incarnation: 1, node: "d", from: "c" });
    assert.equal(p.table.get("d")?.state, "dead");
    assert.ok(!p.events.includes("dead b") && p.events.includes("dead d"));
  });

  it("refutes a suspicion or death about itself with a higher incarnation", () => {
    const p = table();
    p.table.aliveNode(alive("b", 1));
    p.table.suspectNode({ incarnation: 5, node: "me", from: "b" });
    assert.equal(p.table.local.incarnation, 6);
    assert.equal(p.table.local.state, "alive");
    p.table.deadNode({ incarnation: 6, node: "me", from: "b" });
    assert.equal(p.table.local.incarnation, 7);
    assert.equal(p.refutations, 2);
    const last = p.sent.at(-1);
    assert.ok(last?.kind === "alive" && last.alive.incarnation === 7);
  });

  it("dead from the member itself is a graceful leave", () => {
    const p = table();
    p.table.aliveNode(alive("b", 3));
    p.table.deadNode({ incarnation: 3, node: "b", from: "b" });
    assert.equal(p.table.get("b")?.state, "left");
    assert.deepEqual(p.events, ["join b", "leave b"]);
  });

  it("refuses a second address for a known name, unless the holder left", () => {
    const p = table();
    p.table.aliveNode(alive("b", 1, "10.0.0.2:7946"));
    p.table.aliveNode(alive("b", 9, "10.0.0.99:7946"));
    assert.deepEqual(p.conflicts, ["b 10.0.0.99:7946"]);
    assert.equal(p.table.get("b")?.addr, "10.0.0.2:7946");
    p.table.deadNode({ incarnation: 1, node: "b", from: "b" });
    p.table.aliveNode(alive("b", 10, "10.0.0.99:7946"));
    assert.equal(p.table.get("b")?.addr, "10.0.0.99:7946");
  });

  it("slotted probing: with one view, every live member is probed exactly once per round", () => {
    const names = Array.from({ length: 37 }, (_, i) => `n${i}`);
    const tables = names.map((n) => table(n).table);
    for (const t of tables)
      for (const n of names) t.aliveNode(alive(n, 1, n === t.local.name ? "10.0.0.1:7946" : `${n}:7946`));
    for (const round of [0, 1, 17, 36, 1000]) {
      const targets = tables.map((t) => t.slottedProbeTarget(round)?.name);
      assert.deepEqual([...targets].sort(), [...names].sort(), `round ${round}`);
      tables.forEach((t, i) => assert.notEqual(targets[i], t.local.name));
    }
    // Over n − 1 rounds each member probes every other member once.
    const seen = new Set<string>();
    for (let r = 0; r < names.length - 1; r++) seen.add(tables[0]?.slottedProbeTarget(r)?.name ?? "");
    assert.equal(seen.size, names.length - 1);
  });

  it("shuffled probing visits every live member once per pass and skips the dead", () => {
    const p = table("me", { probeSchedule: "shuffled" });
    for (const n of ["a", "b", "c", "d"]) p.table.aliveNode(alive(n, 1));
    p.table.deadNode({ incarnation: 1, node: "c", from: "me" });
    const pass = new Set<string>();
    for (let i = 0; i < 4; i++) pass.add(p.table.nextProbeTarget()?.name ?? "");
    assert.deepEqual([...pass].sort(), ["a", "b", "d"]);
  });
});
