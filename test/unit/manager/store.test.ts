import assert from "node:assert/strict";
import {
  MemoryKv,
  PrefixMirror,
  runTransaction,
  type Kv,
  type KvEvent,
  type KvWatch,
  type KvWatchListener,
} from "../../../manager/store/index.js";

/**
 * A Kv whose watch connections can be cut and restored, as etcd3's are when a member
 * goes away: on reconnect each watch resumes from the revision after the last one it
 * delivered (which may have been compacted meanwhile).
 */
class CuttableKv {
  private readonly watches = new Set<{ prefix: string; next: number; l: KvWatchListener; inner?: KvWatch }>();
  constructor(readonly mem: MemoryKv) {}
  get kv(): Kv {
    return new Proxy(this.mem, {
      get: (target, prop, receiver) =>
        prop === "watch" ? this.watch.bind(this) : (Reflect.get(target, prop, receiver) as unknown),
    });
  }
  private watch(prefix: string, start: number, l: KvWatchListener): KvWatch {
    const w: { prefix: string; next: number; l: KvWatchListener; inner?: KvWatch } = {
      prefix,
      next: start,
      l,
    };
    this.watches.add(w);
    this.connect(w);
    return { cancel: async () => void (this.watches.delete(w), await w.inner?.cancel()) };
  }
  private connect(w: { prefix: string; next: number; l: KvWatchListener; inner?: KvWatch }): void {
    w.inner = this.mem.watch(w.prefix, w.next, {
      events: (evs, rev) => {
        w.next = rev + 1;
        w.l.events(evs, rev);
      },
      compacted: () => w.l.compacted(),
      failed: (e) => w.l.failed(e),
    });
  }
  async cut(): Promise<void> {
    for (const w of this.watches) await w.inner?.cancel();
  }
  restore(): void {
    for (const w of this.watches) this.connect(w);
  }
}

const tick = () => new Promise((r) => setImmediate(r));
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await tick();
  assert.ok(cond(), what);
}

describe("MemoryKv (etcd semantics)", () => {
  it("bumps one revision per transaction and compares mod/create revisions", async () => {
    const kv = new MemoryKv();
    const r1 = await kv.txn(
      [],
      [
        { type: "put", key: "/a/1", value: "x" },
        { type: "put", key: "/a/2", value: "y" },
      ],
    );
    assert.equal(r1.revision, 2);
    const { entry } = await kv.get("/a/1");
    assert.equal(entry?.modRevision, 2);
    // "no key under /b/" holds; "nothing under /a/ written after 1" does not.
    assert.ok(
      (await kv.txn([{ key: "/b/", prefix: true, target: "create", op: "==", value: 0 }], [])).succeeded,
    );
    const failed = await kv.txn(
      [{ key: "/a/", prefix: true, target: "mod", op: "<", value: 2 }],
      [{ type: "put", key: "/a/3", value: "z" }],
    );
    assert.equal(failed.succeeded, false);
    assert.equal((await kv.get("/a/3")).entry, undefined, "nothing written on a failed compare");
  });

  it("replays history to a watch from a past revision, then live changes", async () => {
    const kv = new MemoryKv();
    await kv.txn([], [{ type: "put", key: "/p/a", value: "1" }]);
    await kv.txn([], [{ type: "put", key: "/q/x", value: "1" }]);
    const seen: string[] = [];
    const w = kv.watch("/p/", 1, {
      events: (evs) => seen.push(...evs.map((e) => `${e.type} ${e.key}=${e.value}`)),
      compacted: () => seen.push("compacted"),
      failed: () => seen.push("failed"),
    });
    await kv.txn([], [{ type: "delete", key: "/p/a" }]);
    await until(() => seen.length === 2, "two events");
    assert.deepEqual(seen, ["put /p/a=1", "delete /p/a="]);
    await w.cancel();
  });

  it("reports compaction to a watch that starts before it", async () => {
    const kv = new MemoryKv();
    await kv.txn([], [{ type: "put", key: "/p/a", value: "1" }]);
    await kv.txn([], [{ type: "put", key: "/p/a", value: "2" }]);
    await kv.compact(3);
    let compacted = false;
    kv.watch("/p/", 2, { events: () => {}, compacted: () => (compacted = true), failed: () => {} });
    await until(() => compacted, "compacted reported");
  });

  it("deletes a lease's keys when it expires", async () => {
    const kv = new MemoryKv();
    const lease = await kv.grantLease(5);
    let lost = false;
    lease.onLost(() => (lost = true));
    await kv.txn([], [{ type: "put", key: "/s/1", value: "x", lease: lease.id }]);
    kv.expireLease(lease.id);
    assert.equal((await kv.get("/s/1")).entry, undefined);
    assert.ok(lost);
  });
});

describe("transactions", () => {
  it("retries on a conflicting concurrent write and never double-allocates", async () => {
    const kv = new MemoryKv();
    // 20 concurrent "allocate the lowest free slot" transactions.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        runTransaction(kv, async (tx) => {
          const used = new Set((await tx.list("/slots/")).map((e) => Number(e.key.slice(7))));
          let slot = 0;
          while (used.has(slot)) slot++;
          tx.put(`/slots/${slot}`, `owner${i}`);
          return slot;
        }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.result).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.ok(
      results.some((r) => r.attempts > 1),
      "some transaction had to retry",
    );
  });

  it("an error thrown by the function writes nothing", async () => {
    const kv = new MemoryKv();
    await assert.rejects(
      runTransaction(kv, async (tx) => {
        tx.put("/x", "1");
        throw new Error("bad request");
      }),
      /bad request/,
    );
    assert.equal((await kv.get("/x")).entry, undefined);
  });
});

describe("PrefixMirror", () => {
  it("mirrors a prefix and emits every change in revision order", async () => {
    const kv = new MemoryKv();
    await kv.txn([], [{ type: "put", key: "/m/a", value: "1" }]);
    const mirror = new PrefixMirror(kv, "/m/");
    await mirror.start();
    assert.equal(mirror.entry("/m/a")?.value, "1");
    const revs: number[] = [];
    mirror.subscribe((c) => revs.push(c.revision));
    await kv.txn([], [{ type: "put", key: "/m/b", value: "2" }]);
    await kv.txn([], [{ type: "put", key: "/other", value: "2" }]);
    const r = await kv.txn([], [{ type: "delete", key: "/m/a" }]);
    assert.ok(await mirror.waitFor(r.revision));
    assert.deepEqual(revs, [3, 5]);
    assert.deepEqual(
      mirror.entriesUnder().map((e) => e.key),
      ["/m/b"],
    );
    await mirror.stop();
  });

  it("after a compaction, resyncs and emits exactly the difference", async () => {
    const kv = new MemoryKv();
    await kv.txn(
      [],
      [
        { type: "put", key: "/m/keep", value: "1" },
        { type: "put", key: "/m/change", value: "1" },
        { type: "put", key: "/m/gone", value: "1" },
      ],
    );
    const cuttable = new CuttableKv(kv);
    const mirror = new PrefixMirror(cuttable.kv, "/m/");
    await mirror.start();
    const events: KvEvent[] = [];
    let resync = false;
    mirror.subscribe((c) => {
      events.push(...c.events);
      resync ||= c.resync;
    });
    // The watch connection drops; meanwhile keys change and history is compacted.
    await cuttable.cut();
    await kv.txn([], [{ type: "put", key: "/m/change", value: "2" }]);
    await kv.txn([], [{ type: "delete", key: "/m/gone" }]);
    const last = await kv.txn([], [{ type: "put", key: "/m/new", value: "1" }]);
    await kv.compact(last.revision);
    // The connection comes back, resuming from a revision that is compacted away.
    cuttable.restore();
    await until(() => resync, "resynced");
    assert.deepEqual(events.map((e) => `${e.type} ${e.key}`).sort(), [
      "delete /m/gone",
      "put /m/change",
      "put /m/new",
    ]);
    assert.equal(mirror.resyncs, 1);
    assert.equal(mirror.entry("/m/change")?.value, "2");
    // And it keeps following live changes afterwards.
    const r = await kv.txn([], [{ type: "put", key: "/m/after", value: "1" }]);
    assert.ok(await mirror.waitFor(r.revision));
    assert.equal(mirror.entry("/m/after")?.value, "1");
    await mirror.stop();
  });
});
