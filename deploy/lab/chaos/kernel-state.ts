/**
 * The kernel-state invariant: after the lab settles, every live node's kernel holds
 * exactly what the intent (read from etcd) says, read straight from the kernel and never
 * from the agent's own belief:
 *
 * - routing mesh: the nft map `ingress_backends` of table `ip swarmnet` (`nft -j`), per
 *   published (protocol, port), holds exactly the ingress addresses of the service's
 *   running tasks (one slot each);
 * - overlays: in each overlay sandbox `<node prefix>ov<VNI>`, the VXLAN device's FDB
 *   holds one entry per endpoint of that network on every other live node (MAC → that
 *   node's underlay address; for encrypted networks the destination is a relay address,
 *   so only the MAC is compared), and the neighbour table IP → MAC likewise; nothing more;
 * - containers: a namespace `<node prefix>c-<id12>` for each task running there and each
 *   standalone container attached there, and no other.
 *
 * Endpoints are: running tasks (their address on the network), standalone containers'
 * attachments, and each node's ingress endpoint. MACs follow the agents' rule (02:42 +
 * the IPv4 bytes). The comparison is pure (`compareKernel`), so it is unit-tested.
 */
import type { Executor } from "../../../common/executor.js";
import { endpointMac, isRunning, type Intent } from "./intent.js";

export interface FdbEntry {
  mac: string;
  dst: string;
}

export interface NeighEntry {
  ip: string;
  mac: string;
}

export interface SandboxState {
  vni: number;
  fdb: FdbEntry[];
  neigh: NeighEntry[];
}

export interface NodeKernel {
  node: string;
  /** "tcp/8080" → ["10.0.0.8:80", …] (one per slot). */
  mesh: Map<string, string[]>;
  sandboxes: SandboxState[];
  /** The id part (12 chars) of every container namespace. */
  containers: string[];
}

interface Endpoint {
  ip: string;
  mac: string;
  nodeId: string;
  owner: string;
}

/** Reads one node's kernel state (netns `sn-L-nX`). */
export async function readNodeKernel(
  ex: Executor,
  node: string,
  netns: string,
  allNetns: readonly string[],
): Promise<NodeKernel> {
  const mesh = new Map<string, string[]>();
  try {
    const out = JSON.parse(
      await ex.nft(["-j", "list", "map", "ip", "swarmnet", "ingress_backends"], { netns }),
    ) as {
      nftables: { map?: { elem?: [{ concat: [string, number, number] }, { concat: [string, number] }][] } }[];
    };
    for (const item of out.nftables) {
      for (const [key, value] of item.map?.elem ?? []) {
        const k = `${key.concat[0]}/${key.concat[1]}`;
        mesh.set(k, [...(mesh.get(k) ?? []), `${value.concat[0]}:${value.concat[1]}`]);
      }
    }
  } catch {
    // no table yet (an agent that never programmed the mesh): an empty mesh
  }
  const sandboxes: SandboxState[] = [];
  const prefix = `${netns}-`;
  for (const ns of allNetns.filter((n) => n.startsWith(`${prefix}ov`)).sort()) {
    const vni = Number(ns.slice(prefix.length + 2));
    if (!Number.isInteger(vni)) continue;
    const dev = `vx${vni}`;
    try {
      const fdb = await ex.bridgeJson<{ mac: string; dst?: string }>(["fdb", "show", "dev", dev], {
        netns: ns,
      });
      const neigh = await ex.ipJson<{ dst: string; lladdr?: string }>(["neigh", "show", "dev", dev], {
        netns: ns,
      });
      sandboxes.push({
        vni,
        fdb: fdb.filter((e) => e.dst !== undefined).map((e) => ({ mac: e.mac, dst: e.dst ?? "" })),
        neigh: neigh.filter((e) => e.lladdr !== undefined).map((e) => ({ ip: e.dst, mac: e.lladdr ?? "" })),
      });
    } catch {
      // a sandbox being removed right now: the next settle pass reads it again
    }
  }
  const containers = allNetns
    .filter((n) => n.startsWith(`${prefix}c-`))
    .map((n) => n.slice(prefix.length + 2));
  return { node, mesh, sandboxes, containers };
}

function endpointsOf(intent: Intent, networkId: string, nodeIds: ReadonlySet<string>): Endpoint[] {
  const out: Endpoint[] = [];
  for (const t of intent.tasks) {
    if (!isRunning(t) || !nodeIds.has(t.nodeId)) continue;
    for (const a of t.networks) {
      if (a.networkId === networkId)
        out.push({
          ip: a.ip,
          mac: endpointMac(a.ip),
          nodeId: t.nodeId,
          owner: `task ${t.serviceName}.${t.slot}`,
        });
    }
  }
  for (const a of intent.attachments) {
    if (a.networkId !== networkId || (a.kind !== "container" && a.kind !== "node") || !nodeIds.has(a.nodeId))
      continue;
    out.push({
      ip: a.ip,
      mac: endpointMac(a.ip),
      nodeId: a.nodeId,
      owner: a.kind === "node" ? `ingress endpoint of ${a.name}` : `container ${a.name}`,
    });
  }
  return out;
}

/**
 * Which nodes' endpoints others must hold (`live`), and which they may hold or not
 * (`tolerated`: a paused agent's, which others drop only once gossip declares it dead).
 */
export interface Liveness {
  live: ReadonlySet<string>;
  tolerated: ReadonlySet<string>;
}

/** Everything wrong with one node's kernel, one line each, naming the entry. */
export function compareKernel(k: NodeKernel, intent: Intent, liveness: Liveness): string[] {
  const liveNodeIds = liveness.live;
  const problems: string[] = [];
  const self = [...intent.nodes.values()].find((n) => n.name === k.node);
  if (self === undefined) return [`${k.node}: not a node of the cluster`];
  const nodeName = (id: string) => intent.nodes.get(id)?.name ?? id;

  // Routing mesh.
  const ingress = [...intent.networks.values()].find((n) => n.ingress);
  const wantMesh = new Map<string, Map<string, string>>();
  for (const p of intent.ports.filter((x) => x.mode === "ingress")) {
    const backends = new Map<string, string>();
    for (const t of intent.tasks.filter(
      (x) => x.serviceId === p.serviceId && isRunning(x) && liveNodeIds.has(x.nodeId),
    )) {
      const ip = t.networks.find((a) => a.networkId === ingress?.id)?.ip;
      const port = t.ports.find((x) => x.publishedPort === p.port && x.protocol === p.protocol)?.targetPort;
      if (ip !== undefined && port !== undefined)
        backends.set(`${ip}:${port}`, `${t.serviceName}.${t.slot} on ${nodeName(t.nodeId)}`);
    }
    wantMesh.set(`${p.protocol}/${p.port}`, backends);
  }
  const maybe = new Set(
    intent.tasks
      .filter((t) => isRunning(t) && liveness.tolerated.has(t.nodeId))
      .flatMap((t) => t.networks.filter((a) => a.networkId === ingress?.id).map((a) => a.ip)),
  );
  for (const [key, want] of wantMesh) {
    const have = (k.mesh.get(key) ?? []).filter((b) => !maybe.has(b.split(":")[0] ?? ""));
    for (const [b, task] of want)
      if (!have.includes(b)) problems.push(`${k.node}: ingress_backends ${key} lacks ${b} (${task})`);
    for (const b of new Set(have)) {
      if (!want.has(b))
        problems.push(
          `${k.node}: ingress_backends ${key} has ${b}, which no running task holds (stale backend)`,
        );
      else if (have.filter((x) => x === b).length > 1)
        problems.push(`${k.node}: ingress_backends ${key} holds ${b} in more than one slot`);
    }
  }
  for (const key of k.mesh.keys())
    if (!wantMesh.has(key)) problems.push(`${k.node}: ingress_backends has ${key}, which is not published`);

  // Overlays.
  for (const sb of k.sandboxes) {
    const net = [...intent.networks.values()].find((n) => n.vni === sb.vni);
    const where = `${k.node} ov${sb.vni}`;
    if (net === undefined) {
      problems.push(`${where}: sandbox of a network the intent no longer has (VNI ${sb.vni})`);
      continue;
    }
    const remote = endpointsOf(intent, net.id, liveNodeIds).filter((e) => e.nodeId !== self.id);
    for (const e of remote) {
      const peer = intent.nodes.get(e.nodeId);
      const entry = sb.fdb.find((f) => f.mac === e.mac);
      const dst = peer?.addr ?? "?";
      if (entry === undefined)
        problems.push(
          `${where}: FDB entry ${e.mac} dst ${dst} missing (${e.owner} on ${nodeName(e.nodeId)}, ${e.ip})`,
        );
      else if (!net.encrypted && entry.dst !== dst)
        problems.push(`${where}: FDB entry ${e.mac} points at ${entry.dst}, not ${dst} (${e.owner})`);
      const n = sb.neigh.find((x) => x.ip === e.ip);
      if (n === undefined)
        problems.push(
          `${where}: neighbour entry ${e.ip} → ${e.mac} missing (${e.owner} on ${nodeName(e.nodeId)})`,
        );
      else if (n.mac !== e.mac)
        problems.push(`${where}: neighbour entry ${e.ip} → ${n.mac}, not ${e.mac} (${e.owner})`);
    }
    const allowed = [...remote, ...endpointsOf(intent, net.id, liveness.tolerated)];
    const macs = new Set(allowed.map((e) => e.mac));
    const ips = new Set(allowed.map((e) => e.ip));
    for (const f of sb.fdb)
      if (!macs.has(f.mac))
        problems.push(`${where}: stale FDB entry ${f.mac} dst ${f.dst} (no live endpoint has it)`);
    for (const x of sb.neigh)
      if (!ips.has(x.ip)) problems.push(`${where}: stale neighbour entry ${x.ip} → ${x.mac}`);
  }

  // Container namespaces.
  const want = new Map<string, string>();
  for (const t of intent.tasks)
    if (isRunning(t) && t.nodeId === self.id) want.set(t.id.slice(0, 12), `task ${t.serviceName}.${t.slot}`);
  for (const a of intent.attachments)
    if (a.kind === "container" && a.nodeId === self.id) want.set(a.id.slice(0, 12), `container ${a.name}`);
  for (const [id, what] of want)
    if (!k.containers.includes(id)) problems.push(`${k.node}: no namespace for ${what} (c-${id})`);
  for (const id of k.containers) {
    if (want.has(id)) continue;
    const t = intent.tasks.find((x) => x.id.startsWith(id));
    problems.push(
      `${k.node}: namespace c-${id} left behind${t === undefined ? "" : ` (task ${t.serviceName}.${t.slot}, desired ${t.desiredState}, ${t.state})`}`,
    );
  }
  return problems;
}
