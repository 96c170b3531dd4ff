/**
 * Runs this node's service tasks as the managers' intent says (the contract is written
 * at the top of agent/dispatcher/intent.ts): a task wanted running gets a container on its
 * networks with the addresses the scheduler allocated, and its status is reported; a task
 * whose networks change is changed in place (endpoints connected or disconnected, never a
 * restart: `service publish` relies on it); a task wanted shut down, or no longer in the
 * intent, is removed. A task's process that exits is reported failed, and the managers
 * replace it with a new task.
 *
 * `sync()` compares the intent with the agent's containers and acts on the difference;
 * it runs after every intent change and is serialized, so it is idempotent and a
 * restarted agent simply adopts the task containers it finds.
 */
import { BoundedFrequencyRunner } from "../common/bounded-frequency-runner.js";
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { Agent } from "./agent.js";
import {
  taskAttachments,
  type DispatcherClient,
  type IntentState,
  type TaskIntent,
} from "./dispatcher/index.js";
import type { Attachment } from "./attachments.js";
import { isTask, type ContainerRecord, type Containers, type TaskAttachment } from "./sandbox/index.js";
import { readyPorts } from "./sandbox/readiness.js";

type Reported = "running" | "failed" | "shutdown";

/**
 * A task's place on one network: its service's VIP there rides along for DNS (the
 * service name itself answers through the service, not as an alias of each task).
 */
function taskAttachment(intent: IntentState, task: TaskIntent, attachment: Attachment): TaskAttachment {
  const service = intent.services.get(task.serviceId);
  const vip =
    service?.endpointMode === "vip"
      ? service.vips.find((v) => v.networkId === attachment.intent.id)?.ip
      : undefined;
  return { attachment, aliases: [], ...(vip === undefined ? {} : { vip }) };
}

/** Timings of the task runner's passes. */
const TASK_SYNC = {
  // Every intent change is acted on at once; changes during a pass coalesce into the next.
  minIntervalMs: 0,
  // Intent changes trigger passes; nothing to do between them.
  maxIntervalMs: Infinity,
  // A pass that failed as a whole (not one task: those are reported) is tried again.
  retryInitialMs: 500,
  retryMaxMs: 10_000,
};

export class TaskRunner {
  private readonly runner: BoundedFrequencyRunner;
  private readonly containers: Containers;
  /** Last state reported per task, so each change is reported once. */
  private readonly reported = new Map<string, Reported>();

  constructor(
    private readonly agent: Agent,
    private readonly client: DispatcherClient,
    private readonly log: Logger,
  ) {
    this.containers = agent.containers;
    this.runner = new BoundedFrequencyRunner(async () => {
      const intent = this.agent.intent;
      if (intent !== undefined) await this.syncNow(intent);
    }, TASK_SYNC);
    this.runner.onPass((p) => {
      if (p.error !== undefined) this.log.error({ err: errorMessage(p.error) }, "task sync failed");
    });
    this.containers.onExit((c, code) => {
      const taskId = c.labels["taskId"];
      if (taskId !== undefined)
        this.report(taskId, c.labels["serviceId"] ?? "", "failed", code, `exit status ${code}`);
    });
  }

  /** Asks for a pass; calls while one is pending collapse into it. */
  sync(): Promise<void> {
    return this.runner.run();
  }

  stop(): void {
    this.runner.stop();
  }

  private async syncNow(intent: IntentState): Promise<void> {
    const containers = new Map<string, ContainerRecord>();
    for (const c of this.containers.list(true)) if (isTask(c)) containers.set(c.labels["taskId"] ?? "", c);
    for (const task of intent.tasks.values()) {
      const c = containers.get(task.id);
      if (task.desiredState === "shutdown") await this.shutdown(task, c);
      else if (c === undefined) await this.create(intent, task);
      else await this.update(intent, task, c);
    }
    for (const [taskId, c] of containers) {
      if (!intent.tasks.has(taskId)) {
        await this.containers.remove(c.id, true).catch(() => undefined);
        this.reported.delete(taskId);
      }
    }
  }

  private async create(intent: IntentState, task: TaskIntent): Promise<void> {
    try {
      await this.containers.run({
        id: task.id,
        name: task.containerName,
        networks: [],
        attachments: taskAttachments(intent, task).map((a) => taskAttachment(intent, task, a)),
        command: task.command,
        env: task.env,
        detach: true,
        labels: { taskId: task.id, serviceId: task.serviceId, serviceName: task.serviceName },
        readyPorts: readyPorts(task.ports),
      });
      this.report(task.id, task.serviceId, "running");
    } catch (err) {
      this.report(task.id, task.serviceId, "failed", undefined, `cannot start: ${errorMessage(err)}`);
    }
  }

  /** In place: networks joined or left to match the task; a stopped process is reported. */
  private async update(intent: IntentState, task: TaskIntent, c: ContainerRecord): Promise<void> {
    const want = new Set(task.networks.map((n) => n.networkId));
    for (const a of taskAttachments(intent, task)) {
      if (!c.endpoints.some((e) => e.networkId === a.intent.id)) {
        await this.containers.connectAttached(c.id, taskAttachment(intent, task, a));
      }
    }
    for (const e of c.endpoints) {
      if (!want.has(e.networkId)) await this.containers.disconnect(c.id, e.networkId, true);
    }
    if (c.status === "exited")
      this.report(task.id, task.serviceId, "failed", c.exitCode, `exit status ${c.exitCode}`);
    else this.report(task.id, task.serviceId, "running");
  }

  private async shutdown(task: TaskIntent, c: ContainerRecord | undefined): Promise<void> {
    if (c !== undefined) await this.containers.remove(c.id, true);
    this.report(task.id, task.serviceId, "shutdown");
  }

  private report(
    taskId: string,
    serviceId: string,
    state: Reported,
    exitCode?: number,
    message?: string,
  ): void {
    if (this.reported.get(taskId) === state) return;
    this.reported.set(taskId, state);
    this.client
      .reportTaskStatus({
        taskId,
        serviceId,
        state,
        ...(exitCode === undefined ? {} : { exitCode }),
        ...(message === undefined ? {} : { message }),
      })
      .catch((err: unknown) => this.log.warn({ err: errorMessage(err), taskId }, "task status not reported"));
  }
}
