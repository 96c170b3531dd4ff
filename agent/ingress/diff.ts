/**
 * The differ: previous applied model → next model as the fewest element operations, plus
 * the conntrack flows that lost their backend. Pure.
 *
 * Cost: an unchanged group is the same object in both models (the builder reuses it), so
 * it is skipped by identity; only changed groups are compared element by element. A change
 * of one backend therefore yields O(1) element operations and O(S) work in total (one
 * map walk), never O(S·B). A changed element (same key, new value) is a delete plus an
 * add in the same transaction: nftables has no in-place element update.
 */
import type { ConntrackFilter } from "../../common/executor.js";
import type { Element, Group, TableModel } from "./ruleset-model.js";
import type { ModelChange } from "./render.js";

export interface ModelDiff extends ModelChange {
  /** Conntrack entries whose backend is gone (delete them after the ruleset change). */
  removedFlows: ConntrackFilter[];
}

/** True when a static rule changes, so the table must be re-rendered whole. */
export function needsFullRender(prev: TableModel, next: TableModel): boolean {
  return (
    prev.params.ingressSource !== next.params.ingressSource ||
    prev.params.dataPathPort !== next.params.dataPathPort
  );
}

export function diffModels(prev: TableModel, next: TableModel): ModelDiff {
  const diff: ModelDiff = { addChains: [], deleteChains: [], deletes: [], adds: [], removedFlows: [] };
  for (const [id, g] of next.groups) {
    const old = prev.groups.get(id);
    if (old === g) continue;
    diffGroup(old, g, diff);
  }
  for (const [id, old] of prev.groups) if (!next.groups.has(id)) diffGroup(old, undefined, diff);
  for (const [name, rule] of next.pickChains)
    if (!prev.pickChains.has(name)) diff.addChains.push([name, rule]);
  for (const name of prev.pickChains.keys()) if (!next.pickChains.has(name)) diff.deleteChains.push(name);
  return diff;
}

function elementId(e: Element): string {
  return `${e.set} ${e.key}`;
}

function flowId(f: ConntrackFilter): string {
  return `${f.protocol ?? ""}|${f.origDst ?? ""}|${f.origDstPort ?? ""}|${f.replySrc ?? ""}|${f.replySrcPort ?? ""}`;
}

function diffGroup(old: Group | undefined, next: Group | undefined, diff: ModelDiff): void {
  const before = new Map((old?.elements ?? []).map((e) => [elementId(e), e]));
  const after = new Map((next?.elements ?? []).map((e) => [elementId(e), e]));
  for (const [id, e] of before) {
    const now = after.get(id);
    if (now === undefined || now.value !== e.value) diff.deletes.push(e);
  }
  for (const [id, e] of after) {
    const was = before.get(id);
    if (was === undefined || was.value !== e.value) diff.adds.push(e);
  }
  if (next === undefined) {
    diff.removedFlows.push(...(old?.groupFlows ?? []));
    return;
  }
  const kept = new Set(next.flows.map(flowId));
  for (const f of old?.flows ?? []) if (!kept.has(flowId(f))) diff.removedFlows.push(f);
}

/** Number of element and chain operations in a diff. */
export function changeSize(d: ModelChange): number {
  return d.addChains.length + d.deleteChains.length + d.deletes.length + d.adds.length;
}
