/**
 * A member's Lamport clocks across restarts (lamport-clock.ts, clock-file.ts): a new
 * process starts above every time its predecessor issued, also when it crashed between
 * saves; an unreadable file starts the clocks at 0 with a warning.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { durableClocks } from "../../../agent/gossip/clock-file.js";
import { DurableLamportClock } from "../../../agent/gossip/lamport-clock.js";
import { silentLogger } from "../../../common/logger.js";

describe("durable Lamport clocks", () => {
  it("saves a ceiling before issuing a time beyond it; a restart from it starts above every issued time", () => {
    let saved = 0;
    const first = new DurableLamportClock(saved, (c) => (saved = c), 10);
    const issued = Array.from({ length: 25 }, () => first.increment());
    first.witness(40);
    issued.push(first.increment());
    assert.ok(saved >= Math.max(...issued), `ceiling ${saved} covers ${Math.max(...issued)}`);
    // The process dies without a last save; the next one starts at the saved ceiling.
    const next = new DurableLamportClock(saved, (c) => (saved = c), 10);
    assert.ok(next.increment() > Math.max(...issued));
  });

  it("keeps both ceilings in the agent's state file; an unreadable file means a start at 0", () => {
    const dir = mkdtempSync(join(tmpdir(), "swarmnet-clock-"));
    try {
      const file = join(dir, "gossip-clocks.json");
      const a = durableClocks(file, silentLogger());
      const t = a.table.increment();
      const n = a.network.increment();
      const b = durableClocks(file, silentLogger());
      assert.ok(b.table.increment() > t);
      assert.ok(b.network.increment() > n);
      writeFileSync(file, "{not json");
      assert.equal(durableClocks(file, silentLogger()).table.increment(), 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
