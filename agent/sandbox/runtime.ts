/**
 * The sandbox runtime: a container is a network namespace plus a process started inside
 * it (through the executor). No image, no filesystem isolation: swarmnet is the network
 * layer, and its tasks are host programs in their own network. A container on the host
 * network has no namespace of its own: its process runs in the node's (the agent's).
 *
 * Stopping sends SIGTERM to every process in the namespace (for a host-network container:
 * its process group), then SIGKILL after the grace period; removing also deletes the
 * namespace (which deletes its veth ends).
 */
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import type { DetachedProcess, Executor } from "../../common/executor.js";
import { isAlive, stopProcesses } from "../../common/process.js";
import type { ContainerRecord } from "./container.js";
import { notListening, type ReadyPort } from "./readiness.js";

export class SandboxRuntime {
  constructor(
    private readonly ex: Executor,
    private readonly logDir: string,
    /** The container's own resolv.conf (the embedded DNS's), when it has one. */
    private readonly resolvConf: (c: ContainerRecord) => string | undefined = () => undefined,
  ) {
    mkdirSync(logDir, { recursive: true });
  }

  async create(c: ContainerRecord): Promise<void> {
    if (c.netns === undefined) return;
    await this.ex.netnsAdd(c.netns);
    await this.ex.ip(["link", "set", "lo", "up"], { netns: c.netns });
  }

  logFile(c: ContainerRecord): string {
    return join(this.logDir, `${c.id}.log`);
  }

  /** Starts the container's process; `exited` settles with its exit code while this agent lives. */
  start(c: ContainerRecord): Promise<DetachedProcess> {
    return this.ex.startDetachedNoFork(c.command, {
      netns: c.netns,
      logFile: this.logFile(c),
      env: { ...c.env },
      ...(c.netns === undefined ? {} : { resolvConf: this.resolvConf(c) }),
    });
  }

  /** The ports of `wanted` the container's process does not listen on yet. */
  notListening(c: ContainerRecord, wanted: readonly ReadyPort[]): ReadyPort[] {
    return notListening(c.pid, wanted);
  }

  isRunning(c: ContainerRecord): boolean {
    return c.pid > 0 && isAlive(c.pid);
  }

  async stop(c: ContainerRecord, graceMs: number): Promise<void> {
    if (c.netns === undefined) {
      // Its own process group (started detached): the whole group goes.
      if (c.pid > 0) await stopProcesses([c.pid], graceMs, { group: true });
      return;
    }
    const pids = await this.ex.netnsPids(c.netns);
    await stopProcesses(c.pid > 0 ? [...new Set([c.pid, ...pids])] : pids, graceMs);
  }

  async remove(c: ContainerRecord): Promise<void> {
    await this.stop(c, 0);
    if (c.netns !== undefined) await this.ex.netnsDelete(c.netns);
  }

  /** Whether a process of the node listens on the port (the node's own namespace). */
  listening(protocol: "tcp" | "udp", port: number): Promise<boolean> {
    return this.ex.listening(protocol, port);
  }

  /** Whether the sandbox survived (a host-network container's is the node's: always). */
  async exists(c: ContainerRecord, namespaces: readonly string[]): Promise<boolean> {
    return c.netns === undefined || namespaces.includes(c.netns);
  }
}
