/**
 * Who "this node" is for `swarm init|join|leave` and `node ls` (which marks it): its
 * name, advertise address, underlay addresses and agent state dir, from flags, then the
 * lab's per-node config file ($SWARMNET_CONFIG), then the machine itself. Underlay
 * addresses are read from the node's interfaces (every non-loopback IPv4 with its
 * prefix), which inside a lab node are exactly its underlay.
 */
import { hostname } from "node:os";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { readCredentials, type ClusterCredentials } from "../agent/dispatcher/credentials.js";
import { interfaceAddresses } from "../agent/dispatcher/membership.js";
import { nodeConfigFile, nodeStateDir } from "./manager-client.js";

export interface NodeIdentity {
  hostname: string;
  advertiseAddr: string;
  underlayAddrs: string[];
  stateDir: string;
}

function field(cfg: Record<string, unknown>, name: string): string | undefined {
  const v = cfg[name];
  return typeof v === "string" && v !== "" ? v : undefined;
}

export function nodeIdentity(flags: { advertiseAddr?: string; stateDir?: string }): NodeIdentity {
  const cfg = nodeConfigFile();
  const underlay = interfaceAddresses();
  const advertiseAddr = flags.advertiseAddr ?? field(cfg, "advertiseAddr") ?? underlay[0]?.split("/")[0];
  if (advertiseAddr === undefined) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      "cannot tell this node's address: give --advertise-addr IP",
    );
  }
  return {
    hostname: field(cfg, "node") ?? hostname(),
    advertiseAddr,
    underlayAddrs: underlay,
    stateDir: nodeStateDir(flags.stateDir),
  };
}

/** The credentials of this node, if it joined a cluster. */
export function localCredentials(stateDir?: string): ClusterCredentials | undefined {
  return readCredentials(nodeStateDir(stateDir));
}
