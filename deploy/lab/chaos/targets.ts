/**
 * Target selectors: which nodes a step acts on. Grammar (one string):
 *
 *   n3                         that node
 *   $victim                    the nodes an earlier step bound with "as": "victim"
 *   rest                       (partition groups only) every node not in another group
 *   [random [N]] ROLE [with-task SERVICE]
 *       ROLE = leader | manager | worker | node (any)
 *       without `random`: every matching node; with it: N of them (default 1), drawn
 *       from the seeded source in node order, so the same seed picks the same nodes
 *   [random [N]] node-with-task SERVICE   (the issue's spelling of `node with-task S`)
 *
 * Resolution reads a `ClusterView` (nodes and roles, the leader, where tasks run): the
 * runner passes the live cluster at the step's moment, `--plan` a static one built from
 * the lab's layout (where the leader is the first manager and task placement is unknown,
 * so `with-task` matches any node of the role). A random selector always consumes the
 * same number of draws, so one step's live state never shifts a later step's choice.
 */
import { ErrorCode, SwarmnetError } from "../../../common/errors.js";
import type { SeededRandom } from "./random.js";

export interface ClusterView {
  /** Nodes in the cluster, in lab order (n1, n2, …). */
  nodes: { name: string; role: "manager" | "worker" }[];
  leader?: string;
  /** Service name → nodes running one of its tasks; absent when unknown (planning). */
  tasks?: Record<string, string[]>;
}

export type Role = "leader" | "manager" | "worker" | "node";

export type Selector =
  | { kind: "name"; name: string }
  | { kind: "binding"; name: string }
  | { kind: "rest" }
  | { kind: "set"; random: number; role: Role; withTask?: string };

const ROLES: readonly Role[] = ["leader", "manager", "worker", "node"];
const NODE_NAME = /^n\d+$/;

function bad(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, message);
}

export function parseSelector(raw: string, where: string): Selector {
  const words = raw.trim().split(/\s+/);
  const text = JSON.stringify(raw);
  if (words.length === 1) {
    const [w = ""] = words;
    if (NODE_NAME.test(w)) return { kind: "name", name: w };
    if (w.startsWith("$") && w.length > 1) return { kind: "binding", name: w.slice(1) };
    if (w === "rest") return { kind: "rest" };
  }
  let i = 0;
  let random = 0;
  if (words[i] === "random") {
    i++;
    random = 1;
    if (/^\d+$/.test(words[i] ?? "")) random = Number(words[i++]);
    if (random < 1) throw bad(`${where}: ${text}: random needs a count of at least 1`);
  }
  let role: Role = "node";
  let withTask: string | undefined;
  const word = words[i];
  if (word === "node-with-task") {
    withTask = words[i + 1];
    i += 2;
  } else if (word !== undefined && (ROLES as readonly string[]).includes(word)) {
    role = word as Role;
    i++;
    if (words[i] === "with-task") {
      withTask = words[i + 1];
      i += 2;
    }
  } else {
    throw bad(
      `${where}: ${text} is not a target (a node name like n3, $binding, or [random [N]] leader|manager|worker|node [with-task SERVICE], or node-with-task SERVICE)`,
    );
  }
  if (withTask === "" || (withTask === undefined && words[i - 1] === "with-task") || i !== words.length) {
    throw bad(`${where}: ${text}: expected a service name after with-task and nothing more`);
  }
  if (i > words.length) throw bad(`${where}: ${text}: expected a service name after node-with-task`);
  return withTask === undefined ? { kind: "set", random, role } : { kind: "set", random, role, withTask };
}

export interface ResolveContext {
  view: ClusterView;
  rng: SeededRandom;
  bindings: Map<string, string[]>;
  /** Nodes already named by other groups of the same partition (for `rest`). */
  taken?: ReadonlySet<string>;
}

/** The node names a selector means now; throws naming the step when it means none. */
export function resolveSelector(sel: Selector, ctx: ResolveContext, where: string): string[] {
  const names = ctx.view.nodes.map((n) => n.name);
  switch (sel.kind) {
    case "name":
      if (!names.includes(sel.name)) {
        throw bad(`${where}: no node ${JSON.stringify(sel.name)} in the lab (nodes: ${names.join(", ")})`);
      }
      return [sel.name];
    case "binding": {
      const bound = ctx.bindings.get(sel.name);
      if (bound === undefined) throw bad(`${where}: $${sel.name} is not bound by an earlier step's "as"`);
      return bound;
    }
    case "rest": {
      if (ctx.taken === undefined) throw bad(`${where}: rest is only meaningful in a partition group`);
      const rest = names.filter((n) => !ctx.taken?.has(n));
      if (rest.length === 0) throw bad(`${where}: rest is empty: every node is in another group`);
      return rest;
    }
    case "set": {
      let candidates = ctx.view.nodes
        .filter((n) =>
          sel.role === "node"
            ? true
            : sel.role === "leader"
              ? n.name === ctx.view.leader
              : n.role === sel.role,
        )
        .map((n) => n.name);
      if (sel.withTask !== undefined && ctx.view.tasks !== undefined) {
        const running = new Set(ctx.view.tasks[sel.withTask] ?? []);
        candidates = candidates.filter((n) => running.has(n));
      }
      if (ctx.taken !== undefined) candidates = candidates.filter((n) => !ctx.taken?.has(n));
      const what = `${sel.role}${sel.withTask === undefined ? "" : ` with a task of ${sel.withTask}`}`;
      if (sel.random === 0) {
        if (candidates.length === 0) throw bad(`${where}: no ${what} in the lab`);
        return candidates;
      }
      const picked = ctx.rng.pick(candidates, sel.random);
      if (picked.length < sel.random) {
        throw bad(`${where}: random ${sel.random} ${what}: only ${candidates.length} node(s) match`);
      }
      return picked;
    }
  }
}
