/**
 * Who uses a network, from its attachment records (`attachments/<network>/<kind>:<id>`):
 *
 *   attached   the owners that keep `network rm` from removing it ("service:<id>",
 *              "task:<id>", "container:<id>") — a node's ingress endpoint is not a user:
 *              it goes with the network
 *   endpoints  every attachment that has a node and an address (containers, tasks,
 *              nodes' ingress endpoints), with the MAC the agent gives it (02:42 + IP,
 *              Docker's rule): `network inspect` shows a node's as Docker's Containers
 *   peers      the nodes holding at least one endpoint (Docker's Peers: name and
 *              advertise address)
 *
 * Pure: the network service reads the records and calls this.
 */
import { macFromIpv4, parseIpv4 } from "../../common/net-addr.js";
import { keys, lastSegment } from "../store/keys.js";
import { decode, type AttachmentKind, type AttachmentRecord, type NodeRecord } from "../store/records.js";
import type { KvEntry } from "../store/kv.js";

export interface EndpointView {
  kind: AttachmentKind;
  id: string;
  name: string;
  nodeId: string;
  ip: string;
  mac: string;
}

export interface PeerView {
  nodeId: string;
  name: string;
  ip: string;
}

export interface NetworkUsage {
  attached: string[];
  endpoints: EndpointView[];
  peers: PeerView[];
}

const ATTACHMENTS = `${keys.root}attachments/`;

/** Usage per network id, from every attachment entry and the node records. */
export function networkUsage(
  entries: readonly KvEntry[],
  nodes: readonly NodeRecord[],
): Map<string, NetworkUsage> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const out = new Map<string, NetworkUsage>();
  for (const e of entries) {
    if (!e.key.startsWith(ATTACHMENTS)) continue;
    const networkId = e.key.slice(ATTACHMENTS.length).split("/")[0] ?? "";
    let usage = out.get(networkId);
    if (usage === undefined) {
      usage = { attached: [], endpoints: [], peers: [] };
      out.set(networkId, usage);
    }
    const a = decode<AttachmentRecord>(e.key, e.value);
    if (a.kind !== "node") usage.attached.push(lastSegment(e.key));
    if (a.nodeId === undefined || a.ip === undefined) continue;
    usage.endpoints.push({
      kind: a.kind,
      id: a.id,
      name: a.name,
      nodeId: a.nodeId,
      ip: a.ip,
      mac: macFromIpv4(parseIpv4(a.ip) ?? 0),
    });
    if (!usage.peers.some((p) => p.nodeId === a.nodeId)) {
      const node = byId.get(a.nodeId);
      usage.peers.push({ nodeId: a.nodeId, name: node?.hostname ?? a.nodeId, ip: node?.advertiseAddr ?? "" });
    }
  }
  for (const u of out.values()) {
    u.endpoints.sort((x, y) => (x.nodeId + x.name < y.nodeId + y.name ? -1 : 1));
    u.peers.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  }
  return out;
}
