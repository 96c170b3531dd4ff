/**
 * A chaos scenario: its schema and the one parser that turns a file (JSON) or a built-in
 * object into a validated `Scenario`. Everything a person can get wrong is caught here,
 * before anything runs, with one line naming the field: `steps[2].step: unknown step
 * "explode" (one of kill, stop, …)`, `steps[0].duration: "5 sec" is not a duration`,
 * `steps[3].groups: n2 appears twice`. Targets are checked against the lab later, by the
 * planner (`plan.ts`), which knows the nodes.
 *
 * A scenario is a timeline: steps run one after the other, `wait` spaces them. Shape of a
 * file:
 *
 *   { "name": "partition-minority", "seed": 1, "recovery": "30s", "settle": "90s",
 *     "steps": [ { "step": "wait", "duration": "5s" },
 *                { "step": "partition", "groups": [["random worker"], ["rest"]] },
 *                { "step": "wait", "duration": "30s" }, { "step": "heal" } ] }
 *
 * JSON and not YAML: no new dependency, and a scenario is short enough to write by hand.
 */
import { ErrorCode, SwarmnetError } from "../../../common/errors.js";

export const PROCESS_KINDS = ["agent", "manager", "etcd"] as const;
export type ProcessKind = (typeof PROCESS_KINDS)[number];

export const STEP_KINDS = [
  "kill",
  "stop",
  "cont",
  "restart",
  "partition",
  "loss",
  "delay",
  "link-down",
  "link-up",
  "join",
  "leave",
  "rm",
  "wait",
  "heal",
  "fdb-delete",
] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** A step that acts on the nodes its `target` selector resolves to (`targets.ts`). */
interface Targeted {
  target: string;
  /** Binds the resolved nodes to `$name` for later steps (the same victim twice). */
  as?: string;
}

export type Step =
  | ({ step: "kill" | "stop" | "cont" | "restart"; process: ProcessKind } & Targeted)
  | { step: "partition"; groups: string[][]; oneway: boolean }
  | ({ step: "loss"; percent: number } & Targeted)
  | ({ step: "delay"; delayMs: number; jitterMs: number } & Targeted)
  | ({ step: "link-down" | "link-up" | "leave" | "rm" | "fdb-delete" } & Targeted)
  | { step: "join"; count: number; as?: string }
  | { step: "wait"; durationMs: number }
  | { step: "heal" };

export interface Scenario {
  name: string;
  description: string;
  /** Seeds every random choice (targets, the entry `fdb-delete` removes). */
  seed: number;
  /** The longest a fault may keep failing requests through healthy nodes. */
  recoveryBoundMs: number;
  /** How long the lab may take to settle after the last step before checks fail. */
  settleTimeoutMs: number;
  steps: Step[];
}

export const SCENARIO_DEFAULTS = {
  /** Reproducible by default: a run without --seed repeats the last one. */
  seed: 1,
  /** Gossip detection (suspicion ≈ 5–10 s on a small cluster) plus rescheduling, with room for a loaded 2-core machine. */
  recoveryBoundMs: 60_000,
  /** Rescheduling, gossip convergence and every agent's next reconcile, generously. */
  settleTimeoutMs: 120_000,
} as const;

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const BINDING = /^[a-z][a-z0-9_]{0,30}$/;

/** "500ms", "5s", "1.5s", "2m": a whole or decimal number and a unit; nothing else. */
export function parseDuration(raw: unknown, field: string): number {
  const m = typeof raw === "string" ? /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(raw) : null;
  if (m === null) {
    throw bad(`${field}: ${JSON.stringify(raw)} is not a duration (use 500ms, 5s or 2m)`);
  }
  const unit = m[2] === "ms" ? 1 : m[2] === "s" ? 1000 : 60_000;
  return Math.round(Number(m[1]) * unit);
}

export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function bad(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, message);
}

type Fields = Record<string, unknown>;

function isObject(v: unknown): v is Fields {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function only(o: Fields, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw bad(`${where}.${k}: unknown field (fields: ${allowed.join(", ")})`);
  }
}

function str(o: Fields, key: string, where: string): string {
  const v = o[key];
  if (typeof v !== "string" || v.trim() === "") throw bad(`${where}.${key}: must be a non-empty string`);
  return v.trim();
}

function targetOf(o: Fields, where: string): Targeted {
  const target = str(o, "target", where);
  if (o["as"] === undefined) return { target };
  const as = str(o, "as", where);
  if (!BINDING.test(as)) throw bad(`${where}.as: ${JSON.stringify(as)} is not a name (a-z, 0-9, _)`);
  return { target, as };
}

function integer(o: Fields, key: string, where: string, min: number, max: number): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw bad(`${where}.${key}: must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function parseStep(raw: unknown, where: string): Step {
  if (!isObject(raw)) throw bad(`${where}: must be an object like {"step": "kill", "target": "n2"}`);
  const kind = raw["step"];
  if (typeof kind !== "string" || !(STEP_KINDS as readonly string[]).includes(kind)) {
    throw bad(`${where}.step: unknown step ${JSON.stringify(kind)} (one of ${STEP_KINDS.join(", ")})`);
  }
  const step = kind as StepKind;
  switch (step) {
    case "kill":
    case "stop":
    case "cont":
    case "restart": {
      only(raw, ["step", "process", "target", "as"], where);
      const process = raw["process"] ?? "agent";
      if (typeof process !== "string" || !(PROCESS_KINDS as readonly string[]).includes(process)) {
        throw bad(`${where}.process: must be agent, manager or etcd, got ${JSON.stringify(process)}`);
      }
      return { step, process: process as ProcessKind, ...targetOf(raw, where) };
    }
    case "partition": {
      only(raw, ["step", "groups", "oneway"], where);
      const groups = raw["groups"];
      if (
        !Array.isArray(groups) ||
        groups.length < 2 ||
        !groups.every((g) => Array.isArray(g) && g.length > 0 && g.every((s) => typeof s === "string"))
      ) {
        throw bad(`${where}.groups: must be two or more non-empty lists of targets, like [["n4"], ["rest"]]`);
      }
      const seen = new Set<string>();
      for (const sel of (groups as string[][]).flat().map((s) => s.trim())) {
        // "random …" may legitimately repeat: each draws its own node.
        if (sel.startsWith("random")) continue;
        if (seen.has(sel)) throw bad(`${where}.groups: ${sel} appears twice`);
        seen.add(sel);
      }
      const oneway = raw["oneway"] ?? false;
      if (typeof oneway !== "boolean") throw bad(`${where}.oneway: must be true or false`);
      return { step, groups: (groups as string[][]).map((g) => g.map((s) => s.trim())), oneway };
    }
    case "loss": {
      only(raw, ["step", "percent", "target", "as"], where);
      return { step, percent: integer(raw, "percent", where, 1, 100), ...targetOf(raw, where) };
    }
    case "delay": {
      only(raw, ["step", "delay", "jitter", "target", "as"], where);
      const delayMs = parseDuration(raw["delay"], `${where}.delay`);
      const jitterMs = raw["jitter"] === undefined ? 0 : parseDuration(raw["jitter"], `${where}.jitter`);
      return { step, delayMs, jitterMs, ...targetOf(raw, where) };
    }
    case "link-down":
    case "link-up":
    case "leave":
    case "rm":
    case "fdb-delete":
      only(raw, ["step", "target", "as"], where);
      return { step, ...targetOf(raw, where) };
    case "join": {
      only(raw, ["step", "count", "as"], where);
      const count = raw["count"] === undefined ? 1 : integer(raw, "count", where, 1, 50);
      if (raw["as"] === undefined) return { step, count };
      const as = str(raw, "as", where);
      if (!BINDING.test(as)) throw bad(`${where}.as: ${JSON.stringify(as)} is not a name (a-z, 0-9, _)`);
      return { step, count, as };
    }
    case "wait":
      only(raw, ["step", "duration"], where);
      return { step, durationMs: parseDuration(raw["duration"], `${where}.duration`) };
    case "heal":
      only(raw, ["step"], where);
      return { step };
  }
}

/** Validates a scenario given as a parsed object; `source` names it in errors. */
export function scenarioFrom(raw: unknown, source: string): Scenario {
  const where = `scenario ${source}`;
  if (!isObject(raw)) throw bad(`${where}: must be a JSON object with "name" and "steps"`);
  only(raw, ["name", "description", "seed", "recovery", "settle", "steps"], where);
  const name = str(raw, "name", where);
  if (!NAME.test(name)) throw bad(`${where}.name: ${JSON.stringify(name)}: use lowercase letters, digits, -`);
  const description = raw["description"] === undefined ? "" : str(raw, "description", where);
  const seed =
    raw["seed"] === undefined ? SCENARIO_DEFAULTS.seed : integer(raw, "seed", where, 0, 2 ** 32 - 1);
  const recoveryBoundMs =
    raw["recovery"] === undefined
      ? SCENARIO_DEFAULTS.recoveryBoundMs
      : parseDuration(raw["recovery"], `${where}.recovery`);
  const settleTimeoutMs =
    raw["settle"] === undefined
      ? SCENARIO_DEFAULTS.settleTimeoutMs
      : parseDuration(raw["settle"], `${where}.settle`);
  const steps = raw["steps"];
  if (!Array.isArray(steps) || steps.length === 0) throw bad(`${where}.steps: must be a non-empty list`);
  return {
    name,
    description,
    seed,
    recoveryBoundMs,
    settleTimeoutMs,
    steps: steps.map((s, i) => parseStep(s, `${where}: steps[${i}]`)),
  };
}

/** Parses a scenario file's text (JSON). */
export function parseScenario(text: string, source: string): Scenario {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw bad(`scenario ${source}: not valid JSON (${(err as Error).message})`);
  }
  return scenarioFrom(raw, source);
}

/** One line describing a step, for tables, reports and plans. */
export function describeStep(s: Step): string {
  switch (s.step) {
    case "kill":
    case "stop":
    case "cont":
    case "restart":
      return `${s.step} ${s.process} ${s.target}`;
    case "partition":
      return `partition${s.oneway ? " (one way)" : ""} ${s.groups.map((g) => `[${g.join(", ")}]`).join(" | ")}`;
    case "loss":
      return `loss ${s.percent}% ${s.target}`;
    case "delay":
      return `delay ${formatDuration(s.delayMs)}${s.jitterMs > 0 ? `±${formatDuration(s.jitterMs)}` : ""} ${s.target}`;
    case "link-down":
    case "link-up":
    case "leave":
    case "rm":
    case "fdb-delete":
      return `${s.step} ${s.target}`;
    case "join":
      return `join ${s.count}`;
    case "wait":
      return `wait ${formatDuration(s.durationMs)}`;
    case "heal":
      return "heal";
  }
}
