/**
 * The key manager on the in-memory store with a virtual clock: what a rotation leaves in
 * the store (three keys per kind, growing tags, the schedule's roles), forced and
 * scheduled rotations, leader hand-overs that neither double-rotate nor skip, `swarm
 * update`, the rings agents receive through the dispatcher stream (over the real wire
 * codec), and that key bytes show up in no log line, inspect answer or error.
 */
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { Writable } from "node:stream";
import { pino } from "pino";
import { applyBatch, diffSnapshot, emptyState, type IntentEvent } from "../../../agent/dispatcher/intent.js";
import { VirtualClock } from "../../../common/clock.js";
import { ErrorCode, isSwarmnetError } from "../../../common/errors.js";
import { isLosslessStep, describeKeyRing, type KeyRing } from "../../../common/key-schedule.js";
import { silentLogger } from "../../../common/logger.js";
import { protoType } from "../../../common/proto.js";
import { ClusterService } from "../../../manager/cluster/index.js";
import { IntentView, type ChangeBatch } from "../../../manager/dispatcher/intent-view.js";
import { clusterToProto, sessionOutputToProto } from "../../../manager/grpc/convert.js";
import { KeyManager, KeyRotationJob } from "../../../manager/keys/index.js";
import {
  keys,
  MemoryKv,
  PrefixMirror,
  ROOT,
  Store,
  type ClusterRecord,
  type EncryptionKeyRecord,
} from "../../../manager/store/index.js";
import type { SessionMessage } from "../../../proto/generated/swarmnet/v1/SessionMessage.js";
import type { SessionMessage__Output } from "../../../proto/generated/swarmnet/v1/SessionMessage.js";
import { TEST_CSR } from "../../support/pki.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const SECOND = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls in real time with a bound a loaded machine cannot miss (the clock is virtual). */
async function until(cond: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await sleep(5);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** A cluster on a fresh in-memory store, created at T0 on a virtual wall clock. */
async function setup(intervalMs: number) {
  const kv = new MemoryKv();
  const store = new Store(kv);
  const clock = new VirtualClock();
  const wall = () => new Date(T0 + clock.now());
  const clusterSvc = new ClusterService(store, wall);
  await clusterSvc.init({
    hostname: "n1",
    advertiseAddr: "100.64.1.1",
    underlayAddrs: [],
    defaultAddrPools: [],
    defaultAddrPoolMaskLength: 0,
    dataPathPort: 0,
    keyRotationIntervalMs: intervalMs,
    csr: TEST_CSR,
  });
  const keyManager = new KeyManager(store, wall);
  const mirrors: PrefixMirror[] = [];
  const jobs: KeyRotationJob[] = [];
  /** A leader job as one manager runs it (its own mirror of the store). */
  const job = async () => {
    const mirror = new PrefixMirror(kv, ROOT);
    await mirror.start();
    mirrors.push(mirror);
    const j = new KeyRotationJob(
      new KeyManager(store, wall),
      mirror,
      clock,
      wall,
      { retryMs: SECOND },
      silentLogger(),
    );
    jobs.push(j);
    return j;
  };
  const cluster = async () => (await store.getCluster()) as ClusterRecord;
  const stored = async (kind: "data" | "gossip") =>
    (await store.list<EncryptionKeyRecord>(keys.keysOfKind(kind))).map((r) => r.tag);
  /** Every manager's mirror has caught up with the store (its job has seen the last write). */
  const synced = async () => {
    const { revision } = await kv.get("\0");
    await until(() => mirrors.every((m) => m.currentRevision >= revision), "the mirrors");
  };
  const cleanup = async () => {
    for (const j of jobs) j.stop();
    for (const m of mirrors) await m.stop();
  };
  return { kv, store, clock, wall, clusterSvc, keyManager, job, cluster, stored, synced, cleanup };
}

/** A session message through the real protobuf codec, as an agent receives it. */
function overWire(m: SessionMessage): SessionMessage__Output {
  const type = protoType("SessionMessage");
  const bytes = type.encode(type.fromObject(m)).finish();
  return type.toObject(type.decode(bytes), {
    longs: String,
    enums: String,
    defaults: true,
    arrays: true,
    objects: true,
    oneofs: true,
  }) as SessionMessage__Output;
}

const tags = (ring: KeyRing | undefined) => describeKeyRing(ring);

describe("key manager (in-memory store, virtual clock)", () => {
  it("init stores three keys per kind; every rotation leaves exactly three, tags growing, the middle one primary", async () => {
    const t = await setup(0);
    assert.deepEqual(await t.stored("data"), [1, 2, 3]);
    assert.deepEqual(await t.stored("gossip"), [1, 2, 3]);
    const before = await t.clusterSvc.inspect();
    assert.deepEqual(
      before.keyTags.map((k) => `${k.kind}:${k.tag}${k.primary ? "*" : ""}`),
      ["data:1", "data:2*", "data:3", "gossip:1", "gossip:2*", "gossip:3"],
    );
    for (let n = 1; n <= 6; n++) {
      const r = await t.keyManager.rotateNow();
      assert.equal(r.tag, 3 + n);
      for (const kind of ["data", "gossip"] as const) {
        assert.deepEqual(r.steps[kind], {
          added: [3 + n],
          removed: [n],
          primaryFrom: 1 + n,
          primaryTo: 2 + n,
        });
        assert.deepEqual(await t.stored(kind), [n + 1, n + 2, n + 3]);
      }
    }
    const after = await t.clusterSvc.inspect();
    assert.deepEqual(
      after.keyTags.map((k) => `${k.kind}:${k.tag}${k.primary ? "*" : ""}`),
      ["data:7", "data:8*", "data:9", "gossip:7", "gossip:8*", "gossip:9"],
    );
    assert.equal((await t.cluster()).keyClock, 9);
    // New bytes every time, and the data and gossip keys of one tag differ.
    const records = await t.store.list<EncryptionKeyRecord>(keys.keysPrefix);
    assert.equal(new Set(records.map((r) => r.key)).size, records.length);
  });

  it("a forced rotation happens at once and restarts the interval; a scheduled one only when due", async () => {
    const t = await setup(3_600_000);
    assert.equal(await t.keyManager.rotateIfDue(), undefined, "not due at creation");
    t.clock.advance(30 * 60 * SECOND);
    const forced = await t.keyManager.rotateNow();
    assert.equal(forced.tag, 4);
    assert.equal(forced.at, new Date(T0 + 30 * 60 * SECOND).toISOString());
    const view = await t.clusterSvc.inspect();
    assert.equal(view.lastKeyRotationAt, forced.at);
    assert.equal(view.nextKeyRotationAt, new Date(T0 + 90 * 60 * SECOND).toISOString());
    t.clock.advance(45 * 60 * SECOND); // past the old due time, before the new one
    assert.equal(await t.keyManager.rotateIfDue(), undefined);
    t.clock.advance(15 * 60 * SECOND);
    assert.equal((await t.keyManager.rotateIfDue())?.tag, 5);
    assert.equal(await t.keyManager.rotateIfDue(), undefined, "one rotation per interval");
  });

  it("the leader job rotates once every interval", async () => {
    const t = await setup(2 * SECOND);
    try {
      const job = await t.job();
      job.start();
      for (let n = 1; n <= 5; n++) {
        t.clock.advance(2 * SECOND);
        await until(async () => (await t.cluster()).keyClock === 3 + n, `rotation ${n}`);
      }
      assert.deepEqual(await t.stored("data"), [6, 7, 8]);
      assert.equal(job.rotations, 5);
    } finally {
      await t.cleanup();
    }
  });

  it("a leader change neither rotates twice nor skips a rotation; an absent leader's successor rotates once", async () => {
    const t = await setup(10 * SECOND);
    try {
      const a = await t.job();
      const b = await t.job();
      a.start();
      t.clock.advance(10 * SECOND);
      await until(async () => (await t.cluster()).keyClock === 4, "a's rotation");
      t.clock.advance(5 * SECOND);
      await t.synced();
      a.stop(); // hand-over half-way through the interval
      b.start();
      await sleep(50);
      assert.equal((await t.cluster()).keyClock, 4, "the new leader does not rotate again at once");
      t.clock.advance(5 * SECOND - 1);
      await sleep(50);
      assert.equal((await t.cluster()).keyClock, 4, "nor before the due time");
      t.clock.advance(1);
      await until(async () => (await t.cluster()).keyClock === 5, "b's rotation exactly at the due time");
      assert.equal((await t.cluster()).lastKeyRotationAt, new Date(T0 + 20 * SECOND).toISOString());

      // Two managers that both think they lead (hand-over inside the lease TTL): one rotation.
      await t.synced();
      a.start();
      t.clock.advance(10 * SECOND);
      await until(async () => a.rotations + b.rotations === 3, "one of them to rotate");
      await sleep(100);
      assert.equal((await t.cluster()).keyClock, 6);
      assert.equal(a.rotations + b.rotations, 3);

      // No leader for three and a half intervals: the next one rotates once, not three times.
      a.stop();
      b.stop();
      t.clock.advance(35 * SECOND);
      b.start();
      t.clock.advance(0); // the virtual clock runs timers due now only when told
      await until(async () => (await t.cluster()).keyClock === 7, "the overdue rotation");
      await sleep(50);
      assert.equal((await t.cluster()).keyClock, 7);
      assert.equal(
        (await t.clusterSvc.inspect()).nextKeyRotationAt,
        new Date(T0 + 75 * SECOND).toISOString(),
      );
    } finally {
      await t.cleanup();
    }
  });

  it("swarm update changes the interval (the leader re-arms at once); bad values change nothing", async () => {
    const t = await setup(3_600_000);
    try {
      const job = await t.job();
      job.start();
      for (const bad of [500, 0.5, 366 * 24 * 3_600_000]) {
        await assert.rejects(
          t.clusterSvc.update({ keyRotationIntervalMs: bad }),
          (e: unknown) =>
            isSwarmnetError(e, ErrorCode.InvalidArgument) && /key rotation interval/.test(e.message),
        );
      }
      assert.equal((await t.cluster()).keyRotationIntervalMs, 3_600_000);
      t.clock.advance(4 * SECOND);
      await t.clusterSvc.update({ keyRotationIntervalMs: 5 * SECOND });
      assert.equal((await t.clusterSvc.inspect()).nextKeyRotationAt, new Date(T0 + 5 * SECOND).toISOString());
      await t.synced();
      t.clock.advance(SECOND);
      await until(async () => (await t.cluster()).keyClock === 4, "the rotation at the new due time");
    } finally {
      await t.cleanup();
    }
  });

  it("agents get both rings in the snapshot and one `keys` change per rotation, in the lossless order", async () => {
    const t = await setup(0);
    const view = new IntentView(t.kv, 100);
    await view.start();
    try {
      const batches: ChangeBatch[] = [];
      view.onBatch((b) => batches.push(b));
      const agent = emptyState();
      const snap = view.snapshot("some-node");
      diffSnapshot(
        agent,
        overWire(
          sessionOutputToProto({ kind: "snapshot", sessionId: "s", heartbeatPeriodMs: 1000, snapshot: snap }),
        ).snapshot!,
      );
      assert.equal(tags(agent.dataKeys), "1 2* 3");
      assert.equal(tags(agent.gossipKeys), "1 2* 3");
      // The bytes are the stored ones.
      const stored = await t.store.list<EncryptionKeyRecord>(keys.keysOfKind("data"));
      assert.deepEqual(
        agent.dataKeys?.keys.map((k) => Buffer.from(k.secret).toString("base64")),
        stored.map((r) => r.key),
      );

      const events: IntentEvent[] = [];
      for (let n = 1; n <= 3; n++) {
        const r = await t.keyManager.rotateNow();
        await until(() => batches.some((b) => b.revision === r.revision), "the rotation's batch");
        const batch = batches.find((b) => b.revision === r.revision) as ChangeBatch;
        assert.deepEqual(
          batch.changes.map((c) => c.kind),
          ["keys"],
          "one change carries both rings",
        );
        const msg = overWire(sessionOutputToProto({ kind: "changes", batch }));
        events.push(...applyBatch(agent, msg.changes!));
      }
      assert.deepEqual(
        events.map((e) => (e.kind === "keys" ? `${tags(e.dataKeys)} | ${tags(e.gossipKeys)}` : e.kind)),
        ["2 3* 4 | 2 3* 4", "3 4* 5 | 3 4* 5", "4 5* 6 | 4 5* 6"],
      );
      for (const e of events) {
        assert.ok(e.kind === "keys" && isLosslessStep(e.previousDataKeys, e.dataKeys ?? e.previousDataKeys!));
      }
      // A resent batch (reconnect) changes nothing.
      assert.equal(
        applyBatch(
          agent,
          overWire(sessionOutputToProto({ kind: "changes", batch: batches.at(-1)! })).changes!,
        ).length,
        0,
      );
      // A later snapshot with the same rings is no change either.
      const again = view.snapshot("some-node");
      const resync = diffSnapshot(
        agent,
        overWire(
          sessionOutputToProto({
            kind: "snapshot",
            sessionId: "s2",
            heartbeatPeriodMs: 1000,
            snapshot: again,
          }),
        ).snapshot!,
      );
      assert.deepEqual(
        resync.filter((e) => e.kind === "keys"),
        [],
      );
    } finally {
      await view.stop();
    }
  });

  it("key bytes appear in no log line, inspect answer or error", async () => {
    const t = await setup(0);
    const view = new IntentView(t.kv, 100);
    await view.start();
    try {
      const r = await t.keyManager.rotateNow();
      await view.waitFor(r.revision, 2000);
      const records = await t.store.list<EncryptionKeyRecord>(keys.keysPrefix);
      const secrets = records.flatMap((k) => {
        const b = Buffer.from(k.key, "base64");
        return [k.key, b.toString("hex"), [...b].join(",")];
      });
      const agent = emptyState();
      const events = diffSnapshot(
        agent,
        overWire(
          sessionOutputToProto({
            kind: "snapshot",
            sessionId: "s",
            heartbeatPeriodMs: 1,
            snapshot: view.snapshot("x"),
          }),
        ).snapshot!,
      );
      // A plain pino logger (no redaction configured): the rings still print no bytes.
      let out = "";
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          out += chunk.toString();
          done();
        },
      });
      const log = pino({ level: "trace" }, sink);
      log.info({ event: events.find((e) => e.kind === "keys") }, "intent event");
      log.info({ state: { dataKeys: agent.dataKeys, gossipKeys: agent.gossipKeys } }, "state");
      log.info({ snapshot: view.snapshot("x") }, "manager snapshot");
      log.info({ ring: agent.dataKeys }, `ring ${String(agent.dataKeys?.keys[0]?.secret)}`);
      const printed = [
        out,
        inspect(agent, { depth: 10 }),
        JSON.stringify(agent.dataKeys),
        JSON.stringify(clusterToProto(await t.clusterSvc.inspect(), "n1")),
      ].join("\n");
      assert.match(out, /\[redacted\]/);
      assert.match(out, /"tag":4/);
      for (const s of secrets) assert.ok(!printed.includes(s), "a key's bytes were printed");
    } finally {
      await view.stop();
    }
  });
});
