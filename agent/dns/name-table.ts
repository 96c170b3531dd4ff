/**
 * The names the embedded DNS answers, as one immutable table built from a node snapshot:
 * per network (by id, whatever its driver), the container names and aliases of every
 * endpoint on it, and its services — a service's VIP on that network, or, for endpoint
 * mode dnsrr, its tasks' addresses. Pure: the resolver builds a table when the snapshot
 * changed and looks names up in it, so a query never waits on a lock, a reconcile pass or
 * a manager.
 *
 * Where each name comes from:
 *   this node's containers   the container records (any driver with an address: a
 *                            bridge network's endpoints never leave the node)
 *   other nodes' containers  the gossiped endpoint facts (NetworkDB hides a dead owner's
 *                            entries and restores them when it returns)
 *   services                 the tasks' facts (service name, VIP on the network), and the
 *                            managers' intent when the agent holds it (a service scaled to
 *                            zero still resolves to its VIP, as in Docker)
 *
 * Scoping (Docker's rules): a container asks with the networks it is on, in attach order;
 * the first network holding the name answers; `NAME.NETWORK` looks NAME up on that network
 * only. A name only on other networks is not found.
 *
 * What is "ours" to deny: a single-label name, `tasks.X`, and `X.NET` for a network name
 * this node knows are swarm names — not found means NXDOMAIN, never forwarded upstream.
 * While the agent is settling after a restart, or a network of the asker is *fresh* on
 * this node (joined moments ago, no other node's endpoint heard on it yet: gossip's bulk
 * sync may still be on its way), such a miss is SERVFAIL instead, so a client retries
 * rather than caching a wrong NXDOMAIN.
 */
import type { NodeSnapshot } from "../node-snapshot.js";

/** A network a container is on, as the asker side sees it. */
export interface AskerNetwork {
  id: string;
  name: string;
}

export type Lookup =
  | { kind: "found"; ips: readonly string[] }
  /** A swarm name that no network of the asker holds. */
  | { kind: "notFound" }
  /** A swarm name not found while the agent may still be missing facts: let the client retry. */
  | { kind: "retry" }
  /** Not a swarm name: the node's upstream resolvers answer it. */
  | { kind: "forward" };

interface ServiceEntry {
  vips: Set<string>;
  tasks: string[];
  /** The intent's endpoint mode; without intent, a service whose tasks name no VIP is dnsrr. */
  mode: "vip" | "dnsrr" | undefined;
}

interface NetworkNames {
  /** container names and aliases (lower case) → addresses */
  names: Map<string, string[]>;
  /** service names (lower case) → VIP and tasks */
  services: Map<string, ServiceEntry>;
}

const TASKS_PREFIX = "tasks.";
const SHORT_ID = 12;

/**
 * The names an endpoint answers to on its network (Docker's DNSNames): the container's
 * name, its aliases there, and its short id.
 */
export function endpointNames(container: string, containerId: string, aliases: readonly string[]): string[] {
  const short = /^[0-9a-f]{64}$/.test(containerId) ? [containerId.slice(0, SHORT_ID)] : [];
  return [container, ...aliases, ...short].filter((n, i, all) => n !== "" && all.indexOf(n) === i);
}

function push(m: Map<string, string[]>, key: string, ip: string): void {
  const list = m.get(key);
  if (list === undefined) m.set(key, [ip]);
  else if (!list.includes(ip)) list.push(ip);
}

export class NameTable {
  private readonly networks = new Map<string, NetworkNames>();
  /** Every network name this node knows (lower case): `X.NET` is a swarm name. */
  private readonly networkNames = new Set<string>();
  private readonly askers = new Map<string, readonly AskerNetwork[]>();
  private rotation = 0;

  /** Networks with at least one other node's endpoint in the facts. */
  readonly heardRemote = new Set<string>();

  /**
   * `fresh(id)`: the network was joined too recently to trust a miss on it (the caller's
   * clock decides, so a table stays valid while time passes).
   */
  constructor(
    readonly settling: boolean,
    private readonly fresh: (networkId: string) => boolean = () => false,
  ) {}

  /** The networks a container asks with (its user-defined ones, in attach order). */
  networksOf(containerId: string): readonly AskerNetwork[] | undefined {
    return this.askers.get(containerId);
  }

  setAsker(containerId: string, networks: readonly AskerNetwork[]): void {
    this.askers.set(containerId, networks);
    for (const n of networks) this.networkNames.add(n.name.toLowerCase());
  }

  knowNetworkName(name: string): void {
    this.networkNames.add(name.toLowerCase());
  }

  addEndpoint(networkId: string, ip: string, names: readonly string[]): void {
    const net = this.network(networkId);
    for (const n of names) if (n !== "") push(net.names, n.toLowerCase(), ip);
  }

  /** A task's address on a network; `vip` "" for endpoint mode dnsrr. */
  addTask(networkId: string, service: string, ip: string, vip: string): void {
    const s = this.service(networkId, service);
    if (!s.tasks.includes(ip)) s.tasks.push(ip);
    if (vip !== "") s.vips.add(vip);
  }

  /** A service as the managers' intent has it: its endpoint mode and VIP on the network. */
  addService(networkId: string, service: string, mode: "vip" | "dnsrr", vip: string | undefined): void {
    const s = this.service(networkId, service);
    s.mode = mode;
    if (vip !== undefined) s.vips.add(vip);
  }

  lookup(asker: readonly AskerNetwork[], qname: string): Lookup {
    const name = qname.toLowerCase().replace(/\.$/, "");
    for (const n of asker) {
      const ips = this.resolveOn(n.id, name);
      if (ips.length > 0) return { kind: "found", ips };
    }
    // NAME.NETWORK: NAME on that network only.
    for (const n of asker) {
      const suffix = `.${n.name.toLowerCase()}`;
      if (!name.endsWith(suffix)) continue;
      const ips = this.resolveOn(n.id, name.slice(0, -suffix.length));
      if (ips.length > 0) return { kind: "found", ips };
    }
    if (!this.isSwarmName(name)) return { kind: "forward" };
    const unsure = this.settling || asker.some((n) => !this.heardRemote.has(n.id) && this.fresh(n.id));
    return unsure ? { kind: "retry" } : { kind: "notFound" };
  }

  private isSwarmName(name: string): boolean {
    if (name === "" || !name.includes(".") || name.startsWith(TASKS_PREFIX)) return true;
    return this.networkNames.has(name.slice(name.lastIndexOf(".") + 1));
  }

  private resolveOn(networkId: string, name: string): readonly string[] {
    const net = this.networks.get(networkId);
    if (net === undefined || name === "") return [];
    if (name.startsWith(TASKS_PREFIX)) {
      const s = net.services.get(name.slice(TASKS_PREFIX.length));
      return s === undefined ? [] : this.rotate(s.tasks);
    }
    const out: string[] = [];
    const s = net.services.get(name);
    if (s !== undefined) {
      const dnsrr = s.mode === "dnsrr" || (s.mode === undefined && s.vips.size === 0);
      out.push(...(dnsrr ? this.rotate(s.tasks) : s.vips));
    }
    // Two containers sharing an alias both answer (Docker's behaviour), in turn.
    for (const ip of this.rotate(net.names.get(name) ?? [])) if (!out.includes(ip)) out.push(ip);
    return out;
  }

  /** Round robin in the answer order: each answer starts one further along. */
  private rotate(ips: readonly string[]): string[] {
    if (ips.length < 2) return [...ips];
    const k = this.rotation++ % ips.length;
    return [...ips.slice(k), ...ips.slice(0, k)];
  }

  private network(id: string): NetworkNames {
    let net = this.networks.get(id);
    if (net === undefined) {
      net = { names: new Map(), services: new Map() };
      this.networks.set(id, net);
    }
    return net;
  }

  private service(networkId: string, name: string): ServiceEntry {
    const net = this.network(networkId);
    const key = name.toLowerCase();
    let s = net.services.get(key);
    if (s === undefined) {
      s = { vips: new Set(), tasks: [], mode: undefined };
      net.services.set(key, s);
    }
    return s;
  }
}

/** Names are served on a network: a user-defined one that is not the ingress network. */
export function servedNetwork(s: NodeSnapshot, dnsNetwork: (id: string) => boolean, id: string): boolean {
  return dnsNetwork(id) && s.intent?.networks.get(id)?.ingress !== true;
}

/**
 * The table for one node snapshot. `dnsNetwork(id)`: whether names are served on that
 * network (user-defined ones; not the predefined bridge/host/none, nor ingress).
 */
export function buildNameTable(
  s: NodeSnapshot,
  dnsNetwork: (id: string) => boolean,
  fresh?: (networkId: string) => boolean,
): NameTable {
  const table = new NameTable(s.settling, fresh);
  const served = (id: string) => servedNetwork(s, dnsNetwork, id);
  for (const n of s.intent?.networks.values() ?? []) if (served(n.id)) table.knowNetworkName(n.name);
  for (const c of s.containers) {
    const networks = c.endpoints.filter((ep) => ep.ip !== "" && served(ep.networkId));
    table.setAsker(
      c.id,
      networks.map((ep) => ({ id: ep.networkId, name: ep.networkName })),
    );
    const service = c.labels["serviceName"];
    for (const ep of networks) {
      table.addEndpoint(ep.networkId, ep.ip, endpointNames(c.name, c.id, ep.aliases));
      if (service !== undefined) table.addTask(ep.networkId, service, ep.ip, ep.vip ?? "");
    }
  }
  for (const f of s.endpoints) {
    // This node's own facts come from its records above (they may lag behind them).
    if (f.node === s.node.name || !served(f.networkId)) continue;
    table.heardRemote.add(f.networkId);
    if (f.container === "") continue;
    // The key is `<container id>/<network id>`.
    table.addEndpoint(f.networkId, f.ip, endpointNames(f.container, f.key.split("/")[0] ?? "", f.aliases));
    if (f.serviceName !== "") table.addTask(f.networkId, f.serviceName, f.ip, f.vip);
  }
  for (const svc of s.intent?.services.values() ?? []) {
    for (const networkId of svc.networks) {
      if (!served(networkId)) continue;
      const vip = svc.vips.find((v) => v.networkId === networkId)?.ip;
      table.addService(networkId, svc.name, svc.endpointMode, vip);
    }
  }
  return table;
}
