/**
 * Which reconcilers a change touches — the rule that keeps a change to one service from
 * re-reading every overlay sandbox. Pure; the agent calls the loop with the result.
 *
 *   intent events         by kind (below)
 *   endpoint facts        a network's gossiped endpoints: whoever reads remote endpoints
 *   local containers      a container created, changed or removed: everything local
 *
 * Touching is cheap (a reconciler whose desired state did not change does no kernel
 * work), so the rule errs on the side of touching; what it must never do is miss one.
 */
import type { IntentEvent } from "../dispatcher/index.js";

/** The agent's reconcilers by name. */
export const R = {
  overlay: "overlay",
  bridge: "bridge",
  macvlan: "macvlan",
  ipvlan: "ipvlan",
  encryption: "encryption",
  gateway: "gateway",
  mesh: "mesh",
  containerMesh: "container-mesh",
  endpointFacts: "endpoint-facts",
  // The embedded DNS's sockets and resolv.conf files (answers need no pass).
  dns: "dns",
} as const;

export function touchedByIntent(e: IntentEvent): string[] {
  switch (e.kind) {
    case "networkUpsert":
    case "networkRemoved":
      return [R.overlay, R.encryption, R.mesh, R.containerMesh, R.endpointFacts, R.dns];
    case "serviceUpsert":
    case "serviceRemoved":
      return [R.mesh, R.containerMesh];
    case "taskUpsert":
    case "taskRemoved":
      // Host-mode ports go to this node's tasks; the task's container changes through the
      // task runner, which touches everything local itself.
      return [R.mesh];
    case "ingressEndpoint":
      return [R.overlay, R.mesh, R.endpointFacts];
    case "cluster":
      return [R.overlay, R.mesh];
    case "keys":
      return [R.encryption];
    case "seeds":
    case "managers":
      return [];
  }
}

/** A network's gossiped endpoints changed. */
export const TOUCHED_BY_FACTS: readonly string[] = [
  R.overlay,
  R.encryption,
  R.mesh,
  R.containerMesh,
  // It checks that no entry this node owns outlives its endpoint (one of a previous run).
  R.endpointFacts,
];

/** A local container appeared, changed (endpoints, ports, status) or went away. */
export const TOUCHED_BY_CONTAINERS: readonly string[] = Object.values(R);
