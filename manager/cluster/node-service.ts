/**
 * `node ls / inspect / rm`: the node records joined with the managers' view of them.
 *
 * - STATUS is `ready` while the node has a dispatcher session (`sessions/<node>/…`,
 *   written by the manager serving the stream on its own lease): the stream and its
 *   heartbeats are what a manager sees of an agent; a node whose agent stopped sending
 *   heartbeats, or whose manager died (lease expired), is `down`.
 * - MANAGER STATUS for manager nodes: `Leader` for the elected manager, `Reachable` when
 *   a manager process of that node is registered (`managers/<name>`, on its lease),
 *   `Unreachable` otherwise.
 *
 * Removal follows Docker: a ready node is removed only with --force; a manager is never
 * removed, with or without --force — it must be demoted to worker first (Docker: "…is a
 * cluster manager and is a member of the raft cluster. It must be demoted to worker
 * before removal"); and a manager never removes its own node. A removed node's
 * certificate is refused from then on (it is no member any more); that node can still
 * `swarm leave --force` (cli/swarm.ts) and join again.
 *
 * Labels (`node update --label-add KEY[=VALUE] / --label-rm KEY`, Docker's flags and
 * checks, docker/cli's order: adds, then removals): a name is whatever precedes the first
 * `=`, trimmed, non-empty and without whitespace; removing a label the node lacks is
 * refused ("key K doesn't exist in node's labels"); the whole change is one transaction
 * on the node record, so a refused one changes nothing. The scheduler reads them for
 * `node.labels.KEY` constraints.
 *
 * Quorum: managers are stateless in front of etcd, and etcd's membership is the
 * operator's (the lab's), not the node records', so nothing here can cost etcd its
 * quorum. What can be lost is the managers themselves: a demotion must leave at least
 * one other manager whose process is registered (reachable), so the swarm always keeps
 * a manager that answers; together with "demote before removal" no `node rm` can take
 * the last one away.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { notInitialised } from "../networks/network-service.js";
import { keys } from "../store/keys.js";
import type { ManagerRecord, NodeRecord, NodeRole, SessionRecord } from "../store/records.js";
import type { Store } from "../store/store.js";

export interface NodeView extends NodeRecord {
  status: "ready" | "down";
  managerStatus: "Leader" | "Reachable" | "Unreachable" | "";
  /** Manager serving the node's stream, when ready. */
  sessionManager: string;
}

export function nodeViews(
  nodes: readonly NodeRecord[],
  sessions: readonly SessionRecord[],
  managers: readonly ManagerRecord[],
  leader: string | undefined,
): NodeView[] {
  const serving = new Map(sessions.map((s) => [s.nodeId, s.manager]));
  const registered = new Set(managers.map((m) => m.nodeName));
  return (
    nodes
      .map((n): NodeView => {
        const managerStatus =
          n.role !== "manager"
            ? ""
            : leader !== undefined && leader === n.hostname && registered.has(n.hostname)
              ? "Leader"
              : registered.has(n.hostname)
                ? "Reachable"
                : "Unreachable";
        const session = serving.get(n.id);
        return {
          ...n,
          status: session === undefined ? "down" : "ready",
          managerStatus,
          sessionManager: session ?? "",
        };
      })
      // Natural order (n2 before n10), then id for equal names.
      .sort((a, b) => a.hostname.localeCompare(b.hostname, "en", { numeric: true }) || (a.id < b.id ? -1 : 1))
  );
}

/** By exact id, unique id prefix, then unique hostname. */
export function resolveNode<T extends { id: string; hostname: string }>(nodes: readonly T[], ref: string): T {
  const exact = nodes.find((n) => n.id === ref);
  if (exact !== undefined) return exact;
  for (const match of [(n: T) => ref !== "" && n.id.startsWith(ref), (n: T) => n.hostname === ref]) {
    const found = nodes.filter(match);
    if (found.length === 1) return found[0] as T;
    if (found.length > 1) {
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        `node ${ref} is ambiguous (${found.length} matches): use its id`,
      );
    }
  }
  throw new SwarmnetError(ErrorCode.NotFound, `node ${ref} not found`);
}

export interface LabelChanges {
  add: Record<string, string>;
  rm: string[];
}

function invalid(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, message);
}

/** `--label-add` / `--label-rm` as typed, checked as docker/cli checks them. */
export function parseLabelChanges(add: readonly string[], rm: readonly string[]): LabelChanges {
  const out: LabelChanges = { add: {}, rm: [] };
  for (const raw of add) {
    const eq = raw.indexOf("=");
    const key = (eq < 0 ? raw : raw.slice(0, eq)).trim();
    if (key === "") throw invalid(`invalid label '${raw}': empty name`);
    if (/\s/.test(key)) throw invalid(`label '${key}' contains whitespaces`);
    out.add[key] = eq < 0 ? "" : raw.slice(eq + 1);
  }
  for (const raw of rm) {
    const key = raw.trim();
    if (key === "") throw invalid("--label-rm needs a label name");
    out.rm.push(key);
  }
  return out;
}

/** A node's labels after the changes (adds, then removals); throws for a missing label. */
export function applyLabelChanges(
  labels: Readonly<Record<string, string>>,
  changes: LabelChanges,
): Record<string, string> {
  const next: Record<string, string> = { ...labels, ...changes.add };
  for (const key of changes.rm) {
    if (!(key in next)) throw invalid(`key ${key} doesn't exist in node's labels`);
    delete next[key];
  }
  return next;
}

export class NodeService {
  constructor(
    private readonly store: Store,
    private readonly leader: () => Promise<string | undefined>,
  ) {}

  async list(): Promise<NodeView[]> {
    if ((await this.store.getCluster()) === undefined) throw notInitialised();
    const [nodes, sessions, managers, leader] = await Promise.all([
      this.store.listNodes(),
      this.store.listSessions(),
      this.store.listManagers(),
      this.leader(),
    ]);
    return nodeViews(nodes, sessions, managers, leader);
  }

  /** `node rm [--force]`, asked by node `callerId` ("" when it is not a node: the local socket). */
  async remove(ref: string, force: boolean, callerId = ""): Promise<NodeView> {
    const node = resolveNode(await this.list(), ref);
    if (node.id === callerId) {
      throw new SwarmnetError(
        ErrorCode.Conflict,
        `node ${node.hostname} is the node this command runs on, a cluster manager: it cannot remove itself (demote it to worker from another manager first, or take it out with 'swarmnet swarm leave --force')`,
      );
    }
    if (node.role === "manager") {
      throw new SwarmnetError(
        ErrorCode.Conflict,
        `node ${node.hostname} is a cluster manager. It must be demoted to worker before removal ('swarmnet node demote ${node.hostname}')`,
      );
    }
    if (!force && node.status === "ready") {
      throw new SwarmnetError(
        ErrorCode.Conflict,
        `node ${node.hostname} is not down and can't be removed (use --force)`,
      );
    }
    await this.store.transact(async (tx) => {
      const current = await tx.get<NodeRecord>(keys.node(node.id));
      if (current?.role === "manager") {
        throw new SwarmnetError(
          ErrorCode.Conflict,
          `node ${node.hostname} is a cluster manager. It must be demoted to worker before removal`,
        );
      }
      tx.delete(keys.node(node.id));
      tx.deletePrefix(keys.nodeSessions(node.id));
    });
    return node;
  }

  /** `node update --label-add/--label-rm`: one transaction; refused input changes nothing. */
  async updateLabels(ref: string, add: readonly string[], rm: readonly string[]): Promise<NodeView> {
    const changes = parseLabelChanges(add, rm);
    const node = resolveNode(await this.list(), ref);
    const { result } = await this.store.transact(async (tx) => {
      const current = await tx.get<NodeRecord>(keys.node(node.id));
      if (current === undefined) throw new SwarmnetError(ErrorCode.NotFound, `node ${ref} not found`);
      const labels = applyLabelChanges(current.labels ?? {}, changes);
      if (JSON.stringify(labels) === JSON.stringify(current.labels ?? {})) return current;
      const { labels: _was, ...rest } = current;
      const next: NodeRecord = {
        ...rest,
        ...(Object.keys(labels).length > 0 ? { labels } : {}),
        updatedAt: new Date().toISOString(),
      };
      tx.put(keys.node(node.id), next);
      return next;
    });
    return { ...node, ...result, labels: result.labels ?? {} };
  }

  /**
   * `node promote|demote`: the role the managers hold for the node. Its certificate is
   * re-issued with that role at its next heartbeat; authorization uses the lower of the
   * certificate's role and this one, so a demotion takes effect at once. The last
   * manager cannot be demoted (the cluster would have nobody to manage it), nor one that
   * leaves no other manager whose process is registered (the header's quorum rule).
   */
  async setRole(ref: string, role: NodeRole): Promise<NodeView> {
    const node = resolveNode(await this.list(), ref);
    await this.store.transact(async (tx) => {
      const current = await tx.get<NodeRecord>(keys.node(node.id));
      if (current === undefined) throw new SwarmnetError(ErrorCode.NotFound, `node ${ref} not found`);
      if (current.role === role) return;
      if (role === "worker") {
        const managers = (await tx.list<NodeRecord>(keys.nodesPrefix)).filter(
          (n) => n.role === "manager" && n.credentialHash !== "",
        );
        if (managers.length <= 1) {
          throw new SwarmnetError(
            ErrorCode.Conflict,
            `node ${current.hostname} is the last manager of the swarm: promote another node first`,
          );
        }
        const registered = new Set(
          (await tx.list<ManagerRecord>(keys.managersPrefix)).map((m) => m.nodeName),
        );
        if (!managers.some((n) => n.id !== current.id && registered.has(n.hostname))) {
          throw new SwarmnetError(
            ErrorCode.Conflict,
            `node ${current.hostname} is the last reachable manager of the swarm: demoting it would leave no manager that answers (bring another manager back or promote a node first)`,
          );
        }
      }
      tx.put(keys.node(node.id), { ...current, role, updatedAt: new Date().toISOString() });
    });
    return { ...node, role };
  }
}
