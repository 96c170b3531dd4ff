/**
 * The differ: previous applied model → next model as the fewest element operations, plus
 * the conntrack flows that lost their backend. Pure.
 *
 * Cost: an unchanged group is the same object in both models (the builder reuses it), so
 * it is skipped by identity; only changed groups are compared element by element. A model
 * built from `prev` by replacing groups names them (`delta`), and only those are looked
 * at: a one-backend change is O(1) here; otherwise one walk of the groups, never O(S·B).
 * A changed element (same key, new value) is a delete plus an add in the same
 * transaction: nftables has no in-place element update.
 */
import type { ConntrackFilter } from "../../common/executor.js";
import { elementsOf, flowsOf, type Group, type TableModel } from "./ruleset-model.js";
import type { ModelChange } from "./render.js";

export interface ModelDiff extends ModelChange {
  /** Conntrack entries whose backend is gone (delete them after the ruleset change). */
  removedFlows: ConntrackFilter[];
}

/** True when a static rule changes, so the table must be re-rendered whole. */
export function needsFullRender(prev: TableModel, next: TableModel): boolean {
  return prev.params.ingressSource !== next.params.ingressSource;
}

export function diffModels(prev: TableModel, next: TableModel): ModelDiff {
  const diff: ModelDiff = { addChains: [], deleteChains: [], deletes: [], adds: [], removedFlows: [] };
  if (next.delta?.fromId === prev.id) {
    for (const [old, g] of next.delta.replaced) diffGroup(old, g, diff);
  } else {
    for (const [id, g] of next.groups.entries()) {
      const old = prev.groups.get(id);
      if (old === g) continue;
      diffGroup(old, g, diff);
    }
    for (const [id, old] of prev.groups.entries()) if (!next.groups.has(id)) diffGroup(old, undefined, diff);
  }
  for (const [name, rule] of next.pickChains)
    if (!prev.pickChains.has(name)) diff.addChains.push([name, rule]);
  for (const name of prev.pickChains.keys()) if (!next.pickChains.has(name)) diff.deleteChains.push(name);
  return diff;
}

function diffGroup(old: Group | undefined, next: Group | undefined, diff: ModelDiff): void {
  const before = new Map((old === undefined ? [] : elementsOf(old)).map((e) => [`${e.set} ${e.key}`, e]));
  const after = new Map((next === undefined ? [] : elementsOf(next)).map((e) => [`${e.set} ${e.key}`, e]));
  for (const [id, e] of before) if (after.get(id)?.text !== e.text) diff.deletes.push(e);
  for (const [id, e] of after) if (before.get(id)?.text !== e.text) diff.adds.push(e);
  if (old === undefined) return;
  if (next === undefined) {
    diff.removedFlows.push(...old.groupFlows);
    return;
  }
  // A backend's flows go when the backend goes, or when what its flows look like changed
  // (another target port): then every old backend's flows are stale.
  const sameShape = JSON.stringify(old.flowTemplates) === JSON.stringify(next.flowTemplates);
  const kept = new Set(sameShape ? next.slots : []);
  for (const b of old.slots ?? []) if (!kept.has(b)) diff.removedFlows.push(...flowsOf(old, b));
}

/** Number of element and chain operations in a diff. */
export function changeSize(d: ModelChange): number {
  return d.addChains.length + d.deleteChains.length + d.deletes.length + d.adds.length;
}
