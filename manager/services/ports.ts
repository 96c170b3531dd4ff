/**
 * Published ports of services, planned in pure code: what a create or an update asks for
 * (specs from common/publish-spec.ts), against the ports every other service holds,
 * becomes the service's new port list plus the port keys to add and remove.
 *
 * Rules (Docker's, with one deliberate difference):
 * - a published port is unique cluster-wide per protocol — also in host mode, where
 *   Docker only keeps two tasks on one node from sharing it; holding it cluster-wide
 *   means an ingress port can never shadow a host-mode port on some node, and the
 *   scheduler's host-port rule reduces to "one task of the service per node";
 * - a missing published port is the lowest free one of 30000–32767;
 * - ingress mode needs endpoint mode vip ("port published with ingress mode can't be
 *   used with dnsrr mode");
 * - one request may not publish the same port twice; removing a port the service does
 *   not publish is an error (nothing changes).
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import {
  formatPublishedPort,
  matchesPublished,
  type PublishedPort,
  type PublishSpec,
} from "../../common/publish-spec.js";
import { lowestFree, PUBLISHED_PORT_RANGE } from "../allocator/index.js";
import type { EndpointMode, PortRecord } from "../store/records.js";

export interface TakenPort {
  protocol: string;
  port: number;
  /** Service name (or id) holding it, for the message. */
  holder: string;
}

export interface PortPlan {
  ports: PortRecord[];
  added: PortRecord[];
  removed: PortRecord[];
}

const key = (protocol: string, port: number) => `${protocol}/${port}`;

/**
 * The service's ports after removing `remove` and adding `add`. `taken` are the ports of
 * every other service.
 */
export function planPorts(
  service: string,
  current: readonly PortRecord[],
  add: readonly PublishSpec[],
  remove: readonly PublishSpec[],
  taken: readonly TakenPort[],
  endpointMode: EndpointMode,
): PortPlan {
  let ports = [...current];
  const removed: PortRecord[] = [];
  for (const spec of remove) {
    let hits = ports.filter((p) => matchesPublished(spec, p));
    if (hits.length === 0) hits = ports.filter((p) => matchesPublished(spec, p, true));
    if (hits.length === 0) {
      const what = `${spec.publishedPort === undefined ? "" : `${spec.publishedPort}:`}${spec.targetPort}/${spec.protocol}`;
      throw new SwarmnetError(ErrorCode.NotFound, `service ${service} does not publish ${what}`);
    }
    ports = ports.filter((p) => !hits.includes(p));
    removed.push(...hits);
  }
  const byOthers = new Map(taken.map((t) => [key(t.protocol, t.port), t.holder]));
  const held = () => new Set(ports.map((p) => key(p.protocol, p.publishedPort)));
  const added: PortRecord[] = [];
  for (const spec of add) {
    if (spec.mode === "ingress" && endpointMode === "dnsrr") {
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        "port published with ingress mode can't be used with dnsrr mode (use mode=host or --endpoint-mode vip)",
      );
    }
    let published = spec.publishedPort;
    if (published === undefined) {
      const used = new Set(
        [...byOthers.keys(), ...held()]
          .filter((k) => k.startsWith(`${spec.protocol}/`))
          .map((k) => Number(k.slice(spec.protocol.length + 1))),
      );
      published = lowestFree(PUBLISHED_PORT_RANGE, used);
    } else {
      const other = byOthers.get(key(spec.protocol, published));
      if (other !== undefined) {
        throw new SwarmnetError(
          ErrorCode.PortInUse,
          `port ${published}/${spec.protocol} is already published by service ${other}`,
        );
      }
      if (held().has(key(spec.protocol, published))) {
        const same = ports.find((p) => p.protocol === spec.protocol && p.publishedPort === published);
        throw new SwarmnetError(
          ErrorCode.PortInUse,
          `port ${published}/${spec.protocol} is already published by service ${service}${same ? ` (${formatPublishedPort(same)})` : ""}`,
        );
      }
    }
    const port: PortRecord = {
      protocol: spec.protocol,
      targetPort: spec.targetPort,
      publishedPort: published,
      mode: spec.mode,
    };
    ports.push(port);
    added.push(port);
  }
  // A port removed and added back in one request is neither.
  const same = (a: PublishedPort, b: PublishedPort) =>
    a.protocol === b.protocol &&
    a.publishedPort === b.publishedPort &&
    a.targetPort === b.targetPort &&
    a.mode === b.mode;
  return {
    ports,
    added: added.filter((a) => !removed.some((r) => same(a, r))),
    removed: removed.filter((r) => !added.some((a) => same(a, r))),
  };
}

export function hasIngressPort(ports: readonly PortRecord[]): boolean {
  return ports.some((p) => p.mode === "ingress");
}

export function hasHostPort(ports: readonly PortRecord[]): boolean {
  return ports.some((p) => p.mode === "host");
}
