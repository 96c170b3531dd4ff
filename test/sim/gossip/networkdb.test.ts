/**
 * NetworkDB as its consumers (the overlay driver, the DNS server) see it, on the
 * simulated network: replication within a network only, subscriptions, a dead owner's
 * entries hidden and restored, late joiners, leaving, restarts and reaping.
 */
import assert from "node:assert/strict";
import type { TableChange } from "../../../agent/gossip/networkdb.js";
import { SimCluster } from "../../../agent/gossip/sim-cluster.js";

const bytes = (s: string): Uint8Array => Buffer.from(s);
const str = (b: Uint8Array): string => Buffer.from(b).toString();

async function cluster(
  n: number,
  seed: number,
  networkdb: Record<string, unknown> = {},
): Promise<SimCluster> {
  const c = new SimCluster({ seed, networkdb });
  const first = c.add();
  const joins: Promise<number>[] = [];
  for (let i = 1; i < n; i++) {
    joins.push(c.add().memberlist.join([first.addr]));
    c.run(20);
  }
  c.run(500);
  await Promise.all(joins);
  assert.ok(c.runUntil(() => c.up().every((m) => m.memberlist.liveMembers === n), 60_000));
  return c;
}

function names(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => `m${from + i}`);
}

function seesValue(
  c: SimCluster,
  name: string,
  net: string,
  key: string,
  value: string | undefined,
): boolean {
  const e = c
    .db(name)
    .entries(net, "endpoints")
    .find((x) => x.key === key);
  return value === undefined ? e === undefined : e !== undefined && str(e.value) === value;
}

describe("NetworkDB (simulated network)", () => {
  it("an entry written on one member reaches every member of its network and none outside it", async () => {
    const c = await cluster(20, 21);
    const blue = names(0, 10);
    const red = names(10, 20);
    for (const n of blue) c.db(n).joinNetwork("blue");
    for (const n of red) c.db(n).joinNetwork("red");
    c.run(2000);
    c.db("m3").put("blue", "endpoints", "ep1", bytes("10.0.0.5/aa:bb"));
    assert.ok(c.runUntil(() => blue.every((n) => seesValue(c, n, "blue", "ep1", "10.0.0.5/aa:bb")), 10_000));
    c.run(30_000);
    for (const n of red) {
      const m = c.db(n).metrics();
      assert.equal(m.tableEventsIn, 0, `${n} received a blue table event`);
      assert.equal(m.droppedNotInNetwork, 0);
      assert.deepEqual(c.db(n).entries("blue", "endpoints"), []);
    }
    assert.deepEqual(c.db("m0").networkMembers("blue").sort(), [...blue].sort());
  });

  it("a subscriber gets the snapshot first, then add, update and delete as they happen", async () => {
    const c = await cluster(5, 22);
    for (const n of names(0, 5)) c.db(n).joinNetwork("net1");
    c.run(2000);
    c.db("m1").put("net1", "endpoints", "a", bytes("1"));
    c.run(3000);
    const seen: string[] = [];
    const stop = c
      .db("m4")
      .subscribe("net1", "endpoints", (e: TableChange) =>
        seen.push(`${e.type} ${e.key}=${str(e.value)} by ${e.owner}`),
      );
    assert.deepEqual(seen, ["add a=1 by m1"]);
    c.db("m2").put("net1", "endpoints", "b", bytes("2"));
    c.run(3000);
    c.db("m1").put("net1", "endpoints", "a", bytes("1b"));
    c.run(3000);
    c.db("m2").delete("net1", "endpoints", "b");
    c.run(3000);
    assert.deepEqual(seen, ["add a=1 by m1", "add b=2 by m2", "update a=1b by m1", "delete b=2 by m2"]);
    stop();
    c.db("m1").delete("net1", "endpoints", "a");
    c.run(3000);
    assert.equal(seen.length, 4);
    c.db("m3").delete("net1", "endpoints", "never-written"); // nothing to delete: a no-op
  });

  it("an owner's death hides its entries, and its return restores them", async () => {
    const c = await cluster(10, 23);
    for (const n of names(0, 10)) c.db(n).joinNetwork("net1");
    c.run(2000);
    c.db("m7").put("net1", "endpoints", "web.1", bytes("10.0.1.7"));
    c.db("m2").put("net1", "endpoints", "web.2", bytes("10.0.1.2"));
    assert.ok(c.runUntil(() => seesValue(c, "m0", "net1", "web.1", "10.0.1.7"), 10_000));
    const events: string[] = [];
    c.db("m0").subscribe("net1", "endpoints", (e: TableChange) => events.push(`${e.type} ${e.key}`));
    events.length = 0;

    // Cut m7 off until the others declare it dead (a partition, not a crash: it comes back).
    c.sim.partition([[c.get("m7").addr]]);
    assert.ok(c.runUntil(() => c.stateOf("m0", "m7") === "dead", 120_000));
    assert.deepEqual(events, ["delete web.1"]);
    assert.ok(seesValue(c, "m0", "net1", "web.1", undefined));
    assert.ok(seesValue(c, "m0", "net1", "web.2", "10.0.1.2"), "other owners' entries stay");
    assert.equal(c.db("m0").metrics().hidden, 1);

    c.sim.heal();
    assert.ok(c.runUntil(() => c.stateOf("m0", "m7") === "alive", 180_000, 500));
    assert.deepEqual(events, ["delete web.1", "add web.1"]);
    assert.ok(
      c.runUntil(() => names(0, 10).every((n) => seesValue(c, n, "net1", "web.1", "10.0.1.7")), 30_000),
    );
  });

  it("a member that joins a network later gets its entries by bulk sync", async () => {
    const c = await cluster(8, 24, { gossipIntervalMs: 200 });
    for (const n of names(0, 5)) c.db(n).joinNetwork("net1");
    c.run(1000);
    for (let i = 0; i < 50; i++) c.db(`m${i % 5}`).put("net1", "endpoints", `ep${i}`, bytes(`v${i}`));
    c.run(20_000); // gossip of these is long over
    c.db("m6").joinNetwork("net1");
    assert.ok(c.runUntil(() => c.db("m6").entries("net1", "endpoints").length === 50, 5000, 50));
  });

  it("a restarted member awaits its network's first sync, and has every entry once it is done", async () => {
    const c = await cluster(5, 27);
    for (const n of names(0, 5)) c.db(n).joinNetwork("net1");
    c.run(1000);
    for (let i = 0; i < 30; i++) c.db(`m${i % 4}`).put("net1", "endpoints", `ep${i}`, bytes(`v${i}`));
    c.run(20_000);
    c.crash("m4");
    c.run(1000);
    const again = c.add("m4");
    again.networkdb?.joinNetwork("net1"); // the agent joins its networks before gossip does
    assert.deepEqual(again.networkdb?.awaitingFirstSync(), [], "no member of net1 known yet");
    const joined = again.memberlist.join([c.get("m0").addr]);
    c.run(50);
    await joined;
    assert.ok(c.runUntil(() => again.networkdb?.awaitingFirstSync().length === 0, 10_000, 10));
    assert.equal(again.networkdb?.entries("net1", "endpoints").length, 30);
  });

  it("entries of a member that leaves the network are deleted everywhere", async () => {
    const c = await cluster(6, 25);
    for (const n of names(0, 6)) c.db(n).joinNetwork("net1");
    c.run(2000);
    c.db("m5").put("net1", "endpoints", "gone", bytes("x"));
    assert.ok(c.runUntil(() => seesValue(c, "m0", "net1", "gone", "x"), 10_000));
    c.db("m5").leaveNetwork("net1");
    assert.ok(c.runUntil(() => names(0, 5).every((n) => seesValue(c, n, "net1", "gone", undefined)), 10_000));
    assert.ok(c.runUntil(() => !c.db("m0").networkMembers("net1").includes("m5"), 10_000));
  });

  it("a restarted owner deletes the entries its previous process left behind", async () => {
    const c = await cluster(6, 26);
    for (const n of names(0, 6)) c.db(n).joinNetwork("net1");
    c.run(2000);
    c.db("m4").put("net1", "endpoints", "stale", bytes("old"));
    assert.ok(c.runUntil(() => seesValue(c, "m0", "net1", "stale", "old"), 10_000));
    c.crash("m4");
    c.run(3000); // back before anyone declared it dead
    const again = c.add("m4");
    again.networkdb?.joinNetwork("net1");
    const joined = again.memberlist.join([c.get("m0").addr]);
    c.run(2000);
    await joined;
    assert.ok(
      c.runUntil(() => names(0, 6).every((n) => seesValue(c, n, "net1", "stale", undefined)), 60_000, 500),
    );
    assert.equal(c.db("m0").metrics().tombstones, 1, "deleted by its owner, not merely hidden");
    assert.equal(c.stateOf("m0", "m4"), "alive");
  });

  it("a restarted owner's new version of an entry wins, also when its new process repeats the old one's times", async () => {
    const c = await cluster(5, 28);
    for (const n of names(0, 5)) c.db(n).joinNetwork("net1");
    c.run(2000);
    // m4's first own event: the same one its next process makes first after a restart.
    c.db("m4").put("net1", "endpoints", "k", bytes("old"));
    assert.ok(c.runUntil(() => names(0, 4).every((n) => seesValue(c, n, "net1", "k", "old")), 10_000));
    c.crash("m4");
    c.run(3000);
    const again = c.add("m4");
    again.networkdb?.joinNetwork("net1");
    again.networkdb?.put("net1", "endpoints", "k", bytes("new"));
    const joined = again.memberlist.join([c.get("m0").addr]);
    c.run(2000);
    await joined;
    assert.ok(
      c.runUntil(() => names(0, 5).every((n) => seesValue(c, n, "net1", "k", "new")), 60_000, 500),
      `every member holds the new version: ${names(0, 5)
        .map((n) =>
          str(
            c
              .db(n)
              .entries("net1", "endpoints")
              .find((e) => e.key === "k")?.value ?? bytes("-"),
          ),
        )
        .join(" ")}`,
    );
  });

  it("reaps tombstones after the reap time", async () => {
    const c = await cluster(4, 27, { reapEntryMs: 60_000, reapIntervalMs: 1000 });
    for (const n of names(0, 4)) c.db(n).joinNetwork("net1");
    c.run(2000);
    c.db("m1").put("net1", "endpoints", "k", bytes("v"));
    c.run(5000);
    c.db("m1").delete("net1", "endpoints", "k");
    c.run(5000);
    assert.equal(c.db("m2").metrics().tombstones, 1);
    c.run(62_000);
    assert.equal(c.db("m2").metrics().tombstones, 0);
    assert.deepEqual(c.db("m2").entries("net1", "endpoints"), []);
  });

  it("refuses writes to a network it has not joined, foreign deletes and oversized values", async () => {
    const c = await cluster(2, 28);
    c.db("m0").joinNetwork("net1");
    c.db("m1").joinNetwork("net1");
    assert.throws(() => c.db("m0").put("other", "endpoints", "k", bytes("v")), /not joined network other/);
    c.db("m0").put("net1", "endpoints", "k", bytes("v"));
    c.run(3000);
    assert.throws(() => c.db("m1").delete("net1", "endpoints", "k"), /owned by m0/);
    assert.throws(
      () => c.db("m0").put("net1", "endpoints", "big", new Uint8Array(5000)),
      /one gossip packet holds/,
    );
    assert.throws(() => c.db("m0").put("net1", "", "k", bytes("v")), /table name/);
  });
});

describe("NetworkDB direct push of own changes (simulated network)", () => {
  // Gossip rounds so rare they never happen during the test: only the push can deliver.
  const noRounds = { gossipIntervalMs: 600_000, bulkSyncIntervalMs: 0 };

  it("an own put and delete reach every member of the network at once, without a gossip round", async () => {
    const c = await cluster(6, 31, noRounds);
    const net = names(0, 5);
    for (const n of net) c.db(n).joinNetwork("blue");
    c.run(2000);
    c.db("m2").put("blue", "endpoints", "ep", bytes("v1"));
    c.run(100);
    for (const n of net) assert.ok(seesValue(c, n, "blue", "ep", "v1"), `${n} has the entry`);
    assert.equal(c.db("m5").metrics().tableEventsIn, 0, "nothing goes outside the network");
    c.db("m2").delete("blue", "endpoints", "ep");
    c.run(100);
    for (const n of net) assert.ok(seesValue(c, n, "blue", "ep", undefined), `${n} saw the delete`);
  });

  it("with pushNodes 0 an own change waits for gossip rounds", async () => {
    const c = await cluster(4, 32, { ...noRounds, pushNodes: 0 });
    for (const n of names(0, 4)) c.db(n).joinNetwork("blue");
    c.run(2000);
    c.db("m1").put("blue", "endpoints", "ep", bytes("v1"));
    c.run(1000);
    assert.ok(seesValue(c, "m1", "blue", "ep", "v1"));
    for (const n of ["m0", "m2", "m3"])
      assert.ok(seesValue(c, n, "blue", "ep", undefined), `${n} has nothing yet`);
  });

  it("in a network larger than pushNodes, the members pushed to gossip it on to the rest", async () => {
    const c = await cluster(12, 33, { pushNodes: 2 });
    const net = names(0, 12);
    for (const n of net) c.db(n).joinNetwork("blue");
    c.run(2000);
    c.db("m0").put("blue", "endpoints", "ep", bytes("v1"));
    c.run(50);
    const first = net.filter((n) => seesValue(c, n, "blue", "ep", "v1")).length;
    assert.ok(first >= 3, `the owner and the 2 pushed to have it (${first})`);
    assert.ok(c.runUntil(() => net.every((n) => seesValue(c, n, "blue", "ep", "v1")), 10_000));
  });
});
