/**
 * SWIM membership as a user of the cluster sees it, on the simulated network: joins,
 * crashes, stopped processes, loss, partitions, key rotation, leave, restarts, conflicts.
 */
import assert from "node:assert/strict";
import { loadGossipConfig } from "../../../agent/gossip/config.js";
import { Keyring } from "../../../agent/gossip/keyring.js";
import { Memberlist } from "../../../agent/gossip/memberlist.js";
import type { Member } from "../../../agent/gossip/member-table.js";
import { SimCluster, simAddr, type SimMember } from "../../../agent/gossip/sim-cluster.js";

/** Members joined one by one through the first; returns them after the joins settled. */
async function joinedCluster(c: SimCluster, n: number): Promise<SimMember[]> {
  const seed = c.add();
  const joins: Promise<number>[] = [];
  for (let i = 1; i < n; i++) {
    joins.push(c.add().memberlist.join([seed.addr]));
    c.run(20);
  }
  c.run(500);
  await Promise.all(joins);
  assert.ok(
    c.runUntil(() => c.up().every((m) => m.memberlist.liveMembers === n), 60_000),
    "cluster did not converge",
  );
  return [...c.members.values()];
}

/** Records every "dead" verdict: observer → subjects. */
function watchDeaths(members: readonly SimMember[]): Map<string, string[]> {
  const deaths = new Map<string, string[]>();
  for (const m of members) {
    m.memberlist.on("dead", (x: Member) => deaths.set(x.name, [...(deaths.get(x.name) ?? []), m.name]));
  }
  return deaths;
}

function everyoneElseSees(c: SimCluster, subject: string, state: Member["state"]): boolean {
  return c.up().every((m) => m.name === subject || c.stateOf(m.name, subject) === state);
}

describe("gossip membership (simulated network)", () => {
  it("100 members join through one seed and all see 100 alive", async () => {
    const c = new SimCluster({ seed: 3 });
    const members = await joinedCluster(c, 100);
    for (const m of members) {
      assert.equal(m.memberlist.members().filter((x) => x.state === "alive").length, 100);
    }
  });

  it("marks a crashed member dead on every other member", async () => {
    const c = new SimCluster({ seed: 4 });
    await joinedCluster(c, 20);
    c.crash("m7");
    let worstHealth = 0;
    assert.ok(
      c.runUntil(() => {
        for (const m of c.up()) worstHealth = Math.max(worstHealth, m.memberlist.healthScore);
        return everyoneElseSees(c, "m7", "dead");
      }, 60_000),
    );
    // The helpers of a failed probe nack in time: probing a dead member is not our fault.
    assert.equal(worstHealth, 0);
  });

  it("a paused member that resumes before its suspicion timeout refutes and is never marked dead", async () => {
    const c = new SimCluster({ seed: 5 });
    const members = await joinedCluster(c, 20);
    const deaths = watchDeaths(members);
    let suspected = false;
    c.pause("m3");
    // Minimum suspicion at N=20 is 4 × log10(20) × 1 s ≈ 5.2 s; resume after 4 s.
    for (let t = 0; t < 4000; t += 100) {
      c.run(100);
      suspected ||= c.up().some((m) => c.stateOf(m.name, "m3") === "suspect");
    }
    c.resume("m3");
    c.run(60_000);
    assert.ok(suspected, "the pause should have been noticed");
    assert.ok(c.get("m3").memberlist.metrics().refutations >= 1);
    assert.equal(deaths.get("m3"), undefined);
    assert.ok(everyoneElseSees(c, "m3", "alive"));
  });

  it("10 % packet loss for 10 simulated minutes gives zero false deaths at 50 members", async () => {
    const c = new SimCluster({ seed: 6 });
    const members = await joinedCluster(c, 50);
    const deaths = watchDeaths(members);
    c.sim.setDefaultLink({ loss: 0.1 });
    c.run(600_000);
    assert.deepEqual([...deaths.keys()], []);
    assert.ok(c.up().every((m) => m.memberlist.liveMembers === 50));
  });

  it("one member cut off for 30 s: after the heal no one sees a member of the majority dead (20 seeds)", async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const c = new SimCluster({ seed });
      const members = await joinedCluster(c, 5);
      const majority = members.slice(0, 4);
      const deaths = watchDeaths(majority);
      c.run(1000 + seed * 137);
      c.sim.partition([majority.map((m) => m.addr), [members[4]!.addr]]);
      c.run(30_000);
      c.sim.heal();
      assert.ok(
        c.runUntil(() => members.every((m) => m.memberlist.liveMembers === 5), 60_000),
        `seed ${seed}: after healing: ${members.map((m) => m.memberlist.liveMembers).join(",")}`,
      );
      const falseDeaths = [...deaths].filter(([subject]) => subject !== members[4]!.name);
      assert.deepEqual(falseDeaths, [], `seed ${seed}`);
    }
  });

  it("a partition into 30 and 20 heals into one cluster", async () => {
    const c = new SimCluster({ seed: 7 });
    const members = await joinedCluster(c, 50);
    const a = members.slice(0, 30).map((m) => m.addr);
    const b = members.slice(30).map((m) => m.addr);
    c.sim.partition([a, b]);
    assert.ok(
      c.runUntil(
        () => members.every((m) => m.memberlist.liveMembers === (members.indexOf(m) < 30 ? 30 : 20)),
        180_000,
      ),
      "each side should declare the other dead",
    );
    // Long enough for both sides to reap each other: only reconnect attempts can heal it.
    c.run(120_000);
    assert.ok(members.every((m) => m.memberlist.liveMembers === (members.indexOf(m) < 30 ? 30 : 20)));
    c.sim.heal();
    assert.ok(
      c.runUntil(() => members.every((m) => m.memberlist.liveMembers === 50), 600_000, 1000),
      `after healing: ${members.map((m) => m.memberlist.liveMembers).join(",")}`,
    );
  });

  it("rotates the gossip key (install → use → remove) during traffic without losing a member", async () => {
    const k1 = new Uint8Array(32).fill(1);
    const k2 = new Uint8Array(32).fill(2);
    const rings = new Map<string, Keyring>();
    const c = new SimCluster({
      seed: 8,
      link: { loss: 0.02 },
      keyring: (name) => {
        const ring = new Keyring([k1]);
        rings.set(name, ring);
        return ring;
      },
    });
    const members = await joinedCluster(c, 12);
    const deaths = watchDeaths(members);
    const suspicions = () => members.reduce((s, m) => s + m.memberlist.metrics().suspicionsStarted, 0);
    const before = suspicions();
    const step = (fn: (ring: Keyring) => void): void => {
      for (const ring of rings.values()) {
        fn(ring);
        c.run(700); // one member at a time, traffic flowing in between
      }
      c.run(5000);
    };
    step((r) => r.install(k2));
    step((r) => r.use(k2));
    step((r) => r.remove(k1));
    c.run(30_000);
    assert.deepEqual([...deaths.keys()], []);
    assert.equal(suspicions(), before, "no member should even be suspected");
    assert.ok(members.every((m) => m.memberlist.liveMembers === 12));
    for (const ring of rings.values()) assert.equal(ring.keys().length, 1);
    const unauth = members.reduce((s, m) => s + m.memberlist.metrics().droppedPackets.unauthenticated, 0);
    assert.equal(unauth, 0);
  });

  it("a member without the key cannot join an encrypted cluster, and its packets are counted as dropped", async () => {
    const key = new Uint8Array(32).fill(9);
    const c = new SimCluster({
      seed: 9,
      keyring: (name) => (name === "m3" ? undefined : new Keyring([key])),
    });
    const seed = c.add();
    const insiders = [c.add(), c.add()].map((m) => m.memberlist.join([seed.addr]));
    c.run(1000);
    assert.deepEqual(await Promise.all(insiders), [1, 1]);
    const outsider = c.add();
    const joined = outsider.memberlist.join([seed.addr]);
    c.run(15_000);
    await assert.rejects(joined, /no seed reachable/);
    assert.ok(seed.memberlist.metrics().droppedPackets.unauthenticated > 0);
    assert.equal(seed.memberlist.member("m3"), undefined);
  });

  it("refuses packets of another cluster label", async () => {
    const c = new SimCluster({ seed: 10, config: { clusterLabel: "blue" } });
    const seed = c.add();
    const addr = "10.9.9.8:7946";
    const red = new Memberlist(
      loadGossipConfig({ nodeName: "red1", clusterLabel: "red" }),
      c.sim.transport(addr),
      {
        clock: c.sim.nodeClock(addr),
      },
    );
    red.start();
    const joined = red.join([seed.addr]);
    c.run(15_000);
    await assert.rejects(joined, /no seed reachable/);
    assert.ok(seed.memberlist.metrics().droppedPackets.label > 0);
    assert.equal(seed.memberlist.member("red1"), undefined);
    red.stop();
  });

  it("members started before their seed keep retrying it and form one cluster once it is up", async () => {
    const c = new SimCluster({ seed: 14 });
    const seedAddr = simAddr(3); // the fourth member created will be the seed
    const early = [c.add("e1"), c.add("e2"), c.add("e3")];
    const joins = early.map((m) => m.memberlist.join([seedAddr]).catch(() => 0));
    c.run(3000);
    assert.deepEqual(await Promise.all(joins), [0, 0, 0], "the seed is not up yet");
    const seed = c.add("seed");
    assert.equal(seed.addr, seedAddr);
    assert.ok(c.runUntil(() => c.up().every((m) => m.memberlist.liveMembers === 4), 20_000));
  });

  it("a member that leaves is seen as left, not dead", async () => {
    const c = new SimCluster({ seed: 11 });
    const members = await joinedCluster(c, 10);
    const deaths = watchDeaths(members);
    const left: string[] = [];
    for (const m of members) {
      if (m.name !== "m4") m.memberlist.on("leave", (x: Member) => left.push(`${m.name}:${x.name}`));
    }
    const leaving = c.get("m4").memberlist.leave(5000);
    c.run(3000);
    assert.equal(await leaving, true);
    c.crash("m4"); // the process exits after leaving
    c.run(5000);
    assert.ok(everyoneElseSees(c, "m4", "left"));
    c.run(60_000); // past gossipToTheDead: forgotten, never declared dead
    assert.equal(deaths.get("m4"), undefined);
    assert.equal(left.length, 9);
  });

  it("a crashed member that restarts comes back alive with a higher incarnation", async () => {
    const c = new SimCluster({ seed: 12 });
    await joinedCluster(c, 10);
    const before = c.get("m0").memberlist.member("m5")?.incarnation ?? 0;
    c.crash("m5");
    assert.ok(c.runUntil(() => everyoneElseSees(c, "m5", "dead"), 60_000));
    const deadInc = c.get("m0").memberlist.member("m5")?.incarnation ?? 0;
    const again = c.add("m5");
    const joined = again.memberlist.join([c.get("m0").addr]);
    c.run(2000);
    assert.equal(await joined, 1);
    assert.ok(c.runUntil(() => everyoneElseSees(c, "m5", "alive"), 30_000));
    const after = c.get("m0").memberlist.member("m5")?.incarnation ?? 0;
    assert.ok(after > deadInc && after > before, `incarnation ${before} → dead ${deadInc} → ${after}`);
  });

  it("detects a name conflict and keeps the member that had the name", async () => {
    const c = new SimCluster({ seed: 13 });
    await joinedCluster(c, 5);
    const conflicts: string[] = [];
    c.get("m0").memberlist.on("conflict", (x) => conflicts.push(`${x.existing.name}@${x.claimAddr}`));
    // A second process calling itself m2, from another address.
    const impostorAddr = "10.9.9.9:7946";
    const impostor = new Memberlist(c.configFor("m2"), c.sim.transport(impostorAddr), {
      clock: c.sim.nodeClock(impostorAddr),
    });
    impostor.start();
    const joined = impostor.join([c.get("m0").addr]);
    c.run(3000);
    await joined;
    c.run(5000);
    assert.ok(conflicts.includes(`m2@${impostorAddr}`), `conflicts: ${conflicts.join(",")}`);
    const seen = c.get("m0").memberlist.member("m2");
    assert.equal(`${seen?.addr}:${seen?.port}`, c.get("m2").addr);
    assert.equal(seen?.state, "alive");
    impostor.stop();
  });
});
