/**
 * `run -p` for standalone containers, Docker's syntax: `[ip:][hostPort:]containerPort
 * [/tcp|udp]`, where both ports may be ranges of equal length (`8000-8001:80-81`); a
 * missing host port (or `-P` on `--expose`d ports) takes a free one from the ephemeral
 * range 32768–60999 at run time. Pure parsing and allocation; the agent checks conflicts.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { parseIpv4 } from "../../common/net-addr.js";

export interface PortMapping {
  /** "" = every address of the node. */
  hostIp: string;
  /** 0 until allocated. */
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp";
}

export const EPHEMERAL_FIRST = 32768;
export const EPHEMERAL_LAST = 60999;

function bad(spec: string, why: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, `invalid port mapping ${JSON.stringify(spec)}: ${why}`);
}

function range(spec: string, text: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) throw bad(spec, `${JSON.stringify(text)} is not a port or port range`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (first < 1 || last > 65535 || last < first) throw bad(spec, `ports must be 1-65535, low to high`);
  return [first, last];
}

export function parsePortSpec(spec: string): PortMapping[] {
  const [body = "", proto = "tcp", ...rest] = spec.split("/");
  if (rest.length > 0 || (proto !== "tcp" && proto !== "udp")) throw bad(spec, "protocol must be tcp or udp");
  const parts = body.split(":");
  if (parts.length > 3 || parts.some((p, i) => p === "" && i !== parts.length - 2))
    throw bad(spec, "use [ip:][hostPort:]containerPort");
  const container = range(spec, parts[parts.length - 1] ?? "");
  const hostText = parts.length >= 2 ? (parts[parts.length - 2] ?? "") : "";
  const hostIp = parts.length === 3 ? (parts[0] ?? "") : "";
  if (hostIp !== "" && hostIp !== "0.0.0.0" && parseIpv4(hostIp) === undefined)
    throw bad(spec, `${hostIp} is not an IPv4 address`);
  const host = hostText === "" ? undefined : range(spec, hostText);
  const count = container[1] - container[0] + 1;
  if (host !== undefined && host[1] - host[0] + 1 !== count)
    throw bad(spec, "host and container ranges differ in length");
  return Array.from({ length: count }, (_, i) => ({
    hostIp: hostIp === "0.0.0.0" ? "" : hostIp,
    hostPort: host === undefined ? 0 : host[0] + i,
    containerPort: container[0] + i,
    protocol: proto,
  }));
}

/** Docker's `port` output line: `80/tcp -> 0.0.0.0:32768`. */
export function formatMapping(m: PortMapping): string {
  return `${m.containerPort}/${m.protocol} -> ${m.hostIp === "" ? "0.0.0.0" : m.hostIp}:${m.hostPort}`;
}

/** The first free port of the ephemeral range for `protocol`, or an error when none is left. */
export function freeEphemeralPort(taken: ReadonlySet<string>, protocol: string): number {
  for (let p = EPHEMERAL_FIRST; p <= EPHEMERAL_LAST; p++) if (!taken.has(`${protocol}/${p}`)) return p;
  throw new SwarmnetError(
    ErrorCode.PoolExhausted,
    `no free ${protocol} host port left in ${EPHEMERAL_FIRST}-${EPHEMERAL_LAST}`,
  );
}
