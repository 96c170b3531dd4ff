/**
 * The networks every node has without asking anyone, as Docker's daemon has them:
 *
 *   bridge   driver bridge, the default for a container with no `--network`
 *            (172.17.0.0/16, gateway .1, Linux bridge `swarmnet0`; Docker's docker0)
 *   host     driver host: the node's own network stack
 *   none     driver null: a namespace with only `lo`
 *
 * They belong to the node, not the cluster: no manager is asked about them, they exist
 * before the node joins a swarm, and `network ls` lists them beside the cluster's. Their
 * ids are derived from the node's name so they are stable across agent restarts.
 */
import { createHash } from "node:crypto";
import type { NetworkIntent } from "../common/cluster-types.js";

export const DEFAULT_BRIDGE = "bridge";
export const DEFAULT_BRIDGE_SUBNET = "172.17.0.0/16";
export const DEFAULT_BRIDGE_GATEWAY = "172.17.0.1";
export const DEFAULT_BRIDGE_DEVICE = "swarmnet0";

function network(
  nodeName: string,
  name: string,
  driver: string,
  ipam: NetworkIntent["ipam"]["configs"],
  options: Record<string, string>,
): NetworkIntent {
  return {
    id: createHash("sha256").update(`${nodeName}/${name}`).digest("hex"),
    name,
    driver,
    scope: "local",
    createdAt: "",
    internal: false,
    attachable: false,
    ingress: false,
    ipam: { driver: "default", configs: ipam, options: {} },
    options,
    labels: {},
    vni: undefined,
    encrypted: false,
    mtu: undefined,
  };
}

export function predefinedNetworks(nodeName: string): NetworkIntent[] {
  return [
    network(
      nodeName,
      DEFAULT_BRIDGE,
      "bridge",
      [
        {
          subnet: DEFAULT_BRIDGE_SUBNET,
          gateway: DEFAULT_BRIDGE_GATEWAY,
          ipRange: undefined,
          auxAddresses: {},
        },
      ],
      {
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.name": DEFAULT_BRIDGE_DEVICE,
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
      },
    ),
    network(nodeName, "host", "host", [], {}),
    network(nodeName, "none", "null", [], {}),
  ];
}

/**
 * A predefined network by exact name or id; id prefixes are left to the managers, whose
 * networks they would otherwise shadow.
 */
export function findPredefined(all: readonly NetworkIntent[], ref: string): NetworkIntent | undefined {
  return all.find((n) => n.name === ref || n.id === ref);
}
