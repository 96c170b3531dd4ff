/**
 * Placement constraints and node labels, pure: Docker's expression rules and messages
 * (swarmkit's manager/constraint), matching, `--constraint-add/-rm` and
 * `--label-add/-rm` arithmetic, and the scheduler's filter and explanation.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { applyLabelChanges, parseLabelChanges } from "../../../manager/cluster/index.js";
import {
  applyConstraintChanges,
  nodeMatches,
  parseConstraint,
  parseConstraints,
  parseServiceSpec,
  planService,
  type ConstraintNode,
  type Decision,
  type SchedulerNode,
} from "../../../manager/services/index.js";
import type { ServiceRecord, TaskRecord } from "../../../manager/store/index.js";

const node = (more: Partial<ConstraintNode> = {}): ConstraintNode => ({
  id: "abc123",
  hostname: "vm1",
  role: "worker",
  labels: {},
  os: "linux",
  arch: "x86_64",
  addr: "10.0.0.5",
  ...more,
});

function refused(raw: string, message: RegExp) {
  assert.throws(
    () => parseConstraint(raw),
    (err: unknown) => err instanceof Error && message.test(err.message) && !err.message.includes("\n"),
    raw,
  );
}

describe("placement constraints: parsing (swarmkit's rules and messages)", () => {
  it("splits KEY OP VALUE, trims, and keeps the text as typed", () => {
    assert.deepEqual(parseConstraint(" node.labels.vm == yes "), {
      text: "node.labels.vm == yes",
      key: "node.labels.vm",
      operator: "==",
      value: "yes",
    });
    assert.equal(parseConstraint("Node.Role!=manager").key, "node.role");
    assert.equal(parseConstraint("node.labels.Zone==a").key, "node.labels.Zone");
    assert.equal(parseConstraint("node.hostname==lab n1").value, "lab n1");
  });

  it("refuses bad expressions with Docker's wording, one line", () => {
    refused("node.role", /constraint expected one operator from ==, !=/);
    refused("node.role=manager", /constraint expected one operator from ==, !=/);
    refused("node.role>=manager", /constraint expected one operator from ==, !=/);
    refused("==manager", /key '' is invalid/);
    refused("1node==x", /key '1node' is invalid/);
    refused("node.role==", /value '' is invalid/);
    refused("node.role==a==b", /value 'a==b' is invalid/);
    refused("node.labels.x==a<b", /value 'a<b' is invalid/);
    refused("node.labels.x!=a==b", /key 'node.labels.x!=a' is invalid/);
  });

  it("refuses attributes it cannot match (swarmkit would leave the task pending forever)", () => {
    refused("node.lables.vm==yes", /unknown attribute 'node.lables.vm'/);
    refused("node.labels.==x", /unknown attribute/);
    refused("engine.labels.os==ubuntu", /no engine labels.*node\.labels\.KEY/);
    refused("node.ip==not-an-ip", /node\.ip needs an IP address or a CIDR/);
  });

  it("service create checks every --constraint before anything else is decided", () => {
    const base = {
      name: "web",
      mode: "",
      replicas: undefined,
      networks: [],
      ports: [],
      endpointMode: "",
      command: ["x"],
      env: {},
      updateMonitor: "",
    };
    assert.deepEqual(
      parseServiceSpec({ ...base, constraints: ["node.role==worker", "Node.Role == Worker"] }).constraints,
      ["node.role==worker"],
    );
    assert.throws(
      () => parseServiceSpec({ ...base, constraints: ["node.role==worker", "node.role"] }),
      /invalid constraint "node.role": constraint expected one operator/,
    );
  });

  it("property: whatever is typed either parses to a constraint or throws one clear line", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (raw) => {
        try {
          const c = parseConstraint(raw);
          assert.ok(c.operator === "==" || c.operator === "!=");
          assert.equal(c.text, raw.trim());
        } catch (err) {
          assert.ok(
            err instanceof Error && err.message.startsWith("invalid constraint ") && !/\n/.test(err.message),
          );
        }
      }),
    );
  });

  it("property: a well-formed label constraint round-trips and its != is its negation", () => {
    const name = fc.stringMatching(/^[a-z_][a-z0-9_.-]{0,10}$/);
    const value = fc.stringMatching(/^[A-Za-z0-9_.-]{1,10}$/);
    fc.assert(
      fc.property(name, value, fc.option(value, { nil: undefined }), (k, v, has) => {
        const eq = parseConstraint(`node.labels.${k}==${v}`);
        const ne = parseConstraint(`node.labels.${k} != ${v}`);
        assert.equal(eq.value, v);
        const n = node({ labels: has === undefined ? {} : { [k]: has } });
        assert.equal(nodeMatches([eq], n), !nodeMatches([ne], n));
        assert.equal(nodeMatches([eq], n), has !== undefined && has.toLowerCase() === v.toLowerCase());
      }),
    );
  });
});

describe("placement constraints: matching", () => {
  const holds = (expr: string, n: ConstraintNode) => nodeMatches(parseConstraints([expr]), n);

  it("matches node.id, hostname, role, platform and labels; values ignore case", () => {
    const n = node({ labels: { vm: "yes", Zone: "A" } });
    assert.ok(holds("node.id==abc123", n));
    assert.ok(holds("node.hostname==VM1", n));
    assert.ok(holds("node.role!=manager", n));
    assert.ok(holds("node.platform.os==linux", n));
    assert.ok(holds("node.platform.arch==x86_64", n));
    assert.ok(holds("node.labels.vm==yes", n));
    assert.ok(holds("node.labels.Zone==a", n));
    assert.ok(!holds("node.labels.zone==a", n), "a label's name is case-sensitive");
    assert.ok(holds("node.labels.missing!=x", n), "a missing label is the empty value");
    assert.ok(!holds("node.labels.missing==x", n));
    assert.ok(!holds("node.platform.os==linux", node({ os: "" })), "an agent that did not report");
  });

  it("matches node.ip against an address or a CIDR (the advertise address, port dropped)", () => {
    assert.ok(holds("node.ip==10.0.0.5", node({ addr: "10.0.0.5:2377" })));
    assert.ok(holds("node.ip==10.0.0.0/24", node()));
    assert.ok(holds("node.ip!=10.0.1.0/24", node()));
    assert.ok(!holds("node.ip==10.0.0.0/24", node({ addr: "" })));
  });

  it("ANDs several constraints; none matches every node", () => {
    const n = node({ role: "manager", labels: { vm: "yes" } });
    assert.ok(nodeMatches([], n));
    assert.ok(nodeMatches(parseConstraints(["node.labels.vm==yes", "node.role==manager"]), n));
    assert.ok(!nodeMatches(parseConstraints(["node.labels.vm==yes", "node.role==worker"]), n));
  });
});

describe("constraint and label changes", () => {
  it("--constraint-add then --constraint-rm, in any spelling, sorted; removing a missing one is refused", () => {
    const cur = parseConstraints(["node.role==worker"]);
    assert.deepEqual(applyConstraintChanges("web", cur, parseConstraints(["node.labels.vm==yes"]), []), [
      "node.labels.vm==yes",
      "node.role==worker",
    ]);
    assert.deepEqual(applyConstraintChanges("web", cur, [], parseConstraints(["Node.Role == worker"])), []);
    assert.deepEqual(applyConstraintChanges("web", cur, parseConstraints(["node.role == worker"]), []), [
      "node.role==worker",
    ]);
    assert.throws(
      () => applyConstraintChanges("web", cur, [], parseConstraints(["node.role==manager"])),
      /service web has no constraint "node.role==manager"/,
    );
  });

  it("--label-add KEY[=VALUE] then --label-rm KEY, with docker/cli's checks", () => {
    assert.deepEqual(applyLabelChanges({ a: "1" }, parseLabelChanges(["vm=yes", "gpu", "x=a=b"], ["a"])), {
      vm: "yes",
      gpu: "",
      x: "a=b",
    });
    assert.throws(() => parseLabelChanges(["=x"], []), /invalid label '=x': empty name/);
    assert.throws(() => parseLabelChanges(["a b=1"], []), /label 'a b' contains whitespaces/);
    assert.throws(
      () => applyLabelChanges({}, parseLabelChanges([], ["vm"])),
      /key vm doesn't exist in node's labels/,
    );
  });
});

describe("scheduler: placement constraints", () => {
  const T0 = Date.parse("2025-01-01T00:00:00Z");
  const OPTS = { restartDelayMs: 1_000, historyLimit: 2 };
  const service = (more: Partial<ServiceRecord> = {}): ServiceRecord => ({
    id: "s1",
    name: "web",
    createdAt: "",
    updatedAt: "",
    version: 1,
    mode: "replicated",
    replicas: 2,
    endpointMode: "vip",
    command: ["x"],
    env: {},
    networks: [],
    ports: [],
    vips: [],
    ...more,
  });
  const task = (id: string, slot: number, nodeId: string): TaskRecord => ({
    id,
    serviceId: "s1",
    serviceName: "web",
    slot,
    nodeId,
    desiredState: "running",
    createdAt: new Date(T0).toISOString(),
    updatedAt: "",
    command: ["x"],
    env: {},
    networks: [],
    ports: [],
    state: "running",
    message: "",
    exitCode: 0,
    stateAt: new Date(T0).toISOString(),
    released: false,
  });
  const n = (
    id: string,
    labels: Record<string, string> = {},
    more: Partial<SchedulerNode> = {},
  ): SchedulerNode => ({
    id,
    condition: "ready",
    availability: "active",
    load: 0,
    hostname: id,
    role: "worker",
    labels,
    ...more,
  });
  const creates = (ds: Decision[]) =>
    ds.flatMap((d) => (d.kind === "create" ? [[d.slot, d.nodeId, d.reason] as const] : []));
  const VM = { constraints: ["node.labels.vm==yes"] };

  it("places only on nodes that satisfy every constraint (replicated and global)", () => {
    const nodes = [n("n1"), n("n2", { vm: "yes" }), n("n3", { vm: "yes" })];
    assert.deepEqual(creates(planService(service(VM), [], nodes, T0, OPTS)), [
      [1, "n2", ""],
      [2, "n3", ""],
    ]);
    const both = service({ constraints: ["node.labels.vm==yes", "node.hostname!=n3"], mode: "global" });
    assert.deepEqual(creates(planService(both, [], nodes, T0, OPTS)), [[0, "n2", ""]]);
  });

  it("leaves a task pending with swarmkit's explanation when no node satisfies them", () => {
    const nodes = [n("n1"), n("n2"), n("n3", {}, { condition: "down" })];
    assert.deepEqual(creates(planService(service({ ...VM, replicas: 1 }), [], nodes, T0, OPTS)), [
      [
        1,
        "",
        "no suitable node (scheduling constraints not satisfied on 2 nodes; 1 node not available for new tasks)",
      ],
    ]);
    assert.deepEqual(creates(planService(service({ ...VM, replicas: 1 }), [], [n("n1")], T0, OPTS)), [
      [1, "", "no suitable node (scheduling constraints not satisfied on 1 node)"],
    ]);
  });

  it("replaces a task whose active node no longer meets them; a paused node's task stays", () => {
    const tasks = [task("t1", 1, "n1"), task("t2", 2, "n2")];
    const nodes = [n("n1"), n("n2", { vm: "yes" }), n("n3", { vm: "yes" })];
    const ds = planService(service(VM), tasks, nodes, T0, OPTS);
    assert.deepEqual(
      ds.filter((d) => d.kind === "shutdown"),
      [{ kind: "shutdown", taskId: "t1", reason: "assigned node no longer meets constraints" }],
    );
    assert.deepEqual(creates(ds), [[1, "n3", ""]]);
    const paused = [n("n1", {}, { availability: "pause" }), ...nodes.slice(1)];
    assert.deepEqual(planService(service(VM), tasks, paused, T0, OPTS), []);
  });

  it("property: every placed task's node satisfies the constraints", () => {
    const labelled = fc.array(fc.constantFrom("yes", "no", undefined), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(labelled, fc.integer({ min: 0, max: 8 }), fc.boolean(), (vms, replicas, global) => {
        const nodes = vms.map((v, i) => n(`n${i}`, v === undefined ? {} : { vm: v }));
        const s = service({ ...VM, replicas: global ? 0 : replicas, mode: global ? "global" : "replicated" });
        for (const d of planService(s, [], nodes, T0, OPTS)) {
          if (d.kind !== "create" || d.nodeId === "") continue;
          assert.equal(nodes.find((x) => x.id === d.nodeId)?.labels?.vm, "yes");
        }
      }),
    );
  });
});
