/**
 * The endpoint table over gossip: each network's NetworkDB table `endpoints` holds one
 * entry per endpoint (key `<container id>/<network id>`, owner = the node that runs it,
 * value = the fact as JSON). NetworkDB only gossips a network's entries among the nodes
 * that joined it, hides a dead owner's entries (they come back if it returns within the
 * reap time) and replays a snapshot to new subscribers — so `all()` is always the live
 * endpoints of this node's networks.
 *
 * Facts are decoded once, when NetworkDB reports the change, and `all()` hands out one
 * array per version: a reconcile pass reads the table without decoding or copying it.
 *
 * The value is JSON, not protobuf: it is an opaque payload inside NetworkDB's (protobuf)
 * wire messages, read only by agents, small, and extended by adding fields.
 *
 * Publishing and every change NetworkDB reports leave a mark in the trace ring
 * (`gossip.publish`, `gossip.receive`, keyed by the entry's key) so a benchmark can time
 * an endpoint from its owner's publish to its receipt on another node.
 */
import { parseIpv4 } from "../common/net-addr.js";
import { trace } from "../common/trace-ring.js";
import type { NetworkDB, TableChange } from "./gossip/index.js";
import type { EndpointFact, EndpointTable } from "./attachments.js";

export const ENDPOINTS_TABLE = "endpoints";
const MAX_FIELD = 256;

export class GossipEndpointTable implements EndpointTable {
  private readonly listeners: ((networkId: string) => void)[] = [];
  private readonly joined = new Map<string, { off: () => void; facts: Map<string, EndpointFact> }>();
  private list: readonly EndpointFact[] | undefined;
  version = 0;

  constructor(private readonly db: NetworkDB) {}

  joinNetwork(networkId: string): void {
    if (this.joined.has(networkId)) return;
    this.db.joinNetwork(networkId);
    const facts = new Map<string, EndpointFact>();
    const entry = { facts, off: () => {} };
    this.joined.set(networkId, entry);
    entry.off = this.db.subscribe(networkId, ENDPOINTS_TABLE, (c) => this.apply(facts, c));
  }

  leaveNetwork(networkId: string): void {
    const entry = this.joined.get(networkId);
    if (entry === undefined) return;
    entry.off();
    this.joined.delete(networkId);
    this.db.leaveNetwork(networkId);
    this.changed(networkId);
  }

  networks(): readonly string[] {
    return [...this.joined.keys()];
  }

  publish(fact: EndpointFact): void {
    trace.mark("gossip.publish", fact.key);
    this.db.put(fact.networkId, ENDPOINTS_TABLE, fact.key, Buffer.from(JSON.stringify(fact)));
  }

  withdraw(networkId: string, key: string): void {
    if (this.joined.has(networkId)) this.db.delete(networkId, ENDPOINTS_TABLE, key);
  }

  all(): readonly EndpointFact[] {
    if (this.list === undefined) {
      const out: EndpointFact[] = [];
      for (const { facts } of this.joined.values()) out.push(...facts.values());
      this.list = out;
    }
    return this.list;
  }

  onChange(listener: (networkId: string) => void): void {
    this.listeners.push(listener);
  }

  private apply(facts: Map<string, EndpointFact>, c: TableChange): void {
    trace.mark("gossip.receive", c.key, { owner: c.owner, type: c.type });
    const fact = c.type === "delete" ? undefined : decodeFact(c.value, c.owner);
    if (fact === undefined) {
      if (!facts.delete(c.key)) return;
    } else {
      facts.set(c.key, fact);
    }
    this.changed(c.network);
  }

  private changed(networkId: string): void {
    this.list = undefined;
    this.version++;
    for (const l of this.listeners) l(networkId);
  }
}

const str = (v: unknown): v is string => typeof v === "string" && v.length <= MAX_FIELD;

/**
 * A fact from another agent; a malformed one is ignored (never trusted into the kernel).
 * The owner is NetworkDB's, not what the value claims.
 */
export function decodeFact(value: Uint8Array, owner: string): EndpointFact | undefined {
  try {
    const f = JSON.parse(Buffer.from(value).toString("utf8")) as Partial<Record<keyof EndpointFact, unknown>>;
    if (!str(f.networkId) || !str(f.key) || !str(f.ip) || parseIpv4(f.ip) === undefined) return undefined;
    const data: Record<string, string> = {};
    if (typeof f.data === "object" && f.data !== null) {
      for (const [k, v] of Object.entries(f.data)) if (str(v)) data[k] = v;
    }
    return {
      networkId: f.networkId,
      key: f.key,
      ip: f.ip,
      node: owner,
      container: str(f.container) ? f.container : "",
      aliases: Array.isArray(f.aliases) ? f.aliases.filter(str) : [],
      serviceId: str(f.serviceId) ? f.serviceId : "",
      serviceName: str(f.serviceName) ? f.serviceName : "",
      vip: str(f.vip) && parseIpv4(f.vip) !== undefined ? f.vip : "",
      data,
    };
  } catch {
    return undefined;
  }
}
