/**
 * `service create` and `service update` requests checked in pure code, before anything
 * is read from or written to the store: a request becomes a `ServiceSpec` (or an
 * `UpdateSpec`) or fails with one line naming the problem.
 *
 * Docker's rules: a service name is a DNS label (letters, digits, dashes; 63 at most);
 * mode replicated (default, 1 replica) or global (no --replicas); endpoint mode vip
 * (default) or dnsrr; a command is required (swarmnet runs host programs, there is no
 * image to supply one); published ports as common/publish-spec.ts parses them;
 * `--update-monitor` a Go duration (parseUpdateMonitor), 5 s when not given;
 * `--constraint` / `--constraint-add` / `--constraint-rm` Docker's placement expressions
 * (placement-constraints.ts), all checked before anything is stored.
 */
import { parseDurationMs } from "../../common/config.js";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { checkPublishSpec, type PublishSpec } from "../../common/publish-spec.js";
import type { EndpointMode, ServiceMode } from "../store/records.js";
import { parseConstraints, sameConstraint, type Constraint } from "./placement-constraints.js";

export interface PortInput {
  protocol: string;
  targetPort: number;
  /** 0 or undefined: pick one. */
  publishedPort: number | undefined;
  mode: string;
}

export interface CreateServiceInput {
  name: string;
  /** "" = replicated. */
  mode: string;
  /** undefined = 1 (replicated). */
  replicas: number | undefined;
  networks: readonly string[];
  ports: readonly PortInput[];
  /** "" = vip. */
  endpointMode: string;
  command: readonly string[];
  env: Readonly<Record<string, string>>;
  /** `--update-monitor` as typed; "" = the default. */
  updateMonitor: string;
  /** `--constraint`, as typed; absent = none. */
  constraints?: readonly string[];
}

export interface ServiceSpec {
  name: string;
  mode: ServiceMode;
  replicas: number;
  networks: string[];
  ports: PublishSpec[];
  endpointMode: EndpointMode;
  command: string[];
  env: Record<string, string>;
  updateMonitorMs: number;
  /** Checked expressions, trimmed, duplicates dropped. */
  constraints: string[];
}

export interface UpdateServiceInput {
  service: string;
  replicas: number | undefined;
  networkAdd: readonly string[];
  networkRm: readonly string[];
  publishAdd: readonly PortInput[];
  publishRm: readonly PortInput[];
  /** `--update-monitor` as typed; "" = unchanged. */
  updateMonitor: string;
  /** `--constraint-add` / `--constraint-rm`, as typed; absent = none. */
  constraintAdd?: readonly string[];
  constraintRm?: readonly string[];
}

export interface UpdateSpec {
  service: string;
  replicas: number | undefined;
  networkAdd: string[];
  networkRm: string[];
  publishAdd: PublishSpec[];
  publishRm: PublishSpec[];
  /** undefined = unchanged. */
  updateMonitorMs: number | undefined;
  constraintAdd: Constraint[];
  constraintRm: Constraint[];
}

const NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Far above any sensible service; keeps a typo (1e9) from creating a billion tasks. */
export const MAX_REPLICAS = 10_000;
/**
 * Docker's default `--update-monitor` (swarmkit's defaults.Service.Update.Monitor): what a
 * service created without the flag stores, and what a record written before the field
 * existed means.
 */
export const DEFAULT_UPDATE_MONITOR_MS = 5_000;

function invalid(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, message);
}

export function checkServiceName(name: string): string {
  if (name === "") throw invalid("a service name is required (--name)");
  if (!NAME.test(name)) {
    throw invalid(
      `invalid service name ${JSON.stringify(name)}: use up to 63 letters, digits and dashes, starting and ending with a letter or digit`,
    );
  }
  return name;
}

export function checkReplicas(replicas: number): number {
  if (!Number.isInteger(replicas) || replicas < 0 || replicas > MAX_REPLICAS) {
    throw invalid(`replicas must be a whole number from 0 to ${MAX_REPLICAS}, got ${replicas}`);
  }
  return replicas;
}

function uniqueRefs(flag: string, refs: readonly string[]): string[] {
  for (const r of refs) if (r === "") throw invalid(`${flag} needs a network name or id`);
  const seen = new Set<string>();
  for (const r of refs) {
    if (seen.has(r)) throw invalid(`network ${r} is given twice (${flag})`);
    seen.add(r);
  }
  return [...refs];
}

function ports(list: readonly PortInput[]): PublishSpec[] {
  const specs = list.map((p) => checkPublishSpec(p));
  const seen = new Set<string>();
  for (const s of specs) {
    if (s.publishedPort === undefined) continue;
    const k = `${s.publishedPort}/${s.protocol}`;
    if (seen.has(k)) throw invalid(`port ${k} is published twice`);
    seen.add(k);
  }
  return specs;
}

/**
 * `--update-monitor`: Go's duration syntax as Docker takes it ("500ms", "2s", "1m30s"; a
 * bare number only "0", as in Go), kept in whole milliseconds (rounded; the CLI polls
 * every 250 ms, finer means nothing). Negative is refused, as swarmkit refuses it.
 * "0s" is stored as 0 and, as in Docker, means "the default": docker/cli's convergence
 * wait uses a service's monitor only when it is not 0, else 5 s, and so does ours
 * (cli/service-progress.ts); `service inspect` shows the 0 that was stored.
 */
export function parseUpdateMonitor(raw: string): number {
  const text = raw.trim();
  if (/^-\d/.test(text)) throw invalid(`--update-monitor cannot be negative, got ${JSON.stringify(raw)}`);
  let ms: number | undefined;
  try {
    if (text === "0" || /[a-zµ]$/.test(text)) ms = Math.round(parseDurationMs(text));
  } catch {
    // reported below
  }
  if (ms === undefined || !Number.isSafeInteger(ms)) {
    throw invalid(
      `invalid argument ${JSON.stringify(raw)} for "--update-monitor" flag: use a duration like 500ms, 2s or 1m30s`,
    );
  }
  return ms;
}

/** Checked constraints without repeats (an expression given twice counts once). */
function uniqueConstraints(list: readonly Constraint[]): Constraint[] {
  return list.filter((c, i) => list.findIndex((d) => sameConstraint(c, d)) === i);
}

/**
 * A service's constraints after `--constraint-add` then `--constraint-rm` (Docker's
 * order): added ones not already there (in any spelling) are appended, removed ones
 * must be there (in any spelling) — "service web has no constraint …" otherwise, where
 * Docker silently ignores the typo; the result is sorted, as docker/cli sorts it.
 */
export function applyConstraintChanges(
  service: string,
  current: readonly Constraint[],
  add: readonly Constraint[],
  rm: readonly Constraint[],
): string[] {
  let next = [...current];
  for (const c of add) if (!next.some((d) => sameConstraint(c, d))) next.push(c);
  for (const c of rm) {
    if (!next.some((d) => sameConstraint(c, d))) {
      throw invalid(`service ${service} has no constraint ${JSON.stringify(c.text)}`);
    }
    next = next.filter((d) => !sameConstraint(c, d));
  }
  return next.map((c) => c.text).sort();
}

export function parseServiceSpec(input: CreateServiceInput): ServiceSpec {
  const name = checkServiceName(input.name);
  const mode = input.mode === "" ? "replicated" : input.mode;
  if (mode !== "replicated" && mode !== "global") {
    throw invalid(`invalid mode ${JSON.stringify(input.mode)} (use replicated or global)`);
  }
  if (mode === "global" && input.replicas !== undefined) {
    throw invalid("--replicas can only be used with replicated mode");
  }
  const endpointMode = input.endpointMode === "" ? "vip" : input.endpointMode;
  if (endpointMode !== "vip" && endpointMode !== "dnsrr") {
    throw invalid(`invalid endpoint mode ${JSON.stringify(input.endpointMode)} (use vip or dnsrr)`);
  }
  if (input.command.length === 0 || input.command[0] === "") {
    throw invalid("a command is required: swarmnet service create --name N [options] -- CMD [ARG…]");
  }
  for (const k of Object.keys(input.env)) {
    if (!ENV_KEY.test(k)) throw invalid(`invalid environment variable name ${JSON.stringify(k)}`);
  }
  const specs = ports(input.ports);
  if (endpointMode === "dnsrr" && specs.some((p) => p.mode === "ingress")) {
    throw invalid(
      "port published with ingress mode can't be used with dnsrr mode (use mode=host or --endpoint-mode vip)",
    );
  }
  return {
    name,
    mode,
    replicas: mode === "global" ? 0 : checkReplicas(input.replicas ?? 1),
    networks: uniqueRefs("--network", input.networks),
    ports: specs,
    endpointMode,
    command: [...input.command],
    env: { ...input.env },
    updateMonitorMs:
      input.updateMonitor === "" ? DEFAULT_UPDATE_MONITOR_MS : parseUpdateMonitor(input.updateMonitor),
    constraints: uniqueConstraints(parseConstraints(input.constraints ?? [])).map((c) => c.text),
  };
}

export function parseUpdateSpec(input: UpdateServiceInput): UpdateSpec {
  if (input.service === "") throw invalid("a service name or id is required");
  const add = uniqueRefs("--network-add", input.networkAdd);
  const rm = uniqueRefs("--network-rm", input.networkRm);
  const both = add.find((n) => rm.includes(n));
  if (both !== undefined) throw invalid(`network ${both} is both added and removed`);
  return {
    service: input.service,
    replicas: input.replicas === undefined ? undefined : checkReplicas(input.replicas),
    networkAdd: add,
    networkRm: rm,
    publishAdd: ports(input.publishAdd),
    publishRm: input.publishRm.map((p) => checkPublishSpec(p)),
    updateMonitorMs: input.updateMonitor === "" ? undefined : parseUpdateMonitor(input.updateMonitor),
    constraintAdd: uniqueConstraints(parseConstraints(input.constraintAdd ?? [])),
    constraintRm: uniqueConstraints(parseConstraints(input.constraintRm ?? [])),
  };
}
