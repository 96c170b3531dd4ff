/**
 * The cluster's intent as etcd holds it, read straight from etcd (not through a manager),
 * typed for the invariants: nodes, networks, services, tasks, published ports and network
 * attachments. Only the fields the checks read are typed; the records are the managers'
 * (manager/store/records.ts), parsed leniently so a new field never breaks a chaos run.
 *
 * `durableIntent` is what no fault may change: the cluster record, networks, names,
 * services, published ports, VNIs and subnets. Tasks, sessions, node status, leader
 * campaigns, endpoint addresses and key material move legitimately during faults (tasks
 * are checked by their own invariant; keys are never read into a report).
 */
export const ROOT = "/swarmnet/v1/";

const DURABLE_PREFIXES = ["cluster", "networks/", "names/", "services/", "ports/", "vnis/", "ipam/subnets/"];

export interface NodeIntent {
  id: string;
  name: string;
  addr: string;
}

export interface NetworkIntent {
  id: string;
  name: string;
  vni: number;
  encrypted: boolean;
  ingress: boolean;
}

export interface TaskIntent {
  id: string;
  serviceId: string;
  serviceName: string;
  slot: number;
  nodeId: string;
  desiredState: string;
  state: string;
  networks: { networkId: string; ip: string }[];
  ports: { protocol: string; targetPort: number; publishedPort: number; mode: string }[];
}

export interface ServiceIntent {
  id: string;
  name: string;
  mode: string;
  replicas: number;
}

export interface PortIntent {
  protocol: string;
  port: number;
  serviceId: string;
  mode: string;
}

export interface AttachmentIntent {
  networkId: string;
  kind: string;
  id: string;
  name: string;
  nodeId: string;
  ip: string;
}

export interface Intent {
  nodes: Map<string, NodeIntent>;
  networks: Map<string, NetworkIntent>;
  services: Map<string, ServiceIntent>;
  tasks: TaskIntent[];
  ports: PortIntent[];
  attachments: AttachmentIntent[];
}

type Json = Record<string, unknown>;

const s = (o: Json, k: string): string => (typeof o[k] === "string" ? (o[k] as string) : "");
const n = (o: Json, k: string): number => (typeof o[k] === "number" ? (o[k] as number) : 0);

function parse(value: string): Json {
  try {
    const v = JSON.parse(value) as unknown;
    return typeof v === "object" && v !== null ? (v as Json) : {};
  } catch {
    return {};
  }
}

/** Types the etcd content (key → value) the managers wrote. */
export function intentFrom(kv: ReadonlyMap<string, string>): Intent {
  const intent: Intent = {
    nodes: new Map(),
    networks: new Map(),
    services: new Map(),
    tasks: [],
    ports: [],
    attachments: [],
  };
  for (const [key, value] of kv) {
    if (!key.startsWith(ROOT)) continue;
    const path = key.slice(ROOT.length).split("/");
    const o = parse(value);
    switch (path[0]) {
      case "nodes":
        intent.nodes.set(s(o, "id"), { id: s(o, "id"), name: s(o, "hostname"), addr: s(o, "advertiseAddr") });
        break;
      case "networks":
        intent.networks.set(s(o, "id"), {
          id: s(o, "id"),
          name: s(o, "name"),
          vni: n(o, "vni"),
          encrypted: o["encrypted"] === true,
          ingress: o["ingress"] === true,
        });
        break;
      case "services":
        intent.services.set(s(o, "id"), {
          id: s(o, "id"),
          name: s(o, "name"),
          mode: s(o, "mode"),
          replicas: n(o, "replicas"),
        });
        break;
      case "tasks":
        intent.tasks.push({
          id: s(o, "id"),
          serviceId: s(o, "serviceId"),
          serviceName: s(o, "serviceName"),
          slot: n(o, "slot"),
          nodeId: s(o, "nodeId"),
          desiredState: s(o, "desiredState"),
          state: s(o, "state"),
          networks: Array.isArray(o["networks"])
            ? (o["networks"] as { networkId: string; ip: string }[])
            : [],
          ports: Array.isArray(o["ports"]) ? (o["ports"] as TaskIntent["ports"]) : [],
        });
        break;
      case "ports":
        intent.ports.push({
          protocol: path[1] ?? "",
          port: Number(path[2]),
          serviceId: s(o, "serviceId"),
          mode: s(o, "mode"),
        });
        break;
      case "attachments":
        intent.attachments.push({
          networkId: path[1] ?? "",
          kind: s(o, "kind"),
          id: s(o, "id"),
          name: s(o, "name"),
          nodeId: s(o, "nodeId"),
          ip: s(o, "ip"),
        });
        break;
    }
  }
  return intent;
}

export function isRunning(t: TaskIntent): boolean {
  return t.desiredState === "running" && t.state === "running";
}

/** The keys no fault may change, with their values. */
export function durableIntent(kv: ReadonlyMap<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of kv) {
    const rel = k.startsWith(ROOT) ? k.slice(ROOT.length) : undefined;
    if (rel !== undefined && DURABLE_PREFIXES.some((p) => rel === p || rel.startsWith(p))) out.set(rel, v);
  }
  return out;
}

/** What changed in the durable intent between two readings: one line per key. */
export function diffIntent(
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>,
): string[] {
  const out: string[] = [];
  for (const [k, v] of before) {
    const now = after.get(k);
    if (now === undefined) out.push(`${k} lost`);
    else if (now !== v) out.push(`${k} changed`);
  }
  for (const k of after.keys()) if (!before.has(k)) out.push(`${k} appeared`);
  return out.sort();
}

/** The MAC the agents give an endpoint: 02:42 and the IPv4 address's four bytes (Docker's rule). */
export function endpointMac(ip: string): string {
  return ["02", "42", ...ip.split(".").map((b) => Number(b).toString(16).padStart(2, "0"))].join(":");
}
