/**
 * Published-port specs, as `docker service create --publish` takes them, parsed in one
 * pure place that the CLI (to fail before calling a manager) and the managers (to
 * re-check what arrives) share:
 *
 *   short  [published:]target[/tcp|udp]                 e.g. 8080:80, 80, 9090:80/udp
 *   long   published=P,target=T,protocol=tcp|udp,mode=ingress|host   (any order;
 *          target required; `published` may be absent)
 *
 * A missing published port means "pick one" (the managers allocate from 30000–32767);
 * protocol defaults to tcp and mode to ingress (the routing mesh), as in Docker. Port
 * ranges, host IPs and sctp are refused with a message that says so. Every error is one
 * line naming the spec and the problem.
 */
import { ErrorCode, SwarmnetError } from "./errors.js";

export type PublishProtocol = "tcp" | "udp";
export type PublishMode = "ingress" | "host";

export const PUBLISH_PROTOCOLS: readonly PublishProtocol[] = ["tcp", "udp"];
export const PUBLISH_MODES: readonly PublishMode[] = ["ingress", "host"];

export interface PublishSpec {
  protocol: PublishProtocol;
  targetPort: number;
  /** undefined: let the managers pick one. */
  publishedPort: number | undefined;
  mode: PublishMode;
}

/** A published port as stored and shown: the published port is always known. */
export interface PublishedPort {
  protocol: PublishProtocol;
  targetPort: number;
  publishedPort: number;
  mode: PublishMode;
}

const LONG_KEYS = ["published", "target", "protocol", "mode"] as const;

/**
 * A published port as it comes off the wire (the managers' answers, the dispatcher
 * stream): the same fields, with the enums checked — anything unknown reads as the
 * default, as an empty field does.
 */
export function publishedPortFromWire(p: {
  protocol: string;
  targetPort: number;
  publishedPort: number;
  mode: string;
}): PublishedPort {
  return {
    protocol: p.protocol === "udp" ? "udp" : "tcp",
    targetPort: p.targetPort,
    publishedPort: p.publishedPort,
    mode: p.mode === "host" ? "host" : "ingress",
  };
}

function bad(spec: string, why: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, `invalid publish spec ${JSON.stringify(spec)}: ${why}`);
}

function port(spec: string, what: string, raw: string): number {
  if (/^\d+-\d+$/.test(raw)) throw bad(spec, `port ranges are not supported (${what} ${raw})`);
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 65535)) throw bad(spec, `${what} port must be 1-65535, got ${JSON.stringify(raw)}`);
  return n;
}

export function parseProtocol(spec: string, raw: string): PublishProtocol {
  const p = raw.toLowerCase();
  if (p === "tcp" || p === "udp") return p;
  throw bad(spec, `invalid protocol ${JSON.stringify(raw)} (use tcp or udp)`);
}

export function parseMode(spec: string, raw: string): PublishMode {
  if (raw === "ingress" || raw === "host") return raw;
  throw bad(spec, `invalid mode ${JSON.stringify(raw)} (use ingress or host)`);
}

function parseLong(spec: string): PublishSpec {
  const fields = new Map<string, string>();
  for (const part of spec.split(",")) {
    const eq = part.indexOf("=");
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (eq < 0 || key === "") throw bad(spec, `use key=value pairs (${LONG_KEYS.join(", ")})`);
    if (!(LONG_KEYS as readonly string[]).includes(key)) {
      throw bad(spec, `unknown field ${JSON.stringify(key)} (use ${LONG_KEYS.join(", ")})`);
    }
    if (fields.has(key)) throw bad(spec, `${key} is given twice`);
    fields.set(key, part.slice(eq + 1).trim());
  }
  const target = fields.get("target");
  if (target === undefined || target === "") throw bad(spec, "a target port is required (target=PORT)");
  const published = fields.get("published");
  return {
    protocol: parseProtocol(spec, fields.get("protocol") ?? "tcp"),
    targetPort: port(spec, "target", target),
    publishedPort:
      published === undefined || published === "" ? undefined : port(spec, "published", published),
    mode: parseMode(spec, fields.get("mode") ?? "ingress"),
  };
}

function parseShort(spec: string): PublishSpec {
  const slash = spec.indexOf("/");
  const ports = slash < 0 ? spec : spec.slice(0, slash);
  const protocol = slash < 0 ? "tcp" : parseProtocol(spec, spec.slice(slash + 1));
  const parts = ports.split(":");
  if (parts.length > 2) throw bad(spec, "a host IP cannot be given for a service (use [published:]target)");
  const target = parts[parts.length - 1] ?? "";
  if (target === "") throw bad(spec, "a target port is required ([published:]target[/tcp|udp])");
  const published = parts.length === 2 ? (parts[0] ?? "") : "";
  return {
    protocol,
    targetPort: port(spec, "target", target),
    publishedPort: published === "" ? undefined : port(spec, "published", published),
    mode: "ingress",
  };
}

/** Parses one `--publish` value (short or long form). */
export function parsePublishSpec(spec: string): PublishSpec {
  const text = spec.trim();
  if (text === "") throw bad(spec, "it is empty");
  return text.includes("=") ? parseLong(text) : parseShort(text);
}

/** Checks a spec that arrived already split (over gRPC): same rules, same messages. */
export function checkPublishSpec(p: {
  protocol: string;
  targetPort: number;
  publishedPort: number | undefined;
  mode: string;
}): PublishSpec {
  const text = formatPublishSpec(p);
  const protocol = parseProtocol(text, p.protocol === "" ? "tcp" : p.protocol);
  const mode = parseMode(text, p.mode === "" ? "ingress" : p.mode);
  if (!Number.isInteger(p.targetPort) || p.targetPort < 1 || p.targetPort > 65535) {
    throw bad(text, p.targetPort === 0 ? "a target port is required" : "target port must be 1-65535");
  }
  const published = p.publishedPort === 0 ? undefined : p.publishedPort;
  if (published !== undefined && (!Number.isInteger(published) || published < 1 || published > 65535)) {
    throw bad(text, "published port must be 1-65535");
  }
  return { protocol, targetPort: p.targetPort, publishedPort: published, mode };
}

/** The long form of a spec (round-trips through `parsePublishSpec`). */
export function formatPublishSpec(p: {
  protocol: string;
  targetPort: number;
  publishedPort: number | undefined;
  mode: string;
}): string {
  const published =
    p.publishedPort === undefined || p.publishedPort === 0 ? [] : [`published=${p.publishedPort}`];
  return [...published, `target=${p.targetPort}`, `protocol=${p.protocol}`, `mode=${p.mode}`].join(",");
}

/** As `docker service ls` shows a port: `*:8080->80/tcp` (host mode adds " (host)"). */
export function formatPublishedPort(p: PublishedPort): string {
  return `*:${p.publishedPort}->${p.targetPort}/${p.protocol}${p.mode === "host" ? " (host)" : ""}`;
}

/**
 * Whether a removal spec names published port `p`: same protocol and target, and the
 * same published port when the spec gives one. A spec with only a number that matches
 * no target is read as a published port (`unpublish web 8080` after `publish web 8080:80`).
 */
export function matchesPublished(spec: PublishSpec, p: PublishedPort, byPublished = false): boolean {
  if (spec.protocol !== p.protocol) return false;
  if (byPublished) return spec.publishedPort === undefined && spec.targetPort === p.publishedPort;
  return (
    spec.targetPort === p.targetPort &&
    (spec.publishedPort === undefined || spec.publishedPort === p.publishedPort)
  );
}
