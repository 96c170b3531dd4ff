/**
 * What the local-scope drivers (bridge, macvlan, ipvlan) read from the node snapshot the
 * same way: their networks among the node's own (a network with an option the driver
 * refuses is skipped, never built: `network create` refused it, so only a hand-edited
 * state file has one), and the endpoints of this node's containers on them, each with
 * whether it holds the container's default route.
 */
import type { NodeSnapshot } from "../node-snapshot.js";
import { defaultRouteEndpoint, endpointKey, type EndpointRecord } from "../sandbox/container.js";
import type { NetworkIntent } from "../../common/cluster-types.js";

export interface LocalEndpointOn<N> {
  key: string;
  netns: string;
  ep: EndpointRecord;
  network: N;
  holdsDefaultRoute: boolean;
}

export function localNetworksOf<N>(
  s: NodeSnapshot,
  driver: string,
  read: (n: NetworkIntent) => N,
): Map<string, N> {
  return networksOf(s.localNetworks, driver, read);
}

/** The networks of `driver` among `networks` (the node's own, or the cluster's), read. */
export function networksOf<N>(
  networks: Iterable<NetworkIntent>,
  driver: string,
  read: (n: NetworkIntent) => N,
): Map<string, N> {
  const out = new Map<string, N>();
  for (const n of networks) {
    if (n.driver !== driver) continue;
    try {
      out.set(n.id, read(n));
    } catch {
      // Skipped: see the header.
    }
  }
  return out;
}

export function localEndpointsOn<N>(
  s: NodeSnapshot,
  driver: string,
  networks: ReadonlyMap<string, N>,
): LocalEndpointOn<N>[] {
  const out: LocalEndpointOn<N>[] = [];
  for (const c of s.containers) {
    if (c.netns === undefined) continue;
    const routeHolder = defaultRouteEndpoint(c);
    for (const ep of c.endpoints) {
      const network = networks.get(ep.networkId);
      if (ep.driver !== driver || network === undefined) continue;
      out.push({
        key: endpointKey(c, ep),
        netns: c.netns,
        ep,
        network,
        holdsDefaultRoute: routeHolder === ep,
      });
    }
  }
  return out;
}
