/**
 * Network modes: host and none take a container's whole sandbox, so such a container is
 * on no other network — checked here, refused with Docker's own words (moby's
 * runconfig/errors.go), since scripts written for Docker match on them.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { NetworkDriver } from "../drivers/driver.js";
import { HOST } from "../drivers/host/host-driver.js";
import { NULL } from "../drivers/null/null-driver.js";

/** Docker's refusals (moby runconfig/errors.go), word for word. */
export const ERR = {
  hostNetwork: "container cannot be disconnected from host network or connected to host network",
  sharedNetwork:
    "container sharing network namespace with another container or host cannot be connected to any other network",
  noNetwork:
    "container cannot be connected to multiple networks with one of the networks in private (none) mode",
  mixedModes: "conflicting options: cannot attach both user-defined and non-user-defined network-modes",
  ipOnPredefined: "user specified IP address is supported on user defined networks only",
  aliasOnPredefined: "network-scoped alias is supported only for containers in user defined networks",
};

export function conflict(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.Conflict, message);
}

/**
 * Host and none take the whole sandbox: a container on one is on nothing else. `current`
 * holds the drivers of the networks the container is on; `building`: `run` is still
 * choosing them (Docker's message for two network modes at once).
 */
export function checkJoinable(current: readonly string[], driver: NetworkDriver, building: boolean): void {
  const exclusive = (d: string) => d === HOST || d === NULL;
  if (current.length === 0 || (!current.some(exclusive) && !exclusive(driver.name))) return;
  if (building) throw conflict(ERR.mixedModes);
  if (driver.name === HOST) throw conflict(ERR.hostNetwork);
  if (current.includes(HOST)) throw conflict(ERR.sharedNetwork);
  throw conflict(ERR.noNetwork);
}
