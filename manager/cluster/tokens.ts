/**
 * Join tokens, in Docker's format: `SWMTKN-1-<cluster fingerprint>-<secret>`.
 *
 * - the fingerprint (50 base-36 characters of SHA-256 over the cluster id; Docker hashes
 *   its root CA) tells a node which cluster the token belongs to, so a token of another
 *   cluster is refused with a message that says so;
 * - the secret (25 characters) decides the role: each cluster keeps one worker and one
 *   manager secret, and `swarm join-token --rotate ROLE` replaces one, after which the
 *   old token no longer joins (nodes already joined are unaffected: they hold their own
 *   credential).
 */
import { createHash } from "node:crypto";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { JoinTokenSecrets, NodeRole } from "../store/records.js";
import { sameSecret } from "./ids.js";

const PREFIX = "SWMTKN";
const VERSION = "1";
const FINGERPRINT_LENGTH = 50;

export function clusterFingerprint(clusterId: string): string {
  const digest = createHash("sha256").update(clusterId).digest("hex");
  return BigInt(`0x${digest}`).toString(36).padStart(FINGERPRINT_LENGTH, "0").slice(-FINGERPRINT_LENGTH);
}

export function formatJoinToken(clusterId: string, secret: string): string {
  return `${PREFIX}-${VERSION}-${clusterFingerprint(clusterId)}-${secret}`;
}

export function parseJoinToken(token: string): { fingerprint: string; secret: string } {
  const m = /^SWMTKN-1-([0-9a-z]{50})-([0-9a-z]{25})$/.exec(token.trim());
  if (m === null) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      "invalid join token: expected SWMTKN-1-<fingerprint>-<secret>",
    );
  }
  return { fingerprint: m[1] as string, secret: m[2] as string };
}

/** The role a token grants in this cluster, or an error saying why it does not join. */
export function roleForToken(clusterId: string, secrets: JoinTokenSecrets, token: string): NodeRole {
  const { fingerprint, secret } = parseJoinToken(token);
  if (fingerprint !== clusterFingerprint(clusterId)) {
    throw new SwarmnetError(ErrorCode.Unauthenticated, "join token belongs to another cluster");
  }
  if (sameSecret(secret, secrets.manager)) return "manager";
  if (sameSecret(secret, secrets.worker)) return "worker";
  throw new SwarmnetError(
    ErrorCode.Unauthenticated,
    "invalid join token: it was rotated or never valid (get the current one with 'swarmnet swarm join-token')",
  );
}
