/**
 * Driving a lab from tests the way a person does: `swarmnet lab exec NODE -- swarmnet …`,
 * with polling helpers for things that converge (gossip, detection) — bounded by a
 * number of tries, generous enough for a slow machine.
 */
import { swarmnet, type CliResult } from "./cli.js";

export class LabCli {
  constructor(readonly lab: string) {}

  /** `swarmnet …` run inside node `node` of the lab. */
  sx(node: string, ...args: string[]): Promise<CliResult> {
    return swarmnet(["lab", "exec", "--name", this.lab, node, "--", "swarmnet", ...args]);
  }

  /** Any command inside node `node` (or the client). */
  exec(node: string, ...argv: string[]): Promise<CliResult> {
    return swarmnet(["lab", "exec", "--name", this.lab, node, "--", ...argv]);
  }

  /** Runs `sx` and fails the test with its stderr unless it succeeded. */
  async ok(node: string, ...args: string[]): Promise<string> {
    const r = await this.sx(node, ...args);
    if (r.exitCode !== 0) throw new Error(`swarmnet ${args.join(" ")} on ${node}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** One ping from a container, true if answered. */
  async ping(node: string, container: string, ip: string): Promise<boolean> {
    return (await this.sx(node, "exec", container, "--", "ping", "-c1", "-W1", ip)).exitCode === 0;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it is true, up to `tries` times `everyMs` apart; returns the last answer. */
export async function eventually(check: () => Promise<boolean>, tries = 60, everyMs = 500): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return false;
}
