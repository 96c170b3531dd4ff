/**
 * A network on the wire (`Network` of proto/control.proto), from the shape both the
 * managers' records and the agent's own networks have (common/cluster-types.ts): one
 * encoder, so a network a node owns and one the cluster owns print alike.
 */
import type { Network } from "../proto/generated/swarmnet/v1/Network.js";
import type { NetworkEndpoint } from "../proto/generated/swarmnet/v1/NetworkEndpoint.js";
import type { NetworkPeer } from "../proto/generated/swarmnet/v1/NetworkPeer.js";
import type { NetworkIntent } from "./cluster-types.js";

/** `NetworkIntent`, with the optional fields a stored record may leave out. */
export type NetworkShape = Omit<NetworkIntent, "vni" | "mtu" | "ipam"> & {
  vni?: number | undefined;
  mtu?: number | undefined;
  ipam: {
    driver: string;
    configs: {
      subnet: string;
      gateway: string;
      ipRange?: string | undefined;
      auxAddresses: Record<string, string>;
    }[];
    options: Record<string, string>;
  };
};

export interface NetworkUse {
  attached: string[];
  endpoints: NetworkEndpoint[];
  peers: NetworkPeer[];
  /** The node a local-scope network lives on. */
  node?: string;
}

export function networkToWire(n: NetworkShape, use: NetworkUse): Network {
  return {
    id: n.id,
    name: n.name,
    driver: n.driver,
    scope: n.scope,
    createdAt: n.createdAt,
    internal: n.internal,
    attachable: n.attachable,
    ingress: n.ingress,
    ipamDriver: n.ipam.driver,
    ipamConfigs: n.ipam.configs.map((c) => ({
      subnet: c.subnet,
      gateway: c.gateway,
      ipRange: c.ipRange ?? "",
      auxAddresses: c.auxAddresses,
    })),
    ipamOptions: n.ipam.options,
    options: n.options,
    labels: n.labels,
    vni: n.vni ?? 0,
    encrypted: n.encrypted,
    mtu: n.mtu ?? 0,
    ...use,
  };
}
