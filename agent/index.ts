/**
 * The agent's public face. `runAgent` starts a node agent — kernel probe, container
 * sandboxes, the overlay driver, the control socket for the node's CLI — and keeps it up
 * until SIGTERM. Stopping leaves containers and kernel state in place for the next agent
 * to adopt.
 */
import { HttpEndpoint } from "../common/http-endpoint.js";
import { createLogger } from "../common/logger.js";
import { metricsRoute } from "../common/metrics.js";
import { untilSignal } from "../common/process.js";
import { traceRoute } from "../common/trace-ring.js";
import { Agent } from "./agent.js";
import { loadAgentConfig, type AgentConfig } from "./config.js";
import { ControlServer } from "./control/index.js";
import { agentSocketPath } from "./control/socket.js";
import { ClusterMembership, readCredentials } from "./dispatcher/index.js";
import { ClusterLink } from "./cluster-link.js";

export { Agent, type AgentDeps } from "./agent.js";
export type { RunOptions, AttachOptions } from "./sandbox/index.js";
export { probeKernel, formatCapabilities, hasFeature, type KernelCapabilities } from "./probe.js";
export { loadAgentConfig, AGENT_DEFAULTS, type AgentConfig } from "./config.js";
export { AgentClient, ControlServer } from "./control/index.js";
export * from "./attachments.js";
export * as dispatcher from "./dispatcher/index.js";

export { agentSocketPath } from "./control/socket.js";

/** Runs an agent until SIGTERM or SIGINT. */
export async function runAgent(flags: Partial<Record<keyof AgentConfig, unknown>>): Promise<void> {
  const config = loadAgentConfig(flags);
  const agent = new Agent(config, { joined: readCredentials(config.stateDir) !== undefined });
  await agent.start();
  let link: ClusterLink | undefined;
  const control = new ControlServer(agent, agentSocketPath(agent.config.stateDir), () => link !== undefined);
  const log = createLogger("agent");
  await control.start();
  const http = new HttpEndpoint(config.metricsAddr, log.child({ component: "metrics" }));
  http.route("/metrics", metricsRoute(agent.metrics.registry));
  http.route("/trace", traceRoute());
  await http.start();
  // Joined a cluster (cluster.json in the state dir) → the dispatcher stream to the managers.
  const membership = new ClusterMembership({
    stateDir: agent.config.stateDir,
    hostname: agent.config.nodeName,
    advertiseAddr: agent.config.advertiseAddr,
    managers: agent.config.managers,
    capabilities: () => agent.description(),
    log: log.child({ component: "dispatcher" }),
  });
  membership.on("joined", (client) => {
    link?.detach();
    link = new ClusterLink(agent, client, log);
    agent.clusterAttached = true;
  });
  membership.on("left", () => {
    link?.detach();
    link = undefined;
    agent.clusterAttached = false;
  });
  membership.start();
  await untilSignal();
  await membership.stop();
  await http.stop();
  await control.stop();
  await agent.stop();
}
