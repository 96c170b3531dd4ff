/**
 * resolv.conf, both ways: the node's upstream resolvers read from its own file (or given
 * in the agent's config), and the file each container sees as /etc/resolv.conf (a file of
 * its own in the agent's state folder, bind-mounted in the container's mount namespace —
 * the host's file is never changed).
 *
 * As in Docker: a container on at least one user-defined network gets
 * `nameserver 127.0.0.11` and `options ndots:0` (every name comes to the embedded
 * resolver first, which forwards what is not the swarm's); a container only on the
 * default bridge (or none) gets the node's upstreams, minus loopback ones it could not
 * reach from its own namespace.
 */
import { isIPv4, isIPv6 } from "node:net";
import type { UpstreamServer } from "./upstream.js";

export const EMBEDDED_DNS_ADDRESS = "127.0.0.11";
export const DNS_PORT = 53;

/** The `nameserver` lines of a resolv.conf, in order. */
export function parseNameservers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key === "nameserver" && value !== undefined && (isIPv4(value) || isIPv6(value))) out.push(value);
  }
  return out;
}

/** `host` or `host:port` (IPv4), as the agent's config lists them. */
export function parseUpstream(spec: string): UpstreamServer {
  const m = /^(.*?)(?::(\d+))?$/.exec(spec);
  return { host: m?.[1] ?? spec, port: m?.[2] === undefined ? DNS_PORT : Number(m[2]) };
}

/**
 * The node's upstream resolvers: the configured ones, else the `nameserver` lines of the
 * node's resolv.conf (read once, at start).
 */
export function nodeUpstreams(configured: readonly string[], readResolvConf: () => string): UpstreamServer[] {
  if (configured.length > 0) return configured.map(parseUpstream);
  let text = "";
  try {
    text = readResolvConf();
  } catch {
    // No resolv.conf: nothing to forward to; other names get SERVFAIL.
  }
  return parseNameservers(text).map((host) => ({ host, port: DNS_PORT }));
}

const isLoopback = (ip: string) => ip.startsWith("127.") || ip === "::1";

/** What the container reads as /etc/resolv.conf. */
export function containerResolvConf(embedded: boolean, upstreams: readonly UpstreamServer[]): string {
  if (embedded) return `nameserver ${EMBEDDED_DNS_ADDRESS}\noptions ndots:0\n`;
  const servers = upstreams.filter((u) => u.port === DNS_PORT && !isLoopback(u.host));
  return (
    "# the node's upstream resolvers (no embedded DNS on the default bridge)\n" +
    servers.map((u) => `nameserver ${u.host}\n`).join("")
  );
}
