/**
 * The endpoint table over gossip: each overlay network's NetworkDB table `endpoints`
 * holds one entry per endpoint (key `<container id>/<network id>`, owner = the node that
 * runs it, value = the fact as JSON). NetworkDB only gossips a network's entries among the
 * nodes that joined it, hides a dead owner's entries (they come back if it returns within
 * the reap time) and replays a snapshot to new subscribers — so `remote()` is always the
 * live endpoints of this node's networks.
 *
 * The value is JSON, not protobuf: it is an opaque payload inside NetworkDB's (protobuf)
 * wire messages, read only by agents, small, and extended by adding fields.
 */
import { parseIpv4 } from "../common/net-addr.js";
import type { NetworkDB } from "./gossip/index.js";
import type { EndpointFact, EndpointTable } from "./attachments.js";

export const ENDPOINTS_TABLE = "endpoints";
const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

export class GossipEndpointTable implements EndpointTable {
  private readonly listeners: (() => void)[] = [];
  private readonly unsubscribe = new Map<string, () => void>();

  constructor(
    private readonly db: NetworkDB,
    private readonly nodeName: string,
  ) {}

  async joinNetwork(networkId: string): Promise<void> {
    if (this.unsubscribe.has(networkId)) return;
    this.db.joinNetwork(networkId);
    this.unsubscribe.set(
      networkId,
      this.db.subscribe(networkId, ENDPOINTS_TABLE, () => this.changed()),
    );
  }

  async leaveNetwork(networkId: string): Promise<void> {
    const off = this.unsubscribe.get(networkId);
    if (off === undefined) return;
    off();
    this.unsubscribe.delete(networkId);
    this.db.leaveNetwork(networkId);
    this.changed();
  }

  publish(fact: EndpointFact): void {
    this.db.put(fact.networkId, ENDPOINTS_TABLE, fact.key, Buffer.from(JSON.stringify(fact)));
  }

  withdraw(networkId: string, key: string): void {
    if (this.unsubscribe.has(networkId)) this.db.delete(networkId, ENDPOINTS_TABLE, key);
  }

  all(): EndpointFact[] {
    const out: EndpointFact[] = [];
    for (const networkId of this.unsubscribe.keys()) {
      for (const e of this.db.entries(networkId, ENDPOINTS_TABLE)) {
        const fact = decodeFact(e.value);
        if (fact !== undefined) out.push(fact);
      }
    }
    return out;
  }

  remote(): EndpointFact[] {
    return this.all().filter((f) => f.node !== this.nodeName);
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }
}

/** A fact from another agent; a malformed one is ignored (never trusted into the kernel). */
function decodeFact(value: Uint8Array): EndpointFact | undefined {
  try {
    const f = JSON.parse(Buffer.from(value).toString("utf8")) as Partial<EndpointFact>;
    if (typeof f.networkId !== "string" || typeof f.ip !== "string" || typeof f.mac !== "string")
      return undefined;
    if (typeof f.vtep !== "string" || typeof f.node !== "string" || typeof f.key !== "string")
      return undefined;
    if (parseIpv4(f.ip) === undefined || parseIpv4(f.vtep) === undefined || !MAC.test(f.mac))
      return undefined;
    return {
      networkId: f.networkId,
      key: f.key,
      ip: f.ip,
      mac: f.mac,
      vtep: f.vtep,
      node: f.node,
      container: typeof f.container === "string" ? f.container : "",
      aliases: Array.isArray(f.aliases) ? f.aliases.filter((a): a is string => typeof a === "string") : [],
      serviceId: typeof f.serviceId === "string" ? f.serviceId : "",
    };
  } catch {
    return undefined;
  }
}
