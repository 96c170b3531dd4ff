/**
 * The model's in-place path (`buildModel` replacing changed ingress groups of the previous
 * model) against the whole walk (`buildModelWhole`): for any sequence of changes, the two
 * give the same elements, pick chains and counts, the same diff from their previous
 * model, and the same errors. The in-place path is taken where it should be (a model
 * names what it replaced), and a long run of changes past the point where replacements
 * are folded into a new map of every group still matches.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  buildModel,
  diffModels,
  type IngressPublication,
  type MeshState,
  type TableModel,
} from "../../../agent/ingress/index.js";
import { buildModelWhole, elementsOf } from "../../../agent/ingress/ruleset-model.js";

/** Everything a model puts in the kernel, in a canonical order. */
function contents(m: TableModel): unknown {
  return {
    elements: [...m.groups.values()].flatMap((g) => elementsOf(g).map((e) => `${e.set} ${e.text}`)).sort(),
    pickChains: [...m.pickChains.entries()].sort(),
    elementCount: m.elementCount,
  };
}

function diffOf(prev: TableModel, next: TableModel): unknown {
  const d = diffModels(prev, next);
  return {
    adds: d.adds.map((e) => `${e.set} ${e.text}`).sort(),
    deletes: d.deletes.map((e) => `${e.set} ${e.key}`).sort(),
    addChains: d.addChains.map(([n]) => n).sort(),
    deleteChains: [...d.deleteChains].sort(),
    removedFlows: d.removedFlows.map((f) => JSON.stringify(f)).sort(),
  };
}

/** Builds `s` both ways from each side's previous model; asserts they agree. */
class Twins {
  fast: TableModel;
  whole: TableModel;

  constructor(s: MeshState) {
    this.fast = buildModel(s);
    this.whole = buildModelWhole(s);
  }

  step(s: MeshState): void {
    let fast: TableModel | Error;
    let whole: TableModel | Error;
    try {
      fast = buildModel(s, this.fast);
    } catch (err) {
      fast = err as Error;
    }
    try {
      whole = buildModelWhole(s, this.whole);
    } catch (err) {
      whole = err as Error;
    }
    if (fast instanceof Error || whole instanceof Error) {
      assert.equal(
        String(fast instanceof Error ? fast.message : "built"),
        String(whole instanceof Error ? whole.message : "built"),
      );
      return; // nothing applied: both stay at their previous model
    }
    assert.deepEqual(diffOf(this.fast, fast), diffOf(this.whole, whole));
    assert.deepEqual(contents(fast), contents(whole));
    this.fast = fast;
    this.whole = whole;
  }
}

const IPS = ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7"];

function publication(i: number, backends: readonly string[]): IngressPublication {
  return { serviceId: `s${i}`, protocol: "tcp", publishedPort: 30000 + i, targetPort: 80, backends };
}

type Change =
  | { kind: "backends"; i: number; backends: string[] }
  | { kind: "targetPort"; i: number; port: number }
  | { kind: "owner"; i: number }
  | { kind: "badBackend"; i: number }
  | { kind: "add" }
  | { kind: "remove"; i: number }
  | { kind: "hostPort"; port: number }
  | { kind: "same" };

function applyChange(s: MeshState, c: Change, step: number): MeshState {
  const ingress = [...(s.ingress ?? [])];
  const at = (i: number) => i % Math.max(1, ingress.length);
  const one = ingress[at("i" in c ? c.i : 0)];
  switch (c.kind) {
    case "backends":
      if (one !== undefined) ingress[at(c.i)] = { ...one, backends: c.backends };
      break;
    case "targetPort":
      if (one !== undefined) ingress[at(c.i)] = { ...one, targetPort: c.port };
      break;
    case "owner":
      if (one !== undefined) ingress[at(c.i)] = { ...one, serviceId: `${one.serviceId}x` };
      break;
    case "badBackend":
      if (one !== undefined) ingress[at(c.i)] = { ...one, backends: ["10.0.0.2", "300.1.1.1"] };
      break;
    case "add":
      ingress.push(publication(1000 + step, ["10.0.0.9"]));
      break;
    case "remove":
      ingress.splice(at(c.i), 1);
      break;
    case "hostPort":
      return {
        ...s,
        hostPorts: [
          { taskId: "t1", protocol: "udp", publishedPort: c.port, targetIp: "172.18.0.3", targetPort: 53 },
        ],
      };
    case "same":
      return { ...s, ingress: ingress.map((p) => ({ ...p, backends: [...p.backends] })) };
  }
  return { ...s, ingress };
}

const change: fc.Arbitrary<Change> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("backends" as const),
      i: fc.nat(20),
      backends: fc.subarray(IPS),
    }),
  },
  fc.record({
    kind: fc.constant("targetPort" as const),
    i: fc.nat(20),
    port: fc.integer({ min: 80, max: 82 }),
  }),
  fc.record({ kind: fc.constant("owner" as const), i: fc.nat(20) }),
  fc.record({ kind: fc.constant("badBackend" as const), i: fc.nat(20) }),
  fc.record({ kind: fc.constant("add" as const) }),
  fc.record({ kind: fc.constant("remove" as const), i: fc.nat(20) }),
  fc.record({ kind: fc.constant("hostPort" as const), port: fc.integer({ min: 7000, max: 7001 }) }),
  fc.record({ kind: fc.constant("same" as const) }),
);

describe("ingress model: replacing groups in place equals the whole walk", () => {
  it("for any sequence of changes: same contents, same diff, same errors", () => {
    const initial = fc.array(fc.subarray(IPS), { minLength: 0, maxLength: 6 }).map((lists): MeshState => ({
      ingress: lists.map((b, i) => publication(i, b)),
      ingressSource: "10.255.0.2",
      egress: { sourceCidrs: ["172.18.0.0/16"], bridges: ["gwbridge"] },
    }));
    fc.assert(
      fc.property(initial, fc.array(change, { maxLength: 30 }), (s0, changes) => {
        const twins = new Twins(s0);
        let s = s0;
        changes.forEach((c, step) => {
          s = applyChange(s, c, step);
          twins.step(s);
        });
      }),
      { numRuns: 300 },
    );
  });

  it("takes the in-place path for a backend change, naming the one group it replaced", () => {
    const s0: MeshState = { ingress: Array.from({ length: 100 }, (_, i) => publication(i, ["10.0.0.2"])) };
    const prev = buildModel(s0);
    const next = buildModel(applyChange(s0, { kind: "backends", i: 7, backends: ["10.0.0.3"] }, 0), prev);
    assert.equal(next.delta?.fromId, prev.id);
    assert.deepEqual(
      next.delta?.replaced.map(([, g]) => g.id),
      ["tcp/30007"],
    );
    const moved = buildModel({ ingress: [...(s0.ingress ?? []), publication(500, [])] }, next);
    assert.equal(moved.delta, undefined, "a new port takes the whole walk");
  });

  it("a model keeps nothing of the models before it alive (no chain of models and states)", () => {
    const s0: MeshState = { ingress: Array.from({ length: 10 }, (_, i) => publication(i, ["10.0.0.2"])) };
    const prev = buildModel(s0);
    const next = buildModel(applyChange(s0, { kind: "backends", i: 3, backends: ["10.0.0.3"] }, 0), prev);
    assert.ok(next.delta !== undefined);
    // Reachable from `next`'s own fields (the shared groups aside): nothing is `prev` or its input.
    const seen = new Set<unknown>();
    const walk = (v: unknown): void => {
      if (typeof v !== "object" || v === null || seen.has(v)) return;
      seen.add(v);
      assert.notEqual(v, prev, "the previous model");
      assert.notEqual(v, s0, "the previous model's input");
      assert.notEqual(v, s0.ingress, "the previous model's input");
      for (const x of v instanceof Map ? [...v.entries()] : Object.values(v)) walk(x);
    };
    walk(next);
  });

  it("a long run of changes, past folding the replacements into a new map, still matches", () => {
    const s0: MeshState = { ingress: Array.from({ length: 200 }, (_, i) => publication(i, IPS.slice(0, 3))) };
    const twins = new Twins(s0);
    let s = s0;
    for (let step = 0; step < 600; step++) {
      const i = (step * 7919) % 200;
      s = applyChange(s, { kind: "backends", i, backends: IPS.slice(step % 3, 3 + (step % 4)) }, step);
      twins.step(s);
    }
  });
});
