/**
 * The hand-built two-node topology of the encrypted-overlay tests and benchmark: the
 * scratch underlay (deploy/lab/scratch-topology.ts: namespaces `snt-<hex>-…`, nodes on
 * 100.64.1.I/16, underlay ports p1/p2 in the underlay namespace) plus overlays built the
 * way overlay-model.md describes, without agents: per overlay and node a sandbox with
 * br0 (gateway) and vxlan0 (created in the node namespace so its socket lives on the
 * underlay, then moved in), a container namespace with eth0 on the bridge, and static
 * FDB + neighbour entries for the other node's endpoint.
 *
 * Where the FDB entries point is the caller's choice (`fdbDst`): the peer's underlay
 * address for a plain overlay, `backend.fdbDestination(peer)` for an encrypted one —
 * the one difference between the two, as with the real overlay driver.
 */
import { fileURLToPath } from "node:url";
import { Executor, type CommandResult } from "../common/executor.js";
import { formatIpv4, macFromIpv4, parseIpv4 } from "../common/net-addr.js";
import { ScratchTopology } from "../deploy/lab/scratch-topology.js";
import { parsePing, pingArgs, pingDeadlineS, type PingSeries } from "./ping.js";

export const TRAFFIC_SCRIPT = fileURLToPath(new URL("./encryption-traffic.js", import.meta.url));
export const UNDERLAY_MTU = 1500;

export interface OverlaySpec {
  /** Short name used in namespace names ("plain", "enc"). */
  key: string;
  vni: number;
  /** Third octet of 10.77.X.0/24. */
  subnet: number;
  mtu: number;
}

export interface OverlayEndpoint {
  node: number;
  sandbox: string;
  container: string;
  ip: string;
  mac: string;
}

export interface BuiltOverlay {
  spec: OverlaySpec;
  gateway: string;
  /** Index 0: node 1, index 1: node 2. */
  endpoints: [OverlayEndpoint, OverlayEndpoint];
}

/**
 * Runs a traffic tool (encryption-traffic.ts) in any host namespace — a topology's, or a
 * lab's (the VM lab forges VXLAN from its `client`); its JSON answer.
 */
export async function runTraffic<T>(
  ex: Executor,
  netns: string,
  args: (string | number)[],
  timeoutMs = 60_000,
): Promise<T> {
  const r = await ex.runIn(netns, [process.execPath, TRAFFIC_SCRIPT, ...args.map(String)], { timeoutMs });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(
      `traffic ${args.join(" ")} in ${netns} failed (${r.exitCode}): ${r.stderr.trim() || r.stdout.trim()}`,
    );
  }
}

/** Where node `node`'s FDB entry for the endpoint on `peerNode` points. */
export type FdbDestination = (node: number, peerNode: number) => string;

export class EncryptionTopology {
  readonly scratch: ScratchTopology;

  constructor(
    readonly ex: Executor = new Executor(),
    tag = "snt",
  ) {
    this.scratch = new ScratchTopology(ex, tag);
  }

  get prefix(): string {
    return this.scratch.prefix;
  }

  node(i: number): { netns: string; address: string } {
    return this.scratch.node(i);
  }

  /** The underlay namespace's port towards node i (where a capture sees its traffic). */
  underlayPort(i: number): string {
    return `p${i}`;
  }

  async build(): Promise<void> {
    await this.scratch.build(2);
  }

  async addOverlay(spec: OverlaySpec, fdbDst: FdbDestination): Promise<BuiltOverlay> {
    const base = parseIpv4(`10.77.${spec.subnet}.0`) ?? 0;
    const gateway = formatIpv4(base + 1);
    const eps: OverlayEndpoint[] = [];
    for (const node of [1, 2]) {
      const ip = formatIpv4(base + 1 + node);
      const sandbox = `${this.node(node).netns}-s${spec.key}`;
      await this.ex.netnsAdd(sandbox);
      const container = await this.scratch.container(node, spec.key);
      const tmp = `vx${spec.vni}`;
      await this.ex.ipBatch(
        [
          `link add name ${tmp} type vxlan id ${spec.vni} dstport 4789 nolearning proxy`,
          `link set dev ${tmp} netns ${sandbox}`,
        ],
        { netns: this.node(node).netns },
      );
      await this.ex.ipBatch(
        [
          "link set dev lo up",
          "link add name br0 type bridge",
          `addr add ${gateway}/24 dev br0`,
          `link set dev ${tmp} name vxlan0`,
          `link set dev vxlan0 mtu ${spec.mtu} master br0 up`,
          `link add name ve0 mtu ${spec.mtu} type veth peer name eth0 netns ${container}`,
          "link set dev ve0 master br0 up",
          `link set dev br0 mtu ${spec.mtu} up`,
        ],
        { netns: sandbox },
      );
      const mac = macFromIpv4(parseIpv4(ip) ?? 0);
      await this.ex.ipBatch(
        [
          "link set dev lo up",
          `link set dev eth0 address ${mac} mtu ${spec.mtu} up`,
          `addr add ${ip}/24 dev eth0`,
          `route add default via ${gateway}`,
        ],
        { netns: container },
      );
      eps.push({ node, sandbox, container, ip, mac });
    }
    const built: BuiltOverlay = {
      spec,
      gateway,
      endpoints: [eps[0], eps[1]] as [OverlayEndpoint, OverlayEndpoint],
    };
    await this.setFdb(built, fdbDst);
    return built;
  }

  /** (Re)points each node's FDB entry for the other node's endpoint. */
  async setFdb(o: BuiltOverlay, fdbDst: FdbDestination): Promise<void> {
    for (const local of o.endpoints) {
      const remote = o.endpoints.find((e) => e.node !== local.node) as OverlayEndpoint;
      await this.ex.bridgeBatch(
        [`fdb replace ${remote.mac} dev vxlan0 dst ${fdbDst(local.node, remote.node)} self permanent`],
        { netns: local.sandbox },
      );
      await this.ex.ipBatch([`neigh replace ${remote.ip} lladdr ${remote.mac} dev vxlan0 nud permanent`], {
        netns: local.sandbox,
      });
    }
  }

  run(netns: string, argv: string[], timeoutMs = 60_000): Promise<CommandResult> {
    return this.ex.runIn(netns, argv, { timeoutMs });
  }

  /** Runs a traffic tool (encryption-traffic.ts) in a namespace; its JSON answer. */
  traffic<T>(netns: string, args: (string | number)[], timeoutMs = 60_000): Promise<T> {
    return runTraffic<T>(this.ex, netns, args, timeoutMs);
  }

  /** `count` pings `intervalS` apart (bench/ping.ts: late replies count); and the raw output. */
  async ping(
    fromNetns: string,
    ip: string,
    count: number,
    intervalS = 0.05,
  ): Promise<PingSeries & { raw: string }> {
    const r = await this.run(
      fromNetns,
      pingArgs(ip, count, intervalS),
      (pingDeadlineS(count, intervalS) + 30) * 1000,
    );
    return { ...parsePing(r.stdout, count), raw: r.stdout + r.stderr };
  }

  async destroy(): Promise<void> {
    await this.scratch.destroy();
  }
}
