/**
 * The scheduler's decisions for one service, in pure code: given the service (or its
 * absence after `service rm`), its tasks and the nodes, what to create, assign, shut
 * down, orphan or forget. The leader's `SchedulerJob` applies them in one transaction per
 * service; table tests drive this function directly.
 *
 * Rules:
 * - replicated mode keeps one live task in each slot 1…replicas; scaling down shuts the
 *   highest slots down first; global mode keeps one live task on each eligible node;
 * - placement spreads: the eligible node with the fewest live tasks of this service,
 *   then the fewest live tasks overall, then the lowest node id (deterministic);
 * - eligible = ready (has a dispatcher session) and availability `active`; `pause`
 *   keeps its tasks but takes no new ones; `drain` has its tasks shut down and replaced;
 *   and its agent runs every network driver the service's networks use (swarmkit's plugin
 *   filter: a `--scope swarm` ipvlan network's tasks go only to nodes whose kernel has
 *   ipvlan; a node that has not reported its drivers counts as running all);
 * - placement constraints (`--constraint`, placement-constraints.ts) filter the eligible
 *   nodes too; a live task on a ready, active node that no longer satisfies them (its
 *   labels or role changed, or the service's constraints did) is shut down ("assigned
 *   node no longer meets constraints") and its slot refilled where they hold — swarmkit's
 *   constraint enforcer does the same on node changes, and leaves paused nodes' tasks
 *   alone, as here; tasks on nodes that still match keep running (Docker's rolling
 *   update would restart them all; swarmnet changes services in place);
 * - a task that fits nowhere waits as `pending` with swarmkit's explanation: the nodes
 *   each filter turned away, most first ("no suitable node (scheduling constraints not
 *   satisfied on 2 nodes; 1 node not available for new tasks)");
 * - a service with a host-mode port never gets two tasks on one node — counting tasks
 *   still shutting down there, which hold the port until their agent lets go; a task
 *   that fits nowhere waits as `pending` and is placed when a node frees up or joins;
 * - a node without a session is `down`; its tasks are left alone for the grace period
 *   (a restarting agent or a short partition must not cost a reschedule), after which
 *   (or at once when the node left or was removed) it is `gone`: its tasks are orphaned
 *   — released, addresses freed — and their slots refilled on live nodes;
 * - a task its agent reports failed is shut down (kept as history) and its slot refilled
 *   once `restartDelayMs` has passed since the failure (a crash loop costs one task per
 *   delay, not a storm);
 * - released tasks are history: a slot (a node in global mode) holds at most
 *   `historyLimit` tasks, its live ones included, as Docker's task history retention
 *   limit counts them (so `service ps` shows at most that many per slot); the oldest
 *   released ones beyond it go, and so do those of slots above the replica count or of
 *   a removed service. Every flap of a node orphans a task and starts a new one in its
 *   slot: this bound is what keeps `service ps` from growing with each one.
 */
import type { NodeAvailability, ServiceRecord, TaskRecord } from "../store/records.js";
import { constraintsExplanation, nodeMatches, storedConstraints } from "./placement-constraints.js";
import { hasHostPort } from "./ports.js";
import { isLive, isTerminal } from "./tasks.js";

export type NodeCondition = "ready" | "down" | "gone";

export interface SchedulerNode {
  id: string;
  condition: NodeCondition;
  availability: NodeAvailability;
  /** Live tasks of every service on the node: the spread's tie-break. */
  load: number;
  /** The network drivers its agent runs; undefined: not reported (taken to run any). */
  drivers?: readonly string[];
  /** What placement constraints match (absent: "", no labels). */
  hostname?: string;
  role?: string;
  labels?: Readonly<Record<string, string>>;
  os?: string;
  arch?: string;
  /** Advertise address (node.ip). */
  addr?: string;
}

const count = (n: number) => `${n} node${n === 1 ? "" : "s"}`;

export interface SchedulerOptions {
  restartDelayMs: number;
  /** Tasks kept per slot, live ones included (`swarm update --task-history-limit`). */
  historyLimit: number;
}

export type Decision =
  /** A new task in `slot` (0 in global mode) on `nodeId` ("" = pending, see `reason`). */
  | { kind: "create"; slot: number; nodeId: string; reason: string }
  | { kind: "assign"; taskId: string; nodeId: string }
  | { kind: "shutdown"; taskId: string; reason: string }
  | { kind: "orphan"; taskId: string }
  | { kind: "delete"; taskId: string };

const byNewest = (a: TaskRecord, b: TaskRecord) =>
  a.createdAt > b.createdAt ? -1 : a.createdAt < b.createdAt ? 1 : a.id < b.id ? -1 : 1;

/** The decisions that bring `service`'s tasks to what it asks for. */
export function planService(
  service: ServiceRecord | undefined,
  tasks: readonly TaskRecord[],
  nodes: readonly SchedulerNode[],
  now: number,
  opts: SchedulerOptions,
  /** The network drivers the service's networks use. */
  needs: readonly string[] = [],
): Decision[] {
  const out: Decision[] = [];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const gone = (t: TaskRecord) => t.nodeId !== "" && (byId.get(t.nodeId)?.condition ?? "gone") === "gone";

  // Tasks of nodes that are gone: orphaned (released) whatever else happens.
  const orphaned = new Set<string>();
  for (const t of tasks) {
    if (!t.released && gone(t)) {
      out.push({ kind: "orphan", taskId: t.id });
      orphaned.add(t.id);
    }
  }
  const current = tasks.filter((t) => !orphaned.has(t.id));

  if (service === undefined) {
    for (const t of current) {
      if (t.released) out.push({ kind: "delete", taskId: t.id });
      else if (t.desiredState === "running")
        out.push({ kind: "shutdown", taskId: t.id, reason: "service removed" });
    }
    return out;
  }

  const constraints = storedConstraints(service.constraints);
  const satisfies = (n: SchedulerNode) =>
    nodeMatches(constraints, {
      id: n.id,
      hostname: n.hostname ?? "",
      role: n.role ?? "",
      labels: n.labels ?? {},
      os: n.os ?? "",
      arch: n.arch ?? "",
      addr: n.addr ?? "",
    });

  // Desired running but dead (failed, stopped), on a drained node or on an active node
  // that no longer meets the constraints: shut down, refill.
  const stopping = new Set<string>();
  for (const t of current) {
    if (t.released || t.desiredState !== "running") continue;
    const node = byId.get(t.nodeId);
    if (isTerminal(t.state)) {
      out.push({
        kind: "shutdown",
        taskId: t.id,
        reason: t.state === "failed" ? "task failed" : `task ${t.state}`,
      });
      stopping.add(t.id);
    } else if (node?.condition === "ready" && node.availability === "drain") {
      out.push({ kind: "shutdown", taskId: t.id, reason: "node drained" });
      stopping.add(t.id);
    } else if (node?.condition === "ready" && node.availability === "active" && !satisfies(node)) {
      out.push({ kind: "shutdown", taskId: t.id, reason: "assigned node no longer meets constraints" });
      stopping.add(t.id);
    }
  }
  let live = current.filter((t) => isLive(t) && !stopping.has(t.id));

  const global = service.mode === "global";
  const group = (t: TaskRecord) => (global ? `node:${t.nodeId}` : `slot:${t.slot}`);
  // Extra live tasks: slots above the replica count, then duplicates of a slot or node.
  const keep = new Map<string, TaskRecord>();
  const ordered = [...live].sort((a, b) =>
    a.nodeId !== "" && b.nodeId === "" ? -1 : a.nodeId === "" && b.nodeId !== "" ? 1 : -byNewest(a, b),
  );
  for (const t of ordered) {
    const over = !global && t.slot > service.replicas;
    const eligibleHere = !global || (byId.get(t.nodeId)?.condition ?? "gone") !== "gone";
    if (over || keep.has(group(t)) || !eligibleHere || (global && t.nodeId === "")) {
      out.push({ kind: "shutdown", taskId: t.id, reason: over ? "scaled down" : "duplicate task" });
      stopping.add(t.id);
    } else keep.set(group(t), t);
  }
  live = live.filter((t) => !stopping.has(t.id));

  // A failure less than restartDelayMs ago holds its slot (or node) back.
  const lastFailure = new Map<string, number>();
  for (const t of current) {
    if (t.state !== "failed") continue;
    const at = Date.parse(t.stateAt);
    if (Number.isFinite(at)) lastFailure.set(group(t), Math.max(lastFailure.get(group(t)) ?? 0, at));
  }
  const coolingDown = (g: string) => now - (lastFailure.get(g) ?? -Infinity) < opts.restartDelayMs;

  // Placement state: live tasks of this service per node, load, host-port holders.
  const mine = new Map<string, number>();
  for (const t of live) if (t.nodeId !== "") mine.set(t.nodeId, (mine.get(t.nodeId) ?? 0) + 1);
  const load = new Map(nodes.map((n) => [n.id, n.load]));
  const hostPorts = hasHostPort(service.ports);
  const holding = new Set(current.filter((t) => !t.released && t.nodeId !== "").map((t) => t.nodeId));
  const up = nodes.filter((n) => n.condition === "ready" && n.availability === "active");
  const runs = (n: SchedulerNode) => n.drivers === undefined || needs.every((d) => n.drivers?.includes(d));
  const eligible = up.filter((n) => runs(n) && satisfies(n));
  const blocked = (id: string) => hostPorts && holding.has(id);
  const place = (nodeId: string) => {
    mine.set(nodeId, (mine.get(nodeId) ?? 0) + 1);
    load.set(nodeId, (load.get(nodeId) ?? 0) + 1);
    holding.add(nodeId);
  };
  const pick = (): string | undefined => {
    const fits = eligible.filter((n) => !blocked(n.id));
    fits.sort(
      (a, b) =>
        (mine.get(a.id) ?? 0) - (mine.get(b.id) ?? 0) ||
        (load.get(a.id) ?? 0) - (load.get(b.id) ?? 0) ||
        (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
    );
    return fits[0]?.id;
  };
  const noNode = () => {
    if (up.length === 0) return "no suitable node (no ready node)";
    const noDriver = up.filter((n) => !runs(n)).length;
    if (noDriver === up.length) {
      return `no suitable node (no ready node runs the network driver ${needs.join(", ")})`;
    }
    const unsatisfied = up.filter((n) => runs(n) && !satisfies(n)).length;
    if (noDriver === 0 && unsatisfied === 0) {
      return "no suitable node (host-mode port already in use on every node)";
    }
    // swarmkit's pipeline: each node counts for the first filter that turned it away,
    // the explanations go most first.
    const unavailable = nodes.filter((n) => n.condition !== "gone").length - up.length;
    const parts = [
      { nodes: unavailable, text: `${count(unavailable)} not available for new tasks` },
      { nodes: noDriver, text: `network driver ${needs.join(", ")} not running on ${count(noDriver)}` },
      { nodes: unsatisfied, text: constraintsExplanation(unsatisfied) },
      { nodes: eligible.length, text: `host-mode port already in use on ${count(eligible.length)}` },
    ]
      .filter((p) => p.nodes > 0)
      .sort((a, b) => b.nodes - a.nodes);
    return `no suitable node (${parts.map((p) => p.text).join("; ")})`;
  };

  if (global) {
    for (const n of eligible) {
      const g = `node:${n.id}`;
      if (keep.has(g) || coolingDown(g) || blocked(n.id)) continue;
      out.push({ kind: "create", slot: 0, nodeId: n.id, reason: "" });
      place(n.id);
    }
  } else {
    for (const t of [...live].sort((a, b) => a.slot - b.slot)) {
      if (t.nodeId !== "") continue;
      const nodeId = pick();
      if (nodeId === undefined) continue;
      out.push({ kind: "assign", taskId: t.id, nodeId });
      place(nodeId);
    }
    for (let slot = 1; slot <= service.replicas; slot++) {
      const g = `slot:${slot}`;
      if (keep.has(g) || coolingDown(g)) continue;
      const nodeId = pick();
      out.push({ kind: "create", slot, nodeId: nodeId ?? "", reason: nodeId === undefined ? noNode() : "" });
      if (nodeId !== undefined) place(nodeId);
    }
  }

  // History: released tasks, newest first per slot (node); with the slot's unreleased
  // tasks, at most historyLimit kept.
  const history = new Map<string, TaskRecord[]>();
  const held = new Map<string, number>();
  for (const t of current) {
    if (!t.released) {
      held.set(group(t), (held.get(group(t)) ?? 0) + 1);
      continue;
    }
    const dropped =
      (!global && t.slot > service.replicas) || (global && !byId.has(t.nodeId) && t.nodeId !== "");
    if (dropped) {
      out.push({ kind: "delete", taskId: t.id });
      continue;
    }
    history.set(group(t), [...(history.get(group(t)) ?? []), t]);
  }
  for (const [g, list] of history) {
    const room = Math.max(0, opts.historyLimit - (held.get(g) ?? 0));
    for (const t of list.sort(byNewest).slice(room)) out.push({ kind: "delete", taskId: t.id });
  }
  return out;
}
