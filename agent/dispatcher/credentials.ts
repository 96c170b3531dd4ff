/**
 * How a node knows it belongs to a cluster: `<state dir>/cluster.json`, written by
 * `swarmnet swarm init|join` (run on the node) next to the node's certificate
 * (`<state dir>/certificates/`, common/pki/node-files.ts — the certificate is the
 * credential), and removed by `swarmnet swarm leave`. The agent reads it at start and
 * watches for it, so joining or leaving never needs an agent restart.
 *
 * Written with mode 0600, atomically (temp file + rename) so the agent never reads half
 * of it.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

export interface ClusterCredentials {
  clusterId: string;
  nodeId: string;
  role: "manager" | "worker";
  /** Managers known at join time (host:port); the dispatcher stream keeps it current. */
  managers: string[];
  joinedAt: string;
}

export const CREDENTIALS_FILE = "cluster.json";

export function credentialsPath(stateDir: string): string {
  return join(stateDir, CREDENTIALS_FILE);
}

/** The node's credentials, or undefined if it has not joined (or the file is unreadable). */
export function readCredentials(stateDir: string): ClusterCredentials | undefined {
  const file = credentialsPath(stateDir);
  if (!existsSync(file)) return undefined;
  try {
    const v = JSON.parse(readFileSync(file, "utf8")) as Partial<ClusterCredentials>;
    if (typeof v.nodeId !== "string" || typeof v.clusterId !== "string") return undefined;
    return {
      clusterId: v.clusterId,
      nodeId: v.nodeId,
      role: v.role === "manager" ? "manager" : "worker",
      managers: Array.isArray(v.managers) ? v.managers.filter((m): m is string => typeof m === "string") : [],
      joinedAt: typeof v.joinedAt === "string" ? v.joinedAt : "",
    };
  } catch {
    return undefined;
  }
}

export function writeCredentials(stateDir: string, creds: ClusterCredentials): void {
  try {
    mkdirSync(stateDir, { recursive: true });
    const tmp = `${credentialsPath(stateDir)}.tmp`;
    writeFileSync(tmp, JSON.stringify(creds, null, 2) + "\n", { mode: 0o600 });
    renameSync(tmp, credentialsPath(stateDir));
  } catch (err) {
    throw new SwarmnetError(ErrorCode.Internal, `cannot write ${credentialsPath(stateDir)}: ${String(err)}`, {
      cause: err,
    });
  }
}

export function removeCredentials(stateDir: string): void {
  rmSync(credentialsPath(stateDir), { force: true });
}
