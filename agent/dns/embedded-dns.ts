/**
 * The embedded DNS of one node: one resolver in the agent, answering on 127.0.0.11:53
 * inside every container that is on a user-defined network, from the node snapshot (this
 * node's containers + the gossiped endpoint facts + the managers' intent as last
 * received) — no manager on the query path.
 *
 * Why sockets held by the agent, bound in each container's namespace (executor
 * `listenIn`), rather than the alternatives (measured on this machine, see README):
 *   - a forwarder per container (socat for UDP and for TCP, to an agent socket): two
 *     processes per container, about 1 MB RSS each plus a fork per UDP query in socat's
 *     only mode that keeps the sender; and the agent must still learn who asks;
 *   - an nft redirect to one listener per network sandbox: needs route_localnet and a
 *     source NAT in every container to leave 127.0.0.11, and an internal network has no
 *     path to the node at all;
 *   - held sockets: nothing runs per container (two sockets, a few KB of kernel memory),
 *     the receiving socket names the asker, and a container on no network but its own
 *     still reaches 127.0.0.11 on its `lo`. The sockets come from one long-lived helper
 *     (common/netns-listen.ts: Python, which can setns(2)); a helper started per pass cost
 *     0.1–0.5 s of every `run`, and a Node helper per namespace 60–640 ms each.
 * Across an agent restart the sockets close with the agent, so a query gets "connection
 * refused" (the client retries or tries again later, nothing wrong is answered); the new
 * agent re-binds them in its first reconcile pass, and while it settles a swarm name it
 * cannot find yet is SERVFAIL, not NXDOMAIN.
 *
 * The reconciler here owns the sockets and the per-container resolv.conf files; the
 * answers themselves need no pass: each query reads the current snapshot, and the name
 * table is rebuilt only when the snapshot changed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NetnsListeners } from "../../common/executor.js";
import type { Logger } from "../../common/logger.js";
import type { NodeSnapshot } from "../node-snapshot.js";
import type { Reconciler } from "../reconcile/reconciler.js";
import { R } from "../reconcile/triggers.js";
import { DNS_DEFAULTS, type DnsConfig } from "./config.js";
import { DnsListeners } from "./listeners.js";
import type { ContainerRecord, EndpointRecord } from "../sandbox/container.js";
import { buildNameTable, endpointNames, servedNetwork, type NameTable } from "./name-table.js";
import { containerResolvConf } from "./resolv-conf.js";
import { Resolver } from "./resolver.js";
import { Upstream, type UpstreamServer } from "./upstream.js";

export interface EmbeddedDnsDeps {
  snapshot: () => NodeSnapshot;
  /** Names are served on this network (user-defined; not bridge, host, none). */
  dnsNetwork: (networkId: string) => boolean;
  /** Binds 127.0.0.11:53 (UDP and TCP) inside each namespace (or says why it could not). */
  listen: (namespaces: readonly string[]) => Promise<Map<string, NetnsListeners | Error>>;
  upstreams: readonly UpstreamServer[];
  /** Where the per-container resolv.conf files live. */
  dir: string;
  log: Logger;
  config?: Partial<DnsConfig>;
}

interface ContainerDns {
  id: string;
  netns: string;
  /** On a user-defined network: 127.0.0.11 answers in it. */
  embedded: boolean;
  resolvConf: string;
}

export class EmbeddedDns {
  readonly resolver: Resolver;
  private readonly listeners: DnsListeners;
  private readonly config: DnsConfig;
  private cached: { snapshot: NodeSnapshot; table: NameTable } | undefined;
  /** When this node started serving each network (this process's clock). */
  private readonly servingSince = new Map<string, number>();

  constructor(private readonly deps: EmbeddedDnsDeps) {
    this.config = { ...DNS_DEFAULTS, ...deps.config };
    mkdirSync(deps.dir, { recursive: true });
    this.resolver = new Resolver(
      () => this.table(),
      new Upstream(() => deps.upstreams, this.config),
      this.config,
    );
    this.listeners = new DnsListeners(this.resolver, this.config, deps.log);
  }

  /** The file a container sees as /etc/resolv.conf. */
  resolvConfPath(containerId: string): string {
    return join(this.deps.dir, `${containerId}.conf`);
  }

  /** The current name table (rebuilt when the snapshot changed). */
  table(s: NodeSnapshot = this.deps.snapshot()): NameTable {
    if (this.cached?.snapshot !== s) {
      const fresh = (id: string) =>
        Date.now() - (this.servingSince.get(id) ?? 0) < this.config.freshNetworkMs;
      const table = buildNameTable(s, this.deps.dnsNetwork, fresh);
      const served = new Set(s.containers.flatMap((c) => (table.networksOf(c.id) ?? []).map((n) => n.id)));
      for (const id of served) if (!this.servingSince.has(id)) this.servingSince.set(id, Date.now());
      for (const id of this.servingSince.keys()) if (!served.has(id)) this.servingSince.delete(id);
      this.cached = { snapshot: s, table };
    }
    return this.cached.table;
  }

  /** The file a container's processes bind over /etc/resolv.conf, once written. */
  resolvConfOf(containerId: string): string | undefined {
    const file = this.resolvConfPath(containerId);
    return existsSync(file) ? file : undefined;
  }

  /** Docker's DNSNames of a container's endpoint: [] on a network without names. */
  dnsNames(c: ContainerRecord, ep: EndpointRecord): string[] {
    if (ep.ip === "" || !servedNetwork(this.deps.snapshot(), this.deps.dnsNetwork, ep.networkId)) return [];
    return endpointNames(c.name, c.id, ep.aliases);
  }

  /** Containers that 127.0.0.11 answers in now. */
  servedContainers(): number {
    return this.listeners.ids().length;
  }

  stop(): void {
    this.listeners.closeAll();
  }

  reconciler(): Reconciler<ContainerDns[]> {
    return {
      name: R.dns,
      desired: (s) => this.desired(s),
      apply: (d) => this.apply(d),
    };
  }

  private desired(s: NodeSnapshot): ContainerDns[] {
    const table = this.table(s);
    return s.containers.flatMap((c) => {
      if (c.netns === undefined) return [];
      const embedded = (table.networksOf(c.id) ?? []).length > 0;
      return [
        {
          id: c.id,
          netns: c.netns,
          embedded,
          resolvConf: containerResolvConf(embedded, this.deps.upstreams),
        },
      ];
    });
  }

  private async apply(wanted: ContainerDns[]): Promise<void> {
    const keep = new Set(wanted.map((w) => w.id));
    for (const id of this.listeners.ids()) if (!keep.has(id)) this.listeners.close(id);
    for (const w of wanted) {
      // In place (same inode): a running container's bind mount sees the new content.
      const file = this.resolvConfPath(w.id);
      if (readOr(file) !== w.resolvConf) writeFileSync(file, w.resolvConf);
      if (!w.embedded) this.listeners.close(w.id);
    }
    for (const f of readdirSync(this.deps.dir)) {
      if (f.endsWith(".conf") && !keep.has(f.slice(0, -".conf".length)))
        rmSync(join(this.deps.dir, f), { force: true });
    }
    const missing = wanted.filter((w) => w.embedded && !this.listeners.has(w.id));
    if (missing.length === 0) return;
    const bound = await this.deps.listen(missing.map((w) => w.netns));
    let failed: Error | undefined;
    for (const w of missing) {
      const l = bound.get(w.netns);
      if (l === undefined || l instanceof Error) failed ??= l ?? new Error(`no DNS listener in ${w.netns}`);
      else this.listeners.attach(w.id, l);
    }
    if (failed !== undefined) throw failed;
  }
}

function readOr(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}
