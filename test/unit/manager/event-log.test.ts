/**
 * The manager's event log over a real mirror of an in-memory store: changes become
 * Docker-style events in commit order, and what existed before the log started is the
 * baseline, not events.
 */
import assert from "node:assert/strict";
import { EventLog, type ClusterEvent } from "../../../manager/events/event-log.js";
import { keys, ROOT } from "../../../manager/store/keys.js";
import { MemoryKv } from "../../../manager/store/memory-kv.js";
import { PrefixMirror } from "../../../manager/store/watch.js";

const put = (kv: MemoryKv, key: string, value: object) =>
  kv.txn([], [{ type: "put", key, value: JSON.stringify(value) }]);
const del = (kv: MemoryKv, key: string) => kv.txn([], [{ type: "delete", key }]);

async function settle(mirror: PrefixMirror, kv: MemoryKv): Promise<void> {
  const { revision } = await kv.get("\0");
  await mirror.waitFor(revision, 2_000);
}

const brief = (e: ClusterEvent) => `${e.type} ${e.action} ${JSON.stringify(e.attributes)}`;

describe("manager: event log", () => {
  it("turns store changes into ordered events; the state before start is no event", async () => {
    const kv = new MemoryKv();
    await put(kv, keys.node("a"), { id: "a", hostname: "n1", role: "manager" });
    const mirror = new PrefixMirror(kv, ROOT);
    await mirror.start();
    const log = new EventLog(mirror, () => 1_000);
    log.start();
    const seen: ClusterEvent[] = [];
    log.subscribe((e) => seen.push(e));

    await put(kv, keys.node("b"), { id: "b", hostname: "n2", role: "worker" });
    await put(kv, keys.session("b", "s1"), {});
    await put(kv, keys.network("x"), {
      id: "x",
      name: "net",
      driver: "overlay",
      encrypted: true,
      attachable: false,
    });
    await put(kv, keys.service("w"), { id: "w", name: "web", replicas: 2 });
    await put(kv, keys.task("w", "t1"), {
      id: "t1",
      serviceName: "web",
      slot: 1,
      nodeId: "b",
      state: "assigned",
      message: "",
    });
    await put(kv, keys.task("w", "t1"), {
      id: "t1",
      serviceName: "web",
      slot: 1,
      nodeId: "b",
      state: "running",
      message: "",
    });
    await put(kv, keys.task("w", "t1"), {
      id: "t1",
      serviceName: "web",
      slot: 1,
      nodeId: "b",
      state: "running",
      message: "",
    });
    await put(kv, keys.service("w"), { id: "w", name: "web", replicas: 3 });
    await put(kv, keys.key("data", 7), { kind: "data", tag: 7, key: "c2VjcmV0IGJ5dGVz" });
    await del(kv, keys.session("b", "s1"));
    await del(kv, keys.network("x"));
    await settle(mirror, kv);

    assert.deepEqual(seen.map(brief), [
      'node join {"name":"n2","role":"worker"}',
      'node ready {"name":"n2"}',
      'network create {"name":"net","driver":"overlay","encrypted":"true"}',
      'service create {"name":"web","replicas":"2"}',
      'task assigned {"service":"web","slot":"1","node":"n2"}',
      'task running {"service":"web","slot":"1","node":"n2"}',
      'service update {"name":"web","replicas.old":"2","replicas.new":"3"}',
      'key rotate {"kind":"data","tag":"7"}',
      'node down {"name":"n2"}',
      "network remove {}",
    ]);
    assert.ok(!JSON.stringify(seen).includes("c2VjcmV0"), "key bytes in an event");
    assert.deepEqual(log.since(0, { types: ["node"], actions: ["down"] }).map(brief), [
      'node down {"name":"n2"}',
    ]);
    assert.equal(log.since(2_000, { types: [], actions: [] }).length, 0);
    log.stop();
    await mirror.stop();
  });
});
