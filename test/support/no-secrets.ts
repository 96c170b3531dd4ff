/**
 * "No key bytes or token secrets" checks for what the cluster shows (metrics, events, the
 * live page): the join tokens' secret parts must not appear, and neither may anything
 * shaped like key bytes (a long run of hex or base64 — ids here are 25 characters).
 */
import assert from "node:assert/strict";
import type { LabCluster } from "./lab-cluster.js";

const KEY_SHAPED = /[A-Za-z0-9+/=]{32,}/;

/** The secret parts of the cluster's current join tokens. */
export async function tokenSecrets(lab: LabCluster): Promise<string[]> {
  const [info] = JSON.parse(await lab.ok(["swarm", "inspect", "--show-tokens"])) as {
    JoinTokens: { Worker: string; Manager: string };
  }[];
  assert.ok(info, "swarm inspect printed nothing");
  return [info.JoinTokens.Worker, info.JoinTokens.Manager].map((t) => t.split("-").at(-1) ?? t);
}

export function assertNoSecrets(text: string, secrets: readonly string[], where: string): void {
  for (const s of secrets) assert.ok(!text.includes(s), `a join-token secret in ${where}`);
  const long = KEY_SHAPED.exec(text);
  assert.equal(long, null, `something like key bytes in ${where}: ${long?.[0] ?? ""}`);
}
