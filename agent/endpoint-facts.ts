/**
 * This node's entries in the gossiped endpoint tables, as a reconciler: the desired state
 * is one fact per local endpoint whose driver gossips (overlay endpoints: IP, MAC, VTEP,
 * names, service) plus what drivers publish for the node itself (the ingress port); the
 * observed state is what the table holds *as owned by this node*. A pass joins the
 * networks it needs, publishes what is missing or different, withdraws every entry this
 * node owns but no longer wants — also entries of an earlier run of this agent that the
 * other nodes still gossip (a crash leaves them) — and leaves networks it no longer needs.
 *
 * So no entry outlives its endpoint, whatever order containers, crashes and restarts come
 * in: the table converges to the node's containers, not to the history of calls.
 *
 * A task's entry names its service (which makes it a load-balancing backend and a
 * `tasks.SERVICE` answer everywhere) only while its process runs: a container is put in
 * the table as soon as it is created, before its sandbox is wired and its process
 * started, and every node's routing mesh would otherwise send requests into that gap
 * (chaos `agent-crash`: a rescheduled task took requests for ~10 s before it could
 * answer); an exited task stops being a backend at once. A running process must also
 * listen on its published target ports first (sandbox/readiness.ts: the seconds a
 * program takes to start listening were a burst of refused connections). Its address
 * stays in the table either way (the overlay reaches it by address).
 */
import type { EndpointFact, EndpointTable } from "./attachments.js";
import type { DriverRegistry } from "./drivers/registry.js";
import type { NodeSnapshot } from "./node-snapshot.js";
import type { Reconciler } from "./reconcile/reconciler.js";
import { R } from "./reconcile/triggers.js";
import { endpointKey } from "./sandbox/container.js";

interface FactsDesired {
  networks: string[];
  facts: EndpointFact[];
  /**
   * The agent is settling: it may not know yet all the node's own facts (the ingress
   * port comes with the managers' intent), so those are not withdrawn and no network is
   * left. Its containers' entries are: the container store is this node's record of them
   * across restarts, so an entry of a container it no longer has (removed just before a
   * crash, or by the managers' first intent) is stale — and every node's mesh would send
   * requests to it meanwhile.
   */
  addOnly: boolean;
}

export function desiredFacts(s: NodeSnapshot, drivers: DriverRegistry): FactsDesired {
  const facts: EndpointFact[] = [];
  const addr = s.node.advertiseAddr ?? "";
  for (const c of s.containers) {
    for (const ep of c.endpoints) {
      const data = drivers.find(ep.driver)?.factData(ep, addr);
      if (data === undefined) continue;
      const serving = c.status === "running" && c.waitingFor === undefined;
      facts.push({
        networkId: ep.networkId,
        key: endpointKey(c, ep),
        ip: ep.ip,
        node: s.node.name,
        container: c.name,
        aliases: ep.aliases,
        serviceId: serving ? (c.labels["serviceId"] ?? "") : "",
        serviceName: serving ? (c.labels["serviceName"] ?? "") : "",
        vip: ep.vip ?? "",
        data,
      });
    }
  }
  for (const d of drivers.all()) facts.push(...(d.nodeFacts?.(s) ?? []));
  return { networks: [...new Set(facts.map((f) => f.networkId))].sort(), facts, addOnly: s.settling };
}

/** Two facts say the same (field by field: the decoded ones come from JSON). */
function sameFact(a: EndpointFact, b: EndpointFact): boolean {
  return (
    a.networkId === b.networkId &&
    a.ip === b.ip &&
    a.container === b.container &&
    a.serviceId === b.serviceId &&
    a.serviceName === b.serviceName &&
    a.vip === b.vip &&
    a.aliases.join("\n") === b.aliases.join("\n") &&
    JSON.stringify(Object.entries(a.data).sort()) === JSON.stringify(Object.entries(b.data).sort())
  );
}

export function endpointFactsReconciler(
  nodeName: string,
  table: () => EndpointTable,
  drivers: () => DriverRegistry,
): Reconciler<FactsDesired> {
  return {
    name: R.endpointFacts,
    desired: (s) => desiredFacts(s, drivers()),
    // What it compares against is the table, which others change too: always look.
    same: () => false,
    apply: async (d) => {
      const t = table();
      for (const n of d.networks) t.joinNetwork(n);
      const held = new Map<string, EndpointFact>();
      for (const f of t.all()) if (f.node === nodeName) held.set(f.key, f);
      const wanted = new Set<string>();
      for (const f of d.facts) {
        wanted.add(f.key);
        const h = held.get(f.key);
        if (h === undefined || !sameFact(h, f)) t.publish(f);
      }
      for (const f of held.values()) {
        if (!wanted.has(f.key) && (!d.addOnly || f.container !== "")) t.withdraw(f.networkId, f.key);
      }
      if (d.addOnly) return;
      const keep = new Set(d.networks);
      for (const n of t.networks()) if (!keep.has(n)) t.leaveNetwork(n);
    },
  };
}
