/**
 * Placement constraints (`service create --constraint`, `service update --constraint-add
 * / --constraint-rm`): Docker's expression language, parsed and matched in pure code.
 *
 * Parsing follows swarmkit's manager/constraint rules (read for the ideas, not copied):
 *   - an expression is `KEY OP VALUE`; the operators are tried in the order `==`, `!=`
 *     and the first one the text contains splits it once (so `a==b!=c` has the value
 *     `b!=c`, which the value rule then refuses); no operator: "constraint expected one
 *     operator from ==, !=";
 *   - key and value are trimmed; the key is a letter or `_` followed by at least one of
 *     letters, digits, `-`, `_`, `.` ("key 'K' is invalid"); the value is letters,
 *     digits, whitespace and `: - _ . * ( ) ? + [ ] \ ^ $ | /` — never a character a
 *     future operator could use ("value 'V' is invalid");
 *   - attribute names match case-insensitively (`Node.Role`), a label's name after
 *     `node.labels.` exactly; values compare case-insensitively, as full strings;
 *   - a missing label (or a node that never reported its platform) is the empty value:
 *     `==` fails, `!=` holds.
 *
 * Attributes: node.id, node.hostname, node.role (manager|worker), node.labels.KEY (the
 * node's `node update --label-add` labels), node.platform.os / node.platform.arch (what
 * the node's agent reports: "linux", uname -m) and node.ip (its advertise address
 * against an address or a CIDR, as Docker 20.10+).
 *
 * One deliberate difference: swarmkit accepts any well-formed key at create time and a
 * task with an unknown one (`node.lables.x==y`, `engine.labels.…`) then waits forever
 * as pending; here an attribute this module cannot match is refused when the service is
 * created or updated, with the list of those it knows. swarmnet nodes have no engine
 * labels, so `engine.labels.` is refused with a pointer to `node.labels.`.
 */
import { BlockList, isIP } from "node:net";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

export type ConstraintOperator = "==" | "!=";

export interface Constraint {
  /** The expression as typed (trimmed): what `service inspect` shows. */
  text: string;
  /** Lower-case attribute ("node.role"), or "node.labels." + the label's exact name. */
  key: string;
  operator: ConstraintOperator;
  value: string;
}

/** What a constraint can be matched against: a node as the scheduler sees it. */
export interface ConstraintNode {
  id: string;
  hostname: string;
  role: string;
  labels: Readonly<Record<string, string>>;
  /** "" when the node's agent did not report it. */
  os: string;
  arch: string;
  /** The advertise address, "" when unknown. */
  addr: string;
}

const OPERATORS: readonly ConstraintOperator[] = ["==", "!="];
const KEY = /^[a-z_][a-z0-9\-_.]+$/i;
const VALUE = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;
export const NODE_LABEL_PREFIX = "node.labels.";
const ATTRIBUTES = [
  "node.id",
  "node.hostname",
  "node.role",
  "node.platform.os",
  "node.platform.arch",
  "node.ip",
] as const;

function invalid(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, message);
}

/** One expression; throws Docker's message for a malformed one, or ours for an unknown attribute. */
export function parseConstraint(raw: string): Constraint {
  const text = raw.trim();
  const operator = OPERATORS.find((op) => text.includes(op));
  if (operator === undefined) {
    throw invalid(`invalid constraint ${JSON.stringify(raw)}: constraint expected one operator from ==, !=`);
  }
  const at = text.indexOf(operator);
  const key = text.slice(0, at).trim();
  const value = text.slice(at + operator.length).trim();
  if (!KEY.test(key)) throw invalid(`invalid constraint ${JSON.stringify(raw)}: key '${key}' is invalid`);
  if (!VALUE.test(value)) {
    throw invalid(`invalid constraint ${JSON.stringify(raw)}: value '${value}' is invalid`);
  }
  const lower = key.toLowerCase();
  if (lower.startsWith(NODE_LABEL_PREFIX) && key.length > NODE_LABEL_PREFIX.length) {
    return { text, key: NODE_LABEL_PREFIX + key.slice(NODE_LABEL_PREFIX.length), operator, value };
  }
  if (lower.startsWith("engine.labels.")) {
    throw invalid(
      `invalid constraint ${JSON.stringify(raw)}: swarmnet nodes have no engine labels; label the node (swarmnet node update --label-add) and use node.labels.KEY`,
    );
  }
  if (!(ATTRIBUTES as readonly string[]).includes(lower)) {
    throw invalid(
      `invalid constraint ${JSON.stringify(raw)}: unknown attribute '${key}' (use ${ATTRIBUTES.join(", ")} or node.labels.KEY)`,
    );
  }
  if (lower === "node.ip" && isIP(value) === 0 && cidr(value) === undefined) {
    throw invalid(`invalid constraint ${JSON.stringify(raw)}: node.ip needs an IP address or a CIDR`);
  }
  return { text, key: lower, operator, value };
}

/** Every expression of a list; the first bad one throws. */
export function parseConstraints(raw: readonly string[]): Constraint[] {
  return raw.map(parseConstraint);
}

/**
 * The stored expressions of a service, parsed. They were checked when stored; one that
 * no longer parses (a record from a newer manager) matches no node rather than every node.
 */
export function storedConstraints(raw: readonly string[] | undefined): Constraint[] {
  return (raw ?? []).map((text) => {
    try {
      return parseConstraint(text);
    } catch {
      return { text, key: "unparsable", operator: "==", value: "" };
    }
  });
}

/** Two expressions that say the same thing (`node.role==worker`, `Node.Role == Worker`). */
export function sameConstraint(a: Constraint, b: Constraint): boolean {
  return (
    a.key.toLowerCase() === b.key.toLowerCase() &&
    a.operator === b.operator &&
    a.value.toLowerCase() === b.value.toLowerCase()
  );
}

function cidr(value: string): BlockList | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(value);
  if (m === null) return undefined;
  const family = isIP(m[1] ?? "");
  const bits = Number(m[2]);
  if (family === 0 || bits > (family === 4 ? 32 : 128)) return undefined;
  const list = new BlockList();
  list.addSubnet(m[1] ?? "", bits, family === 4 ? "ipv4" : "ipv6");
  return list;
}

function ipMatches(value: string, addr: string): boolean {
  const family = isIP(addr);
  if (family === 0) return false;
  if (isIP(value) !== 0) {
    const list = new BlockList();
    list.addAddress(value, isIP(value) === 4 ? "ipv4" : "ipv6");
    return list.check(addr, family === 4 ? "ipv4" : "ipv6");
  }
  return cidr(value)?.check(addr, family === 4 ? "ipv4" : "ipv6") ?? false;
}

/** The address part of "10.0.0.1", "10.0.0.1:2377" or "[fd00::1]:2377". */
function hostOf(addr: string): string {
  if (isIP(addr) !== 0) return addr;
  return addr.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
}

/** The node's value of an attribute ("" when it has none). */
function attribute(c: Constraint, n: ConstraintNode): string | undefined {
  if (c.key.startsWith(NODE_LABEL_PREFIX)) return n.labels[c.key.slice(NODE_LABEL_PREFIX.length)] ?? "";
  switch (c.key) {
    case "node.id":
      return n.id;
    case "node.hostname":
      return n.hostname;
    case "node.role":
      return n.role;
    case "node.platform.os":
      return n.os;
    case "node.platform.arch":
      return n.arch;
    default:
      return undefined;
  }
}

/** Whether one constraint holds on a node. */
export function constraintHolds(c: Constraint, n: ConstraintNode): boolean {
  if (c.key === "node.ip") {
    const within = ipMatches(c.value, hostOf(n.addr));
    return c.operator === "==" ? within : !within;
  }
  const v = attribute(c, n);
  if (v === undefined) return false;
  const equal = v.toLowerCase() === c.value.toLowerCase();
  return c.operator === "==" ? equal : !equal;
}

/** Whether a node satisfies every constraint (they AND together; none: every node). */
export function nodeMatches(constraints: readonly Constraint[], n: ConstraintNode): boolean {
  return constraints.every((c) => constraintHolds(c, n));
}

/** swarmkit's wording for the nodes the constraint filter turned away. */
export function constraintsExplanation(nodes: number): string {
  return `scheduling constraints not satisfied on ${nodes} node${nodes === 1 ? "" : "s"}`;
}
