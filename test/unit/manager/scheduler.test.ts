/**
 * The scheduler's placement rules as table tests over the pure `planService`: spread,
 * global mode, the host-port rule, rescheduling from a gone node, scale-down order,
 * failed-task restarts after the delay, drain, pending tasks and history.
 */
import assert from "node:assert/strict";
import { planService, type Decision, type SchedulerNode } from "../../../manager/services/index.js";
import type { PortRecord, ServiceRecord, TaskRecord } from "../../../manager/store/index.js";

const T0 = Date.parse("2025-01-01T00:00:00Z");
const OPTS = { restartDelayMs: 1_000, historyLimit: 2 };

function service(more: Partial<ServiceRecord> = {}): ServiceRecord {
  return {
    id: "s1",
    name: "web",
    createdAt: "",
    updatedAt: "",
    version: 1,
    mode: "replicated",
    replicas: 3,
    endpointMode: "vip",
    command: ["x"],
    env: {},
    networks: [],
    ports: [],
    vips: [],
    ...more,
  };
}

let seq = 0;
function task(slot: number, nodeId: string, more: Partial<TaskRecord> = {}): TaskRecord {
  seq++;
  return {
    id: `t${String(seq).padStart(3, "0")}`,
    serviceId: "s1",
    serviceName: "web",
    slot,
    nodeId,
    desiredState: "running",
    createdAt: new Date(T0 + seq).toISOString(),
    updatedAt: "",
    command: ["x"],
    env: {},
    networks: [],
    ports: [],
    state: nodeId === "" ? "pending" : "running",
    message: "",
    exitCode: 0,
    stateAt: new Date(T0).toISOString(),
    released: false,
    ...more,
  };
}

const ready = (id: string, load = 0): SchedulerNode => ({
  id,
  condition: "ready",
  availability: "active",
  load,
});
const HOST: PortRecord[] = [{ protocol: "tcp", targetPort: 80, publishedPort: 7000, mode: "host" }];

function creates(ds: Decision[]): [number, string][] {
  return ds.flatMap((d) => (d.kind === "create" ? [[d.slot, d.nodeId] as [number, string]] : []));
}
const kinds = (ds: Decision[], kind: Decision["kind"]) =>
  ds.filter((d) => d.kind === kind).map((d) => ("taskId" in d ? d.taskId : ""));

describe("scheduler placement (pure planService)", () => {
  const table: {
    name: string;
    service: ServiceRecord | undefined;
    tasks: () => TaskRecord[];
    nodes: SchedulerNode[];
    now?: number;
    check: (ds: Decision[], tasks: TaskRecord[]) => void;
  }[] = [
    {
      name: "spread: 3 replicas over 3 empty nodes, one each, lowest id first",
      service: service(),
      tasks: () => [],
      nodes: [ready("n2"), ready("n1"), ready("n3")],
      check: (ds) =>
        assert.deepEqual(creates(ds), [
          [1, "n1"],
          [2, "n2"],
          [3, "n3"],
        ]),
    },
    {
      name: "spread: fewest tasks of the service first, then fewest tasks overall",
      service: service({ replicas: 4 }),
      tasks: () => [task(1, "n1"), task(2, "n1")],
      nodes: [ready("n1"), ready("n2", 5), ready("n3", 1)],
      check: (ds) =>
        assert.deepEqual(creates(ds), [
          [3, "n3"],
          [4, "n2"],
        ]),
    },
    {
      name: "global: one task per eligible node; none on a paused or down one",
      service: service({ mode: "global", replicas: 0 }),
      tasks: () => [task(0, "n1")],
      nodes: [
        ready("n1"),
        ready("n2"),
        { id: "n3", condition: "ready", availability: "pause", load: 0 },
        { id: "n4", condition: "down", availability: "active", load: 0 },
      ],
      check: (ds) => assert.deepEqual(creates(ds), [[0, "n2"]]),
    },
    {
      name: "host port: never two tasks on one node; the extra replica waits pending",
      service: service({ replicas: 3, ports: HOST }),
      tasks: () => [],
      nodes: [ready("n1"), ready("n2")],
      check: (ds) => {
        assert.deepEqual(creates(ds), [
          [1, "n1"],
          [2, "n2"],
          [3, ""],
        ]);
        const pending = ds.find((d) => d.kind === "create" && d.nodeId === "");
        assert.match(pending?.kind === "create" ? pending.reason : "", /host-mode port already in use/);
      },
    },
    {
      name: "host port: a task still shutting down holds its node's port",
      service: service({ replicas: 2, ports: HOST }),
      tasks: () => [task(1, "n1"), task(3, "n2", { desiredState: "shutdown" })],
      nodes: [ready("n1"), ready("n2"), ready("n3")],
      check: (ds) => assert.deepEqual(creates(ds), [[2, "n3"]]),
    },
    {
      name: "reschedule: a gone node's tasks are orphaned and their slots refilled on live nodes",
      service: service({ replicas: 2 }),
      tasks: () => [task(1, "n1"), task(2, "n2")],
      nodes: [ready("n1"), { id: "n2", condition: "gone", availability: "active", load: 0 }, ready("n3")],
      check: (ds, ts) => {
        assert.deepEqual(kinds(ds, "orphan"), [ts[1]?.id]);
        assert.deepEqual(creates(ds), [[2, "n3"]]);
      },
    },
    {
      name: "a down node (within its grace) keeps its tasks: nothing moves",
      service: service({ replicas: 2 }),
      tasks: () => [task(1, "n1"), task(2, "n2")],
      nodes: [ready("n1"), { id: "n2", condition: "down", availability: "active", load: 0 }, ready("n3")],
      check: (ds) => assert.deepEqual(ds, []),
    },
    {
      name: "a removed node counts as gone",
      service: service({ replicas: 1 }),
      tasks: () => [task(1, "nX")],
      nodes: [ready("n1")],
      check: (ds) => {
        assert.equal(kinds(ds, "orphan").length, 1);
        assert.deepEqual(creates(ds), [[1, "n1"]]);
      },
    },
    {
      name: "scale down: the highest slots are shut down first",
      service: service({ replicas: 2 }),
      tasks: () => [task(1, "n1"), task(2, "n2"), task(3, "n3"), task(4, "n1")],
      nodes: [ready("n1"), ready("n2"), ready("n3")],
      check: (ds, ts) => {
        assert.deepEqual(kinds(ds, "shutdown").sort(), [ts[2]?.id, ts[3]?.id].sort());
        assert.deepEqual(creates(ds), []);
      },
    },
    {
      name: "failed task: shut down at once, its slot refilled only after the restart delay",
      service: service({ replicas: 1 }),
      tasks: () => [task(1, "n1", { state: "failed", stateAt: new Date(T0).toISOString() })],
      nodes: [ready("n1")],
      now: T0 + 500,
      check: (ds, ts) => {
        assert.deepEqual(kinds(ds, "shutdown"), [ts[0]?.id]);
        assert.deepEqual(creates(ds), []);
      },
    },
    {
      name: "failed task: after the delay a new task takes the slot",
      service: service({ replicas: 1 }),
      tasks: () => [
        task(1, "n1", { state: "failed", desiredState: "shutdown", stateAt: new Date(T0).toISOString() }),
      ],
      nodes: [ready("n1")],
      now: T0 + 1_500,
      check: (ds) => assert.deepEqual(creates(ds), [[1, "n1"]]),
    },
    {
      name: "drain: tasks on a drained node are shut down and placed elsewhere",
      service: service({ replicas: 1 }),
      tasks: () => [task(1, "n1")],
      nodes: [{ id: "n1", condition: "ready", availability: "drain", load: 0 }, ready("n2")],
      check: (ds, ts) => {
        assert.deepEqual(kinds(ds, "shutdown"), [ts[0]?.id]);
        assert.deepEqual(creates(ds), [[1, "n2"]]);
      },
    },
    {
      name: "pending tasks are assigned once a node fits",
      service: service({ replicas: 2 }),
      tasks: () => [task(1, "n1"), task(2, "")],
      nodes: [ready("n1"), ready("n2")],
      check: (ds, ts) => {
        assert.deepEqual(ds, [{ kind: "assign", taskId: ts[1]?.id, nodeId: "n2" }]);
      },
    },
    {
      name: "no ready node: tasks are created pending",
      service: service({ replicas: 1 }),
      tasks: () => [],
      nodes: [],
      check: (ds) => {
        assert.deepEqual(creates(ds), [[1, ""]]);
      },
    },
    {
      name: "history: at most historyLimit tasks per slot, the live one included (Docker's count); released tasks above the replica count go",
      service: service({ replicas: 1 }),
      tasks: () => [
        task(1, "n1"),
        task(1, "n1", { released: true, desiredState: "shutdown", state: "failed" }),
        task(1, "n1", { released: true, desiredState: "shutdown", state: "failed" }),
        task(1, "n1", { released: true, desiredState: "shutdown", state: "failed" }),
        task(2, "n1", { released: true, desiredState: "shutdown", state: "shutdown" }),
      ],
      nodes: [ready("n1")],
      check: (ds, ts) =>
        assert.deepEqual(kinds(ds, "delete").sort(), [ts[1]?.id, ts[2]?.id, ts[4]?.id].sort()),
    },
    {
      name: "service removed: live tasks shut down, released ones forgotten",
      service: undefined,
      tasks: () => [task(1, "n1"), task(2, "n1", { released: true, desiredState: "shutdown" })],
      nodes: [ready("n1")],
      check: (ds, ts) => {
        assert.deepEqual(kinds(ds, "shutdown"), [ts[0]?.id]);
        assert.deepEqual(kinds(ds, "delete"), [ts[1]?.id]);
      },
    },
  ];
  for (const row of table) {
    it(row.name, () => {
      const tasks = row.tasks();
      row.check(planService(row.service, tasks, row.nodes, row.now ?? T0, OPTS), tasks);
    });
  }

  it("a node that flaps 10 times leaves at most historyLimit tasks in the slot (no growing 'node is down' history)", () => {
    const s = service({ replicas: 1 });
    let tasks: TaskRecord[] = [];
    const apply = (ds: Decision[]) => {
      for (const d of ds) {
        if (d.kind === "create") tasks.push(task(d.slot, d.nodeId));
        else if (d.kind === "orphan")
          tasks = tasks.map((t) => (t.id === d.taskId ? { ...t, released: true, state: "orphaned" } : t));
        else if (d.kind === "delete") tasks = tasks.filter((t) => t.id !== d.taskId);
      }
    };
    const gone = (id: string): SchedulerNode => ({ ...ready(id), condition: "gone" });
    let limitSeen = 0;
    for (let flap = 0; flap < 10; flap++) {
      apply(planService(s, tasks, [ready("n1"), ready("n2")], T0, OPTS));
      const where = tasks.find((t) => !t.released)?.nodeId ?? "";
      const other = where === "n1" ? "n2" : "n1";
      // The task's node goes away (its task is orphaned and replaced), then comes back.
      apply(planService(s, tasks, [gone(where), ready(other)], T0, OPTS));
      apply(planService(s, tasks, [gone(where), ready(other)], T0, OPTS));
      limitSeen = Math.max(limitSeen, tasks.length);
    }
    assert.ok(limitSeen <= OPTS.historyLimit, `at most ${OPTS.historyLimit} tasks, saw ${limitSeen}`);
    assert.equal(tasks.filter((t) => !t.released).length, 1);
    assert.equal(tasks.filter((t) => t.state === "orphaned").length, OPTS.historyLimit - 1);
  });

  it("places tasks only on nodes whose agent runs the service's network drivers (unreported: any)", () => {
    const nodes: SchedulerNode[] = [
      { ...ready("n1"), drivers: ["bridge", "macvlan", "overlay"] },
      { ...ready("n2"), drivers: ["bridge", "ipvlan", "macvlan", "overlay"] },
      ready("n3"),
    ];
    const global = service({ mode: "global" });
    assert.deepEqual(creates(planService(global, [], nodes, T0, OPTS, ["ipvlan"])), [
      [0, "n2"],
      [0, "n3"],
    ]);
    const none = planService(service({ replicas: 1 }), [], [nodes[0] as SchedulerNode], T0, OPTS, ["ipvlan"]);
    assert.deepEqual(
      none.map((d) => (d.kind === "create" ? [d.nodeId, d.reason] : [])),
      [["", "no suitable node (no ready node runs the network driver ipvlan)"]],
    );
  });

  it("is stable: planning again after applying its decisions asks for nothing", () => {
    const s = service({ replicas: 3 });
    const nodes = [ready("n1"), ready("n2")];
    const tasks = creates(planService(s, [], nodes, T0, OPTS)).map(([slot, node]) => task(slot, node));
    assert.deepEqual(planService(s, tasks, nodes, T0, OPTS), []);
  });
});
