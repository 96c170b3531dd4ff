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
