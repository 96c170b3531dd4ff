/**
 * Where the CLI finds this node's agent: `$SWARMNET_AGENT_SOCKET`, else the `agentSocket`
 * of the JSON file in `$SWARMNET_CONFIG` (the lab writes one per node), else the default
 * state folder's socket.
 */
import { readConfigFile } from "../common/config.js";
import { AGENT_DEFAULTS } from "../agent/config.js";
import { AgentClient } from "../agent/control/client.js";
import { agentSocketPath } from "../agent/control/socket.js";

export function agentSocket(): string {
  const fromEnv = process.env["SWARMNET_AGENT_SOCKET"];
  if (fromEnv) return fromEnv;
  const file = process.env["SWARMNET_CONFIG"];
  if (file) {
    const socket = readConfigFile(file)["agentSocket"];
    if (typeof socket === "string") return socket;
  }
  return agentSocketPath(AGENT_DEFAULTS.stateDir);
}

/** Runs `fn` with a client for this node's agent. */
export function withAgent<T>(fn: (agent: AgentClient) => Promise<T>): Promise<T> {
  return fn(new AgentClient(agentSocket()));
}
