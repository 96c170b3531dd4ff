/**
 * What agents report about their tasks (Dispatcher.ReportTaskStatus), written into the
 * task records in one transaction per report:
 *
 *   running    the process runs (a task not yet dead becomes `running`)
 *   failed     the process exited (exit code, message): the scheduler shuts the task
 *              down and refills its slot after the restart delay
 *   shutdown   the sandbox is gone (after desired shutdown, or on its own): the task is
 *              released — its addresses are freed — and kept as history
 *
 * A report about a task of another node, an unknown task or a released one changes
 * nothing (a late report after a reschedule is normal, not an error). The caller has
 * already checked the node's session.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { keys } from "../store/keys.js";
import type { TaskRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import { ServiceTxn } from "./service-txn.js";
import { isTerminal } from "./tasks.js";

export type ReportedState = "running" | "failed" | "shutdown";

export interface TaskStatusUpdate {
  taskId: string;
  /** The task's service id ("" = look it up with `findService`). */
  serviceId: string;
  state: string;
  exitCode: number;
  message: string;
}

function checkState(raw: string): ReportedState {
  if (raw === "running" || raw === "failed" || raw === "shutdown") return raw;
  throw new SwarmnetError(
    ErrorCode.InvalidArgument,
    `invalid task state ${JSON.stringify(raw)} (use running, failed or shutdown)`,
  );
}

/** The task as it is after one report (undefined: nothing to change). */
export function applyReport(
  t: TaskRecord,
  state: ReportedState,
  exitCode: number,
  message: string,
  at: string,
): TaskRecord | "release" | undefined {
  if (t.released) return undefined;
  switch (state) {
    case "running":
      if (isTerminal(t.state) || t.state === "running") return undefined;
      return { ...t, state: "running", message: "", stateAt: at, updatedAt: at };
    case "failed":
      if (t.state === "failed") return undefined;
      return {
        ...t,
        state: "failed",
        exitCode,
        message: message || `task exited with code ${exitCode}`,
        stateAt: at,
        updatedAt: at,
      };
    case "shutdown":
      return "release";
  }
}

export async function applyTaskStatus(
  store: Store,
  nodeId: string,
  updates: readonly TaskStatusUpdate[],
  findService: (taskId: string) => string | undefined,
  now: () => Date = () => new Date(),
): Promise<void> {
  const checked = updates.map((u) => ({ ...u, state: checkState(u.state) }));
  const at = now().toISOString();
  await store.transact(async (tx) => {
    const st = new ServiceTxn(tx);
    for (const u of checked) {
      const serviceId = u.serviceId || findService(u.taskId);
      if (serviceId === undefined) continue;
      const t = await tx.get<TaskRecord>(keys.task(serviceId, u.taskId));
      if (t === undefined || t.nodeId !== nodeId) continue;
      const next = applyReport(t, u.state, u.exitCode, u.message, at);
      if (next === undefined) continue;
      if (next !== "release") {
        st.putTask(next);
        continue;
      }
      const keepState = t.state === "failed" || t.state === "orphaned";
      st.release(
        t,
        keepState
          ? {}
          : {
              state: "shutdown",
              stateAt: at,
              message: u.message || (t.desiredState === "running" ? "task stopped" : t.message),
            },
        at,
      );
    }
  });
}
