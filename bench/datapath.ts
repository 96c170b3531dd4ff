/**
 * Datapath benchmark, on a scratch topology (real kernel, no agent processes): TCP
 * throughput (iperf3) and ping RTT between two nodes on the underlay vs between two
 * containers on a VXLAN overlay programmed by the overlay driver; the driver-level
 * convergence time (reconcile on both nodes → first ping reply, p50/p99 over runs); and
 * endpoint churn (N containers created then removed across M nodes: time until every
 * node's FDB is exact).
 */
import { ScratchTopology } from "../deploy/lab/scratch-topology.js";
import { macFromIpv4, parseIpv4, formatIpv4 } from "../common/net-addr.js";
import {
  OverlayKernel,
  type LocalEndpoint,
  type OverlayDesired,
  type OverlayNetwork,
} from "../agent/drivers/overlay/index.js";

export interface DatapathOptions {
  seconds: number;
  convergenceRuns: number;
  churnContainers: number;
  churnNodes: number;
}

export const DATAPATH_DEFAULTS: DatapathOptions = {
  seconds: 3,
  convergenceRuns: 20,
  churnContainers: 200,
  churnNodes: 5,
};

const NET: OverlayNetwork = {
  id: "bench-net",
  name: "bench",
  vni: 4200,
  subnet: "10.200.0.0/16",
  gateway: "10.200.0.1",
  mtu: 1450,
  dstPort: 4789,
};

const ipAt = (i: number) => formatIpv4((parseIpv4("10.200.0.0") ?? 0) + 2 + i);

interface Placed {
  node: number;
  ns: string;
  ep: LocalEndpoint;
}

function desired(node: number, placed: Placed[], topo: ScratchTopology): OverlayDesired {
  return {
    networks: [NET],
    local: placed.filter((p) => p.node === node).map((p) => p.ep),
    remote: placed
      .filter((p) => p.node !== node)
      .map((p) => ({ networkId: NET.id, ip: p.ep.ip, mac: p.ep.mac, vtep: topo.node(p.node).address })),
  };
}

async function container(topo: ScratchTopology, node: number, i: number): Promise<Placed> {
  const ns = await topo.container(node, `b${i}`);
  const ip = ipAt(i);
  return {
    node,
    ns,
    ep: {
      id: `bench-${i}`,
      networkId: NET.id,
      containerNetns: ns,
      ifname: "eth0",
      ip,
      mac: macFromIpv4(parseIpv4(ip) ?? 0),
      defaultRoute: true,
    },
  };
}

async function iperf(topo: ScratchTopology, serverNs: string, clientNs: string, ip: string, seconds: number) {
  const server = topo.run(serverNs, ["iperf3", "-s", "-1", "-B", ip], (seconds + 20) * 1000);
  await new Promise((r) => setTimeout(r, 300));
  const c = await topo.run(
    clientNs,
    ["iperf3", "-c", ip, "-t", String(seconds), "-J"],
    (seconds + 20) * 1000,
  );
  await server;
  const report = JSON.parse(c.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return Math.round(report.end.sum_received.bits_per_second / 1e6);
}

async function rttMs(topo: ScratchTopology, fromNs: string, ip: string): Promise<number> {
  const r = await topo.run(fromNs, ["ping", "-c", "20", "-i", "0.05", "-q", ip]);
  const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
  return m ? Number(m[1]) : NaN;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

export async function runDatapathBench(
  o: DatapathOptions = DATAPATH_DEFAULTS,
): Promise<Record<string, unknown>> {
  const topo = new ScratchTopology(undefined, "snb");
  try {
    await topo.build(Math.max(2, o.churnNodes));
    const drivers = new Map<number, OverlayKernel>();
    for (let n = 1; n <= Math.max(2, o.churnNodes); n++) {
      drivers.set(
        n,
        new OverlayKernel(topo.ex, { prefix: `${topo.node(n).netns}-`, nodeNetns: topo.node(n).netns }),
      );
    }
    const driver = (n: number) => drivers.get(n) as OverlayKernel;

    // Throughput and RTT: underlay node to node, overlay container to container.
    const a = await container(topo, 1, 0);
    const b = await container(topo, 2, 1);
    const pair = [a, b];
    await driver(1).reconcile(desired(1, pair, topo));
    await driver(2).reconcile(desired(2, pair, topo));
    const underlayMbps = await iperf(
      topo,
      topo.node(2).netns,
      topo.node(1).netns,
      topo.node(2).address,
      o.seconds,
    );
    const overlayMbps = await iperf(topo, b.ns, a.ns, b.ep.ip, o.seconds);
    const underlayRtt = await rttMs(topo, topo.node(1).netns, topo.node(2).address);
    const overlayRtt = await rttMs(topo, a.ns, b.ep.ip);

    // Convergence: a new container on n2, reconcile both nodes, first reply from n1's a.
    const converge: number[] = [];
    for (let i = 0; i < o.convergenceRuns; i++) {
      const c = await container(topo, 2, 100 + i);
      const placed = [a, c];
      const started = performance.now();
      await Promise.all([
        driver(2).reconcile(desired(2, placed, topo)),
        driver(1).reconcile(desired(1, placed, topo)),
      ]);
      while (!(await topo.ping(a.ns, c.ep.ip))) {
        if (performance.now() - started > 10_000) break;
      }
      converge.push(performance.now() - started);
      await driver(2).reconcile(desired(2, [a], topo));
      await topo.ex.netnsDelete(c.ns);
    }
    converge.sort((x, y) => x - y);
    await driver(1).removeAll();
    await driver(2).removeAll();

    // Churn: containers spread over the nodes, then removed; every node's FDB exact each time.
    const nodes = [...drivers.keys()];
    const churn: Placed[] = [];
    for (let i = 0; i < o.churnContainers; i++)
      churn.push(await container(topo, nodes[i % nodes.length] ?? 1, 1000 + i));
    const t0 = performance.now();
    await Promise.all(nodes.map((n) => driver(n).reconcile(desired(n, churn, topo))));
    const createMs = performance.now() - t0;
    const t1 = performance.now();
    await Promise.all(nodes.map((n) => driver(n).reconcile(desired(n, [], topo))));
    const removeMs = performance.now() - t1;

    return {
      underlay_tcp_mbps: underlayMbps,
      overlay_tcp_mbps: overlayMbps,
      overlay_vs_underlay: Number((overlayMbps / underlayMbps).toFixed(3)),
      underlay_rtt_ms: underlayRtt,
      overlay_rtt_ms: overlayRtt,
      converge_ms: {
        p50: Math.round(percentile(converge, 50)),
        p99: Math.round(percentile(converge, 99)),
        runs: converge.length,
      },
      converge_scope: "overlay driver on both nodes (kernel programming + first ping), no gossip or managers",
      churn: {
        containers: o.churnContainers,
        nodes: nodes.length,
        create_ms: Math.round(createMs),
        remove_ms: Math.round(removeMs),
      },
    };
  } finally {
    await topo.destroy();
  }
}
