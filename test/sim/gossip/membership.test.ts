import assert from "node:assert/strict";
import { SimCluster } from "../../../agent/gossip/sim-cluster.js";

describe("gossip membership on the simulated network", () => {
  it("100 members join through one seed and all see 100 alive", async () => {
    const c = new SimCluster({ seed: 3 });
    const seed = c.add();
    const joins: Promise<number>[] = [];
    for (let i = 1; i < 100; i++) {
      const m = c.add();
      joins.push(m.memberlist.join([seed.addr]));
      c.run(50);
    }
    c.run(1000);
    assert.deepEqual(
      await Promise.all(joins),
      joins.map(() => 1),
    );
    const ok = c.runUntil(() => c.up().every((m) => m.memberlist.liveMembers === 100), 60_000);
    assert.ok(
      ok,
      `views: ${c
        .up()
        .map((m) => m.memberlist.liveMembers)
        .join(",")}`,
    );
  });
});
