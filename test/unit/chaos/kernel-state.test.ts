/**
 * The kernel-state and task invariants, pure: an intent as etcd holds it (the managers'
 * JSON records) against what a node's kernel holds. Exact state passes; a missing FDB
 * entry, a stale mesh backend (issue 17's symptom), a left-behind container namespace and
 * a duplicate task are each named; a paused agent's endpoints are tolerated either way.
 */
import assert from "node:assert/strict";
import {
  durableIntent,
  diffIntent,
  endpointMac,
  intentFrom,
  ROOT,
} from "../../../deploy/lab/chaos/intent.js";
import { tasksHeld } from "../../../deploy/lab/chaos/invariants.js";
import { compareKernel, type NodeKernel } from "../../../deploy/lab/chaos/kernel-state.js";

const ING = "ingressnet00000000000000a";
const NET = "chaosnet00000000000000000";
const SVC = "svc000000000000000000000a";

function etcd(): Map<string, string> {
  const kv = new Map<string, string>();
  const put = (k: string, v: object) => kv.set(ROOT + k, JSON.stringify(v));
  for (const i of [1, 2, 3])
    put(`nodes/id${i}`, { id: `id${i}`, hostname: `n${i}`, advertiseAddr: `100.64.1.${i}` });
  put(`networks/${ING}`, { id: ING, name: "ingress", vni: 4096, encrypted: false, ingress: true });
  put(`networks/${NET}`, { id: NET, name: "chaosnet", vni: 4097, encrypted: false, ingress: false });
  put(`services/${SVC}`, { id: SVC, name: "web", mode: "replicated", replicas: 2 });
  put("ports/tcp/8080", { serviceId: SVC, serviceName: "web", mode: "ingress" });
  const task = (id: string, slot: number, node: string, ing: string, net: string, desired = "running") =>
    put(`tasks/${SVC}/${id}`, {
      id,
      serviceId: SVC,
      serviceName: "web",
      slot,
      nodeId: node,
      desiredState: desired,
      state: "running",
      networks: [
        { networkId: NET, ip: net },
        { networkId: ING, ip: ing },
      ],
      ports: [{ protocol: "tcp", targetPort: 80, publishedPort: 8080, mode: "ingress" }],
    });
  task("task1aaaaaaaaaaaaaaaaaaaa", 1, "id2", "10.0.0.8", "10.0.1.3");
  task("task2bbbbbbbbbbbbbbbbbbbb", 2, "id3", "10.0.0.9", "10.0.1.4");
  for (const i of [1, 2, 3])
    put(`attachments/${ING}/node:id${i}`, {
      kind: "node",
      id: `id${i}`,
      name: `n${i}`,
      nodeId: `id${i}`,
      ip: `10.0.0.${i + 1}`,
    });
  return kv;
}

/** n1's exact kernel for `etcd()`: entries for n2's and n3's endpoints, no containers. */
function exactN1(): NodeKernel {
  const e = (ip: string, dst: string) => ({ mac: endpointMac(ip), dst });
  return {
    node: "n1",
    mesh: new Map([["tcp/8080", ["10.0.0.8:80", "10.0.0.9:80"]]]),
    sandboxes: [
      {
        vni: 4096,
        fdb: [
          e("10.0.0.3", "100.64.1.2"),
          e("10.0.0.4", "100.64.1.3"),
          e("10.0.0.8", "100.64.1.2"),
          e("10.0.0.9", "100.64.1.3"),
        ],
        neigh: ["10.0.0.3", "10.0.0.4", "10.0.0.8", "10.0.0.9"].map((ip) => ({ ip, mac: endpointMac(ip) })),
      },
    ],
    containers: [],
  };
}

const all = { live: new Set(["id1", "id2", "id3"]), tolerated: new Set<string>() };

describe("chaos invariants: kernel state and tasks (pure)", () => {
  it("exact state passes", () => {
    assert.deepEqual(compareKernel(exactN1(), intentFrom(etcd()), all), []);
    assert.equal(endpointMac("10.0.0.13"), "02:42:0a:00:00:0d");
  });

  it("a deleted FDB entry is named with the endpoint it belonged to", () => {
    const k = exactN1();
    k.sandboxes[0]!.fdb = k.sandboxes[0]!.fdb.filter((f) => f.mac !== endpointMac("10.0.0.9"));
    assert.deepEqual(compareKernel(k, intentFrom(etcd()), all), [
      "n1 ov4096: FDB entry 02:42:0a:00:00:09 dst 100.64.1.3 missing (task web.2 on n3, 10.0.0.9)",
    ]);
  });

  it("a stale mesh backend and a stale FDB entry are named (issue 17's symptom)", () => {
    const k = exactN1();
    k.mesh.set("tcp/8080", ["10.0.0.8:80", "10.0.0.9:80", "10.0.0.12:80"]);
    k.sandboxes[0]!.fdb.push({ mac: endpointMac("10.0.0.12"), dst: "100.64.1.2" });
    const problems = compareKernel(k, intentFrom(etcd()), all);
    assert.ok(
      problems.includes(
        "n1: ingress_backends tcp/8080 has 10.0.0.12:80, which no running task holds (stale backend)",
      ),
    );
    assert.ok(
      problems.includes(
        "n1 ov4096: stale FDB entry 02:42:0a:00:00:0c dst 100.64.1.2 (no live endpoint has it)",
      ),
    );
  });

  it("a paused agent's endpoints may be held or not; a live node's must be", () => {
    const paused = { live: new Set(["id1", "id2"]), tolerated: new Set(["id3"]) };
    assert.deepEqual(compareKernel(exactN1(), intentFrom(etcd()), paused), [], "held: fine");
    const k = exactN1();
    k.sandboxes[0]!.fdb = k.sandboxes[0]!.fdb.filter((f) => f.dst !== "100.64.1.3");
    k.sandboxes[0]!.neigh = k.sandboxes[0]!.neigh.filter((x) => x.ip !== "10.0.0.4" && x.ip !== "10.0.0.9");
    k.mesh.set("tcp/8080", ["10.0.0.8:80"]);
    assert.deepEqual(compareKernel(k, intentFrom(etcd()), paused), [], "dropped: fine too");
    const dead = { live: new Set(["id1", "id2", "id3"]), tolerated: new Set<string>() };
    assert.ok(compareKernel(k, intentFrom(etcd()), dead).length > 0);
  });

  it("container namespaces: the node's tasks have one, nothing else is left behind", () => {
    const k: NodeKernel = {
      node: "n2",
      mesh: new Map([["tcp/8080", ["10.0.0.8:80", "10.0.0.9:80"]]]),
      sandboxes: [],
      containers: ["task1aaaaaaa", "oldtaskzzzzz"],
    };
    assert.deepEqual(compareKernel(k, intentFrom(etcd()), all), ["n2: namespace c-oldtaskzzzzz left behind"]);
    k.containers = [];
    assert.deepEqual(compareKernel(k, intentFrom(etcd()), all), [
      "n2: no namespace for task web.1 (c-task1aaaaaaa)",
    ]);
  });

  it("tasks: a slot without a running task, and a slot whose container runs on two nodes", () => {
    const kv = etcd();
    const intent = intentFrom(kv);
    const kernels: NodeKernel[] = [
      { node: "n2", mesh: new Map(), sandboxes: [], containers: ["task1aaaaaaa"] },
      { node: "n3", mesh: new Map(), sandboxes: [], containers: ["task2bbbbbbb"] },
    ];
    assert.deepEqual(tasksHeld(intent, kernels, all).evidence, []);
    kernels[0]!.containers.push("task2bbbbbbb");
    assert.deepEqual(tasksHeld(intent, kernels, all).evidence, [
      "web.2: container namespaces on n2, n3 (duplicate)",
    ]);
    const without = { live: new Set(["id1", "id2"]), tolerated: new Set<string>() };
    assert.deepEqual(tasksHeld(intent, kernels.slice(0, 1), without).evidence.slice(0, 1), [
      "web.2: no running task",
    ]);
  });

  it("intent: a lost network or a changed service is named; tasks and sessions may move", () => {
    const before = durableIntent(etcd());
    const kv = etcd();
    kv.delete(`${ROOT}networks/${NET}`);
    kv.set(`${ROOT}services/${SVC}`, JSON.stringify({ id: SVC, name: "web", replicas: 1 }));
    kv.set(`${ROOT}tasks/${SVC}/new`, "{}");
    kv.set(`${ROOT}sessions/id1/x`, "{}");
    assert.deepEqual(diffIntent(before, durableIntent(kv)), [
      `networks/${NET} lost`,
      `services/${SVC} changed`,
    ]);
  });
});
