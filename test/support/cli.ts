/** Runs the real `swarmnet` CLI as a child process, as a user would. */
import { execa } from "execa";
import { CLI_MAIN } from "../../deploy/lab/lab.js";

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function swarmnet(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 300_000,
): Promise<CliResult> {
  const r = await execa(process.execPath, [CLI_MAIN, ...args], {
    reject: false,
    env: { SWARMNET_LOG_LEVEL: "warn", ...env },
    timeout: timeoutMs,
  });
  return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/**
 * For `service create` in tests that are not about the convergence wait: each create,
 * update, scale or publish without `-d` then watches the tasks for 1 s, not Docker's
 * default 5 s (the wait still checks that they stay running; the suite saves 4 s a wait).
 */
export const BRIEF_MONITOR = ["--update-monitor", "1s"] as const;
