/**
 * The store over a real etcd: transactions with range compares behave as on the
 * in-memory store, a watch from a compacted revision says so, and a mirror whose etcd
 * member went away while history was compacted resyncs and reports exactly what changed.
 */
import assert from "node:assert/strict";
import { EtcdKv, PrefixMirror, runTransaction, type KvEvent } from "../../../manager/store/index.js";
import { eventually, Fixture } from "./support.js";

describe("store over etcd (integration)", function () {
  this.timeout(120_000);
  const fx = new Fixture();
  let kv: EtcdKv;

  before(async () => {
    await fx.startEtcd(3);
    kv = new EtcdKv({ endpoints: fx.endpoints, callTimeoutMs: 2000 });
  });

  after(async () => {
    await kv?.close();
    await fx.cleanup();
  });

  it("range compares: 'nothing under prefix changed since R' and 'no key under prefix'", async () => {
    const r1 = await kv.txn([], [{ type: "put", key: "/t/a/1", value: "x" }]);
    assert.ok(r1.succeeded);
    assert.ok(
      (await kv.txn([{ key: "/t/b/", prefix: true, target: "create", op: "==", value: 0 }], [])).succeeded,
    );
    assert.ok(
      !(await kv.txn([{ key: "/t/a/", prefix: true, target: "create", op: "==", value: 0 }], [])).succeeded,
    );
    const stale = await kv.txn(
      [{ key: "/t/a/", prefix: true, target: "mod", op: "<", value: r1.revision }],
      [{ type: "put", key: "/t/a/2", value: "y" }],
    );
    assert.equal(stale.succeeded, false);
    assert.equal((await kv.get("/t/a/2")).entry, undefined);
  });

  it("concurrent optimistic transactions never double-allocate", async () => {
    const results = await Promise.all(
      Array.from({ length: 15 }, () =>
        runTransaction(kv, async (tx) => {
          const used = new Set((await tx.list("/t/slot/")).map((e) => Number(e.key.slice(8))));
          let slot = 0;
          while (used.has(slot)) slot++;
          tx.put(`/t/slot/${slot}`, "x");
          return slot;
        }),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.result).sort((a, b) => a - b),
      Array.from({ length: 15 }, (_, i) => i),
    );
  });

  it("a watch from a compacted revision reports compaction", async () => {
    const first = await kv.txn([], [{ type: "put", key: "/t/c/k", value: "1" }]);
    const last = await kv.txn([], [{ type: "put", key: "/t/c/k", value: "2" }]);
    await kv.compact(last.revision);
    let compacted = false;
    const w = kv.watch("/t/c/", first.revision, {
      events: () => {},
      compacted: () => (compacted = true),
      failed: () => {},
    });
    await eventually(async () => compacted, 10_000, "compaction to be reported");
    await w.cancel();
  });

  it("a mirror whose member died during changes and a compaction resyncs to exactly the difference", async () => {
    const [e1, e2] = fx.members;
    assert.ok(e1 && e2);
    await kv.txn(
      [],
      [
        { type: "put", key: "/t/m/keep", value: "1" },
        { type: "put", key: "/t/m/change", value: "1" },
        { type: "put", key: "/t/m/gone", value: "1" },
      ],
    );
    const onE1 = new EtcdKv({ endpoints: [e1.clientUrl], callTimeoutMs: 2000 });
    const onE2 = new EtcdKv({ endpoints: [e2.clientUrl], callTimeoutMs: 2000 });
    const mirror = new PrefixMirror(onE1, "/t/m/");
    try {
      await mirror.start();
      const events: KvEvent[] = [];
      mirror.subscribe((c) => events.push(...c.events));
      await fx.killMember(e1);
      await onE2.txn([], [{ type: "put", key: "/t/m/change", value: "2" }]);
      await onE2.txn([], [{ type: "delete", key: "/t/m/gone" }]);
      const last = await onE2.txn([], [{ type: "put", key: "/t/m/new", value: "1" }]);
      await onE2.compact(last.revision);
      fx.startMember(e1, "existing");
      await eventually(
        async () => mirror.resyncs > 0 && mirror.entry("/t/m/new") !== undefined,
        30_000,
        "the mirror to resync",
      );
      assert.deepEqual(events.map((e) => `${e.type} ${e.key}`).sort(), [
        "delete /t/m/gone",
        "put /t/m/change",
        "put /t/m/new",
      ]);
      assert.equal(mirror.entry("/t/m/change")?.value, "2");
      const after = await onE2.txn([], [{ type: "put", key: "/t/m/later", value: "1" }]);
      assert.ok(await mirror.waitFor(after.revision, 10_000), "the mirror follows live changes again");
    } finally {
      await mirror.stop();
      await onE1.close();
      await onE2.close();
    }
  });
});
