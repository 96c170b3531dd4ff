/**
 * The agent's public face: `runAgent` starts a node agent and keeps it up until SIGTERM.
 * Today it probes the kernel, logs its identity and capabilities, and stays up; the
 * dispatcher stream, gossip and the drivers plug in here as they land.
 */
import { Executor } from "../common/executor.js";
import { createLogger } from "../common/logger.js";
import { loadAgentConfig, type AgentConfig } from "./config.js";
import { probeKernel, type KernelCapabilities } from "./probe.js";

export { probeKernel, formatCapabilities, hasFeature, type KernelCapabilities } from "./probe.js";
export { loadAgentConfig, AGENT_DEFAULTS, type AgentConfig } from "./config.js";

export class Agent {
  private running = false;
  capabilities: KernelCapabilities | undefined;
  private readonly log = createLogger("agent");

  constructor(
    readonly config: AgentConfig,
    private readonly ex: Executor = new Executor(),
  ) {}

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.capabilities = await probeKernel(this.ex);
    const available = this.capabilities.features.filter((f) => f.available).map((f) => f.name);
    const missing = this.capabilities.features.filter((f) => !f.available).map((f) => f.name);
    this.log.info(
      {
        node: this.config.nodeName,
        advertiseAddr: this.config.advertiseAddr,
        managers: this.config.managers,
        kernel: this.capabilities.kernelRelease,
        available,
        missing,
      },
      "agent started",
    );
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.log.info({ node: this.config.nodeName }, "agent stopped");
  }
}

/** Runs an agent until SIGTERM or SIGINT. */
export async function runAgent(flags: Partial<Record<keyof AgentConfig, unknown>>): Promise<void> {
  const agent = new Agent(loadAgentConfig(flags));
  await agent.start();
  await untilSignal();
  await agent.stop();
}

export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const keepAlive = setInterval(() => {}, 1 << 30);
    const done = (sig: NodeJS.Signals) => {
      clearInterval(keepAlive);
      resolve(sig);
    };
    process.once("SIGTERM", done);
    process.once("SIGINT", done);
  });
}
