/**
 * Waiting for a service to converge, drawn as `docker service create` draws it: one line
 * per task slot with a bar that fills as the task moves through its states, an overall
 * count, and `verify: Service converged` at the end.
 *
 *   tty:    the block is redrawn in place (cursor up, clear line) on every poll
 *   plain:  one line whenever the overall count or a slot's state changes (logs, pipes)
 *
 * Converged: as many tasks running as the service wants, no task still running that
 * should stop, and the same tasks still so after the service's update monitor
 * (`--update-monitor`; 0 = `monitorMs`, Docker's default 5 s, as docker/cli's progress
 * does) — Docker's "verify: Waiting 5 seconds to verify that tasks are stable...": a task
 * that starts and dies at once is seen running first, and is caught by that wait. Polls
 * `service inspect` + `service ps` (nothing new on the managers).
 *
 * Bounded failure: Docker waits forever on a task that keeps failing; here, once
 * `failureLimit` tasks failed since the wait began, or a task stayed pending longer than
 * `pendingLimitMs` (no node can take it), the wait ends with the task's error. The
 * service itself stays as it is (as after Ctrl-C in Docker): `service ps` shows why.
 */
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import type { ListTasksResponse__Output } from "../proto/generated/swarmnet/v1/ListTasksResponse.js";
import type { Service__Output } from "../proto/generated/swarmnet/v1/Service.js";
import type { Task__Output } from "../proto/generated/swarmnet/v1/Task.js";
import type { ManagerClient } from "./manager-client.js";

export const PROGRESS_DEFAULTS = {
  // Four looks a second: smooth enough for a person, two small RPCs each.
  pollMs: 250,
  // Three failed tasks: one may be bad luck, three is a task that cannot start.
  failureLimit: 3,
  // Long enough for a node to come back (the scheduler's grace is 5 s), short enough
  // that a replica no node can take is reported, not waited on.
  pendingLimitMs: 30_000,
  // Docker's default update monitor: how long the tasks must stay running to count, for
  // a service whose own monitor is 0.
  monitorMs: 5_000,
  barWidth: 50,
};

export type ProgressOptions = typeof PROGRESS_DEFAULTS & {
  tty: boolean;
  write: (text: string) => void;
};

/**
 * How far along each state is, out of 9 — Docker's scale (new … running), mapped onto
 * the states the managers report.
 */
const STEP: Record<string, number> = { new: 1, pending: 3, assigned: 5, running: 9 };
const STEPS = 9;

export interface Slot {
  label: string;
  state: string;
  message: string;
}

/** One slot per wanted task: replicated `1/3`, global by node; `new` until a task exists. */
export function slotsOf(s: Service__Output, tasks: readonly Task__Output[]): Slot[] {
  const current = tasks.filter((t) => t.serviceId === s.id && t.desiredState === "running");
  if (s.mode === "global") {
    return current.map((t) => ({
      label: t.nodeName || t.nodeId.slice(0, 12),
      state: t.state,
      message: t.message,
    }));
  }
  return Array.from({ length: s.replicas }, (_, i) => {
    const t = current.find((x) => x.slot === i + 1);
    return { label: `${i + 1}/${s.replicas}`, state: t?.state ?? "new", message: t?.message ?? "" };
  });
}

export function bar(state: string, width: number): string {
  const done = Math.round(((STEP[state] ?? 0) / STEPS) * width);
  if (done <= 0) return `[${" ".repeat(width)}]`;
  return `[${"=".repeat(done - 1)}>${" ".repeat(width - done)}]`;
}

export function frame(slots: readonly Slot[], running: number, desired: number, width: number): string[] {
  const pad = Math.max(0, ...slots.map((s) => s.state.length));
  return [
    `overall progress: ${running} out of ${desired} tasks`,
    ...slots.map((s) => {
      const text = `${s.label}: ${s.state.padEnd(pad)} ${bar(s.state, width)}`;
      return s.message !== "" && s.state !== "running" ? `${text} ${s.message}` : text;
    }),
  ];
}

export async function waitConverged(
  client: ManagerClient,
  ref: string,
  options: Partial<typeof PROGRESS_DEFAULTS> & Pick<ProgressOptions, "tty" | "write">,
): Promise<void> {
  const o: ProgressOptions = { ...PROGRESS_DEFAULTS, ...options };
  const started = Date.now();
  const pendingSince = new Map<string, number>();
  let drawn = 0;
  let lastPlain: string[] = [];
  /** Since when the same running tasks have made the service whole (undefined: not whole). */
  let stable: { since: number; ids: string } | undefined;
  for (;;) {
    const s = await client.call<Service__Output>((c, opts, cb) =>
      c.services.Inspect({ service: ref }, opts, cb),
    );
    const { tasks } = await client.call<ListTasksResponse__Output>((c, opts, cb) =>
      c.services.ListTasks({ service: s.id }, opts, cb),
    );
    const monitorMs = Number(s.updateMonitorMs) > 0 ? Number(s.updateMonitorMs) : o.monitorMs;
    const slots = slotsOf(s, tasks);
    const up = tasks.filter((t) => t.desiredState === "running" && t.state === "running");
    const running = up.length;
    const stray = tasks.some((t) => t.desiredState !== "running" && t.state === "running");
    const whole = running === s.desiredTasks && !stray;
    const ids = up
      .map((t) => t.id)
      .sort()
      .join();
    if (!whole) stable = undefined;
    else if (stable?.ids !== ids) stable = { since: Date.now(), ids };
    const lines = frame(slots, running, s.desiredTasks, o.barWidth);
    if (stable !== undefined) {
      const left = Math.max(1, Math.ceil((monitorMs - (Date.now() - stable.since)) / 1000));
      lines.push(
        `verify: Waiting ${o.tty ? left : Math.round(monitorMs / 1000)} seconds to verify that tasks are stable...`,
      );
    }
    if (o.tty) {
      o.write((drawn > 0 ? `\x1b[${drawn}A` : "") + lines.map((l) => `\x1b[2K${l}\n`).join(""));
      drawn = lines.length;
    } else {
      o.write(
        lines
          .filter((l, i) => lastPlain[i] !== l)
          .map((l) => `${l}\n`)
          .join(""),
      );
      lastPlain = lines;
    }
    if (stable !== undefined && Date.now() - stable.since >= monitorMs) {
      o.write(`${o.tty ? "\x1b[1A\x1b[2K" : ""}verify: Service converged\n`);
      return;
    }
    // A failure counts in a slot the service still wants: tasks a scale-down stops may exit
    // with a signal's status, which is no failure to converge.
    const failed = tasks.filter(
      (t) =>
        t.state === "failed" &&
        Date.parse(t.stateAt) >= started - 1000 &&
        (s.mode === "global" || t.slot <= s.replicas),
    );
    const lastFailed = failed.sort((a, b) => Date.parse(b.stateAt) - Date.parse(a.stateAt))[0];
    if (lastFailed !== undefined && failed.length >= o.failureLimit) {
      throw notConverged(
        s.name,
        `${failed.length} tasks failed, the last ${lastFailed.name}: ${lastFailed.message || `exit code ${lastFailed.exitCode}`}`,
      );
    }
    for (const t of tasks) {
      if (t.desiredState !== "running" || t.state !== "pending") pendingSince.delete(t.id);
      else if (!pendingSince.has(t.id)) pendingSince.set(t.id, Date.now());
      else if (Date.now() - (pendingSince.get(t.id) ?? 0) > o.pendingLimitMs) {
        throw notConverged(
          s.name,
          `${t.name} still pending after ${o.pendingLimitMs / 1000} s: ${t.message || "no node can take it"}`,
        );
      }
    }
    await new Promise((r) => setTimeout(r, o.pollMs));
  }
}

function notConverged(service: string, why: string): SwarmnetError {
  return new SwarmnetError(
    ErrorCode.Unavailable,
    `service ${service} did not converge: ${why} (the service exists; see 'swarmnet service ps ${service}')`,
  );
}
