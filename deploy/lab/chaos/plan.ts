/**
 * From a scenario and a seed to concrete actions: each step with the node names it acts on.
 * Pure (no lab, no clock). The runner resolves each step at its moment with the live
 * `ClusterView`; `planScenario` resolves them all against a static view, which is what
 * `lab chaos --plan` prints and what validates a scenario against a lab before anything
 * runs (a target that does not exist fails here, and nothing has been touched).
 *
 * Reproducibility: one `SeededRandom` per run, consumed in step order, the same number of
 * draws per step whatever the live state; so the same scenario, seed and lab give the
 * same faults on the same nodes.
 */
import { ErrorCode, SwarmnetError } from "../../../common/errors.js";
import { SeededRandom } from "./random.js";
import { describeStep, type Scenario, type Step } from "./scenario.js";
import { parseSelector, resolveSelector, type ClusterView, type ResolveContext } from "./targets.js";

export interface PlannedStep {
  index: number;
  step: Step;
  /** The step as written. */
  text: string;
  /** The nodes it acts on (for `partition`, every node of every group; for `join`, the new names). */
  nodes: string[];
  /** `partition` only: the resolved groups. */
  groups?: string[][];
}

export class Planner {
  private readonly rng: SeededRandom;
  private readonly bindings = new Map<string, string[]>();
  /** Node numbers handed out to `join` so far (n6, n7, … after a 5-node lab). */
  private lastNodeNumber: number;

  constructor(
    readonly scenario: Scenario,
    readonly seed: number,
    firstView: ClusterView,
  ) {
    this.rng = new SeededRandom(seed);
    this.lastNodeNumber = Math.max(0, ...firstView.nodes.map((n) => Number(n.name.slice(1))));
  }

  /** A float in [0, 1) from the run's seeded source (for choices made while acting). */
  draw(): number {
    return this.rng.next();
  }

  resolve(index: number, view: ClusterView): PlannedStep {
    const step = this.scenario.steps[index];
    if (step === undefined) throw new SwarmnetError(ErrorCode.Internal, `no step ${index}`);
    const where = `scenario ${this.scenario.name}: steps[${index}]`;
    const ctx: ResolveContext = { view, rng: this.rng, bindings: this.bindings };
    const planned: PlannedStep = { index, step, text: describeStep(step), nodes: [] };
    switch (step.step) {
      case "wait":
      case "heal":
        return planned;
      case "join": {
        const names = Array.from({ length: step.count }, () => `n${++this.lastNodeNumber}`);
        if (step.as !== undefined) this.bindings.set(step.as, names);
        return { ...planned, nodes: names };
      }
      case "partition": {
        const groups: string[][] = [];
        const taken = new Set<string>();
        // Named groups first, `rest` last: it means whatever the others left.
        const order = step.groups
          .map((g, gi) => ({ g, gi }))
          .sort((a, b) => Number(a.g.includes("rest")) - Number(b.g.includes("rest")));
        for (const { g, gi } of order) {
          const members: string[] = [];
          for (const raw of g) {
            const sel = parseSelector(raw, `${where}.groups[${gi}]`);
            for (const n of resolveSelector(sel, { ...ctx, taken }, `${where}.groups[${gi}]`)) {
              if (taken.has(n)) throw bad(`${where}.groups: ${n} appears twice`);
              taken.add(n);
              members.push(n);
            }
          }
          groups[gi] = members;
        }
        return { ...planned, nodes: groups.flat(), groups };
      }
      default: {
        const nodes = resolveSelector(parseSelector(step.target, `${where}.target`), ctx, `${where}.target`);
        if (step.as !== undefined) this.bindings.set(step.as, nodes);
        return { ...planned, nodes };
      }
    }
  }
}

function bad(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, message);
}

/** The view after a step, for planning without a lab: joins add workers, leave/rm remove. */
export function viewAfter(view: ClusterView, p: PlannedStep): ClusterView {
  if (p.step.step === "join") {
    return { ...view, nodes: [...view.nodes, ...p.nodes.map((name) => ({ name, role: "worker" as const }))] };
  }
  if (p.step.step === "leave" || p.step.step === "rm") {
    return { ...view, nodes: view.nodes.filter((n) => !p.nodes.includes(n.name)) };
  }
  return view;
}

/** Resolves every step against a static view: the whole fault sequence, nothing run. */
export function planScenario(scenario: Scenario, seed: number, view: ClusterView): PlannedStep[] {
  const planner = new Planner(scenario, seed, view);
  const out: PlannedStep[] = [];
  let v = view;
  for (let i = 0; i < scenario.steps.length; i++) {
    const p = planner.resolve(i, v);
    out.push(p);
    v = viewAfter(v, p);
  }
  return out;
}

/** A lab's static view for planning: roles from the layout, the first manager as leader. */
export function staticView(nodes: { name: string; role: string }[]): ClusterView {
  const members = nodes
    .filter((n) => n.role === "manager" || n.role === "worker")
    .map((n) => ({ name: n.name, role: n.role as "manager" | "worker" }));
  const leader = members.find((n) => n.role === "manager")?.name;
  return leader === undefined ? { nodes: members } : { nodes: members, leader };
}

/** One line per planned step: `3  kill agent random worker  → n4`. */
export function formatPlan(plan: readonly PlannedStep[]): string[] {
  return plan.map((p) => {
    const on =
      p.groups !== undefined
        ? ` → ${p.groups.map((g) => `[${g.join(", ")}]`).join(" | ")}`
        : p.nodes.length > 0
          ? ` → ${p.nodes.join(", ")}`
          : "";
    return `${String(p.index).padStart(2)}  ${p.text}${on}`;
  });
}
