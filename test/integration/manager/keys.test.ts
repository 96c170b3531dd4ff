/**
 * Key rotation end to end on real etcd and two real manager processes, with an agent's
 * real DispatcherClient in this process and the real CLI: the rings in the snapshot, a
 * `keys` change after `swarm rotate-keys`, `swarm inspect` with tags and roles only,
 * scheduled rotations with a 2 s interval that keep arriving (in the lossless order, one
 * per interval) across the leader's kill -9, and no key bytes in any log or CLI output.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { DispatcherClient, type IntentEvent } from "../../../agent/dispatcher/index.js";
import type { ManagerClient } from "../../../cli/manager-client.js";
import { describeKeyRing, isLosslessStep, type KeyRing } from "../../../common/key-schedule.js";
import { keys, type EncryptionKeyRecord, type Kv, type KvWatch } from "../../../manager/store/index.js";
import type { ClusterInfo__Output } from "../../../proto/generated/swarmnet/v1/ClusterInfo.js";
import { swarmnet, type CliResult } from "../../support/cli.js";
import { eventually, Fixture, type ManagerProc } from "./support.js";

type KeysEvent = Extract<IntentEvent, { kind: "keys" }>;

const newest = (ring: KeyRing | undefined) => ring?.keys.at(-1)?.tag ?? 0;

describe("key rotation: managers over etcd, an agent's dispatcher stream, the CLI (integration)", function () {
  this.timeout(120_000);
  const fx = new Fixture();
  let managers: ManagerProc[] = [];
  let admin: ManagerClient;
  let kv: Kv;
  let watch: KvWatch | undefined;
  let agent: DispatcherClient;
  let env: Record<string, string> = {};
  const events: KeysEvent[] = [];
  /** Every secret the agent was given (base64), to look for in logs and outputs. */
  const secrets = new Set<string>();
  /** createdAt of every data key the managers wrote, by tag (from an etcd watch). */
  const createdAt = new Map<number, number>();
  const outputs: CliResult[] = [];
  let agentLog = "";

  const cli = async (...args: string[]) => {
    const r = await swarmnet(args, env);
    outputs.push(r);
    return r;
  };
  const remember = (ring: KeyRing | undefined) => {
    for (const k of ring?.keys ?? []) secrets.add(Buffer.from(k.secret).toString("base64"));
  };

  before(async () => {
    await fx.startEtcd(1);
    managers = await Promise.all(
      ["m1", "m2"].map((n) => fx.startManager(n, fx.endpoints, ["--heartbeat-period=300ms"])),
    );
    const [m1, m2] = managers as [ManagerProc, ManagerProc];
    env = {
      SWARMNET_MANAGERS: managers.map((m) => m.address).join(","),
      SWARMNET_CONFIG: "",
      SWARMNET_STATE_DIR: m1.stateDir,
    };
    const init = await cli("swarm", "init", "--advertise-addr", "127.0.0.1", "--state-dir", m1.stateDir);
    assert.equal(init.exitCode, 0, init.stderr);
    await fx.serving(m1);
    await fx.joinManager(m2);
    admin = fx.client();
    // Key records are sealed in etcd: the test reads them as a manager does (with the KEK).
    kv = fx.openedKv();
    const { revision } = await kv.get(keys.cluster);
    watch = kv.watch(keys.keysOfKind("data"), 1, {
      events: (evs) => {
        for (const e of evs.filter((x) => x.type === "put")) {
          const r = JSON.parse(e.value) as EncryptionKeyRecord;
          createdAt.set(r.tag, Date.parse(r.createdAt));
        }
      },
      compacted: () => assert.fail("watch compacted"),
      failed: (err) => assert.fail(err),
    });
    await eventually(async () => createdAt.size >= 3, 5_000, `the watch to reach ${revision}`);
    const joined = await fx.joinNode("w1", "worker", "127.0.1.1");
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        agentLog += chunk.toString();
        done();
      },
    });
    agent = new DispatcherClient({
      managers: managers.map((m) => m.address),
      tls: joined.tls,
      clusterId: joined.response.clusterId,
      hostname: "w1",
      advertiseAddr: "127.0.1.1",
      underlayAddrs: [],
      capabilities: undefined,
      log: pino({ level: "trace" }, sink),
    });
    const agentLogger = pino({ level: "trace" }, sink);
    agent.on("change", (e) => {
      // What a careless agent might do: log every event. The rings must print no bytes.
      agentLogger.debug({ event: e }, "intent change");
      if (e.kind !== "keys") return;
      events.push(e);
      remember(e.dataKeys);
      remember(e.gossipKeys);
    });
    agent.start();
    await agent.whenReady();
  });

  after(async () => {
    await agent?.stop();
    await watch?.cancel();
    await kv?.close();
    await fx.cleanup();
  });

  it("the agent's snapshot carries both rings: three keys, the middle one primary", () => {
    assert.equal(describeKeyRing(agent.state.dataKeys), "1 2* 3");
    assert.equal(describeKeyRing(agent.state.gossipKeys), "1 2* 3");
    assert.equal(agent.state.dataKeys?.keys[0]?.secret.length, 32);
  });

  it("swarm rotate-keys rotates at once: the agent gets one keys change; inspect shows tags and roles", async () => {
    const r = await cli("swarm", "rotate-keys");
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /data: +2 3\* 4/);
    assert.match(r.stdout, /gossip: +2 3\* 4/);
    await eventually(async () => newest(agent.state.dataKeys) === 4, 10_000, "the rotated ring");
    assert.equal(events.length, 2, "the snapshot's rings, then one change");
    const e = events[1] as KeysEvent;
    assert.equal(describeKeyRing(e.dataKeys), "2 3* 4");
    assert.equal(describeKeyRing(e.gossipKeys), "2 3* 4");
    assert.equal(describeKeyRing(e.previousDataKeys), "1 2* 3");

    const inspect = await cli("swarm", "inspect");
    assert.equal(inspect.exitCode, 0, inspect.stderr);
    const [view] = JSON.parse(inspect.stdout) as [
      {
        Spec: { EncryptionConfig: { KeyRotationInterval: string } };
        EncryptionKeys: { Data: { Tag: number; Role: string }[]; LastRotation: string; NextRotation: string };
        JoinTokens?: unknown;
      },
    ];
    assert.equal(view.Spec.EncryptionConfig.KeyRotationInterval, "12h");
    assert.deepEqual(view.EncryptionKeys.Data, [
      { Tag: 2, Role: "rx-only" },
      { Tag: 3, Role: "primary" },
      { Tag: 4, Role: "rx-only" },
    ]);
    assert.equal(
      Date.parse(view.EncryptionKeys.NextRotation) - Date.parse(view.EncryptionKeys.LastRotation),
      12 * 3_600_000,
    );
    assert.equal(view.JoinTokens, undefined, "no join tokens without --show-tokens");
    const withTokens = await cli("swarm", "inspect", "--show-tokens");
    assert.match(withTokens.stdout, /"Worker": "SWMTKN-/);
  });

  it("refuses a bad interval with one line and changes nothing", async () => {
    for (const args of [["--key-rotation-interval", "10ms"], ["--key-rotation-interval", "soon"], []]) {
      const r = await cli("swarm", "update", ...args);
      assert.equal(r.exitCode, 1);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
    const info = await admin.call<ClusterInfo__Output>((c, o, cb) => c.cluster.Inspect({}, o, cb));
    assert.equal(Number(info.keyRotationIntervalMs), 12 * 3_600_000);
  });

  it("with a 2 s interval, rotations arrive in order, one per interval, and go on after the leader's kill -9", async () => {
    const r = await cli("swarm", "update", "--key-rotation-interval", "2s");
    assert.equal(r.exitCode, 0, r.stderr);
    await eventually(async () => newest(agent.state.dataKeys) >= 6, 20_000, "two scheduled rotations");
    const info = await admin.call<ClusterInfo__Output>((c, o, cb) => c.cluster.Inspect({}, o, cb));
    const leader = managers.find((m) => m.name === info.leader);
    assert.ok(leader !== undefined, `a leader among ${managers.map((m) => m.name).join(", ")}`);
    await fx.killManager(leader);
    const atKill = newest(agent.state.dataKeys);
    await eventually(
      async () => newest(agent.state.dataKeys) >= atKill + 2,
      40_000,
      "rotations by the new leader",
    );

    // The agent saw every ring, in order: each step adds the next tag and promotes a key
    // it already accepted (nothing skipped, nothing out of order, across the fail-over).
    for (const e of events.slice(1)) {
      assert.equal(newest(e.dataKeys), newest(e.previousDataKeys) + 1, describeKeyRing(e.dataKeys));
      assert.equal(newest(e.gossipKeys), newest(e.dataKeys));
      assert.ok(e.dataKeys !== undefined && isLosslessStep(e.previousDataKeys, e.dataKeys));
      assert.ok(e.gossipKeys !== undefined && isLosslessStep(e.previousGossipKeys, e.gossipKeys));
    }
    // One rotation per interval, never two: the stored creation times of consecutive
    // keys (one wall clock for both managers here) are at least the interval apart.
    const last = newest(agent.state.dataKeys);
    await eventually(async () => createdAt.has(last), 5_000, "the watch to see the last key");
    for (let tag = 5; tag <= last; tag++) {
      const gap = (createdAt.get(tag) ?? 0) - (createdAt.get(tag - 1) ?? Infinity);
      assert.ok(gap >= 2_000, `keys ${tag - 1} and ${tag} were made ${gap} ms apart`);
    }
  });

  it("no key bytes in the managers' logs, the agent's log or any CLI output", () => {
    assert.ok(secrets.size >= 12, `saw ${secrets.size} keys`);
    assert.match(agentLog, /"kind":"keys"/, "the agent's log has the key events (redacted)");
    const texts = [
      ...managers.map((m) => readFileSync(join(fx.dir, `manager-${m.name}.log`), "utf8")),
      agentLog,
      ...outputs.map((o) => `${o.stdout}\n${o.stderr}`),
    ].join("\n");
    assert.match(texts, /rotated encryption keys/);
    for (const b64 of secrets) {
      const hex = Buffer.from(b64, "base64").toString("hex");
      assert.ok(!texts.includes(b64) && !texts.includes(hex), "a key's bytes were printed");
    }
  });
});
