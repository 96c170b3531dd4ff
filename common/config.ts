/**
 * Typed configuration: every component declares one spec (field → parser) and one
 * DEFAULTS object with a comment per value. `loadConfig` merges overrides onto the
 * defaults, rejects unknown fields, and validates each value, failing with one message
 * that names the component and the bad field ("gossip.probeIntervalMs: must be an integer
 * ≥ 10, got -1"). Values may come from flags, a JSON file or the environment, so parsers
 * accept the string forms too ("2s", "12h", "true").
 */
import { readFileSync } from "node:fs";
import { ErrorCode, SwarmnetError } from "./errors.js";
import { parseCidr, parseIpv4 } from "./net-addr.js";

export type FieldParser<T> = (raw: unknown) => T;
export type ConfigSpec<T> = { [K in keyof T]-?: FieldParser<T[K]> };

/** Thrown by parsers; `loadConfig` adds the component and field to the message. */
class FieldError extends Error {}

export function loadConfig<T extends object>(
  component: string,
  spec: ConfigSpec<T>,
  defaults: T,
  overrides: Record<string, unknown> = {},
): T {
  for (const field of Object.keys(overrides)) {
    if (!(field in spec)) {
      throw new SwarmnetError(ErrorCode.InvalidConfig, `${component}.${field}: unknown field`);
    }
  }
  const out = { ...defaults };
  for (const field of Object.keys(spec) as (keyof T & string)[]) {
    const raw = overrides[field] === undefined ? defaults[field] : overrides[field];
    try {
      out[field] = spec[field](raw);
    } catch (err) {
      const reason = err instanceof FieldError ? err.message : String(err);
      throw new SwarmnetError(ErrorCode.InvalidConfig, `${component}.${field}: ${reason}`, { cause: err });
    }
  }
  return out;
}

/** Reads a JSON object from a file, with the file named in any error. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new SwarmnetError(ErrorCode.InvalidConfig, `cannot read config file ${path}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SwarmnetError(ErrorCode.InvalidConfig, `config file ${path} is not valid JSON`, { cause: err });
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SwarmnetError(ErrorCode.InvalidConfig, `config file ${path} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

function show(raw: unknown): string {
  return typeof raw === "string" ? JSON.stringify(raw) : String(raw);
}

export function int(opts: { min?: number; max?: number } = {}): FieldParser<number> {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = opts;
  return (raw) => {
    const n = typeof raw === "string" && /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
    if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
      const range = opts.max === undefined ? `≥ ${min}` : `in ${min}..${max}`;
      throw new FieldError(`must be an integer ${range}, got ${show(raw)}`);
    }
    return n;
  };
}

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
/** One "<number><unit>" of a Go duration; longer units first where they share a letter. */
const DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;

/**
 * Parses Go's duration syntax as Docker's flags take it — "250ms", "2s", "1m30s", "12h"
 * (also ns and us) — or a plain number of milliseconds. May return a fraction of a ms.
 */
export function parseDurationMs(raw: unknown): number {
  if (typeof raw === "number" && Number.isFinite(raw) && raw >= 0) return raw;
  if (typeof raw === "string") {
    const text = raw.trim();
    if (/^\d+(?:\.\d+)?$/.test(text)) return Number(text);
    if (/^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/.test(text)) {
      let ms = 0;
      for (const [, n, unit = "ms"] of text.matchAll(DURATION_PART)) {
        ms += Number(n) * (DURATION_UNITS_MS[unit] ?? 1);
      }
      return ms;
    }
  }
  throw new FieldError(`must be a duration like 500ms, 2s, 1m30s, 12h, got ${show(raw)}`);
}

export function durationMs(opts: { min?: number; max?: number } = {}): FieldParser<number> {
  const { min = 0, max = Infinity } = opts;
  return (raw) => {
    const ms = parseDurationMs(raw);
    if (ms < min || ms > max)
      throw new FieldError(`must be between ${min} ms and ${max} ms, got ${show(raw)}`);
    return ms;
  };
}

export function str(opts: { pattern?: RegExp; hint?: string } = {}): FieldParser<string> {
  return (raw) => {
    if (typeof raw !== "string" || (opts.pattern !== undefined && !opts.pattern.test(raw))) {
      throw new FieldError(`must be ${opts.hint ?? "a string"}, got ${show(raw)}`);
    }
    return raw;
  };
}

export function bool(): FieldParser<boolean> {
  return (raw) => {
    if (typeof raw === "boolean") return raw;
    if (raw === "true") return true;
    if (raw === "false") return false;
    throw new FieldError(`must be true or false, got ${show(raw)}`);
  };
}

export function oneOf<const V extends string>(values: readonly V[]): FieldParser<V> {
  return (raw) => {
    if (typeof raw !== "string" || !(values as readonly string[]).includes(raw)) {
      throw new FieldError(`must be one of ${values.join(", ")}, got ${show(raw)}`);
    }
    return raw as V;
  };
}

export function ipv4(): FieldParser<string> {
  return (raw) => {
    if (typeof raw !== "string" || parseIpv4(raw) === undefined) {
      throw new FieldError(`must be an IPv4 address, got ${show(raw)}`);
    }
    return raw;
  };
}

export function cidr(): FieldParser<string> {
  return (raw) => {
    if (typeof raw !== "string" || parseCidr(raw) === undefined) {
      throw new FieldError(`must be an IPv4 CIDR like 10.0.0.0/8, got ${show(raw)}`);
    }
    return raw;
  };
}

/** host:port, e.g. a manager address. */
export function hostPort(): FieldParser<string> {
  return (raw) => {
    if (
      typeof raw !== "string" ||
      !/^[A-Za-z0-9.-]+:\d{1,5}$/.test(raw) ||
      Number(raw.split(":")[1]) > 65535
    ) {
      throw new FieldError(`must be host:port, got ${show(raw)}`);
    }
    return raw;
  };
}

/**
 * host:port on loopback only: for endpoints without authentication (metrics, the live
 * page), so nothing unauthenticated listens on an underlay address by accident.
 */
export function loopbackHostPort(): FieldParser<string> {
  const parse = hostPort();
  return (raw) => {
    const v = parse(raw);
    const host = v.slice(0, v.lastIndexOf(":"));
    if (host !== "localhost" && !/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) {
      throw new FieldError(
        `must be a loopback host:port such as 127.0.0.1:9323 (it has no authentication), got ${show(raw)}`,
      );
    }
    return v;
  };
}

/** A list; a comma-separated string is accepted for flags and the environment. */
export function list<T>(item: FieldParser<T>): FieldParser<T[]> {
  return (raw) => {
    const items = typeof raw === "string" ? (raw === "" ? [] : raw.split(",")) : raw;
    if (!Array.isArray(items)) throw new FieldError(`must be a list, got ${show(raw)}`);
    return items.map((v, i) => {
      try {
        return item(v);
      } catch (err) {
        throw new FieldError(`item ${i}: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  };
}

export function optional<T>(inner: FieldParser<T>): FieldParser<T | undefined> {
  return (raw) => (raw === undefined || raw === null || raw === "" ? undefined : inner(raw));
}
