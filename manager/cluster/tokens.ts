/**
 * Which role a join token grants (format and parsing: common/pki/join-token.ts).
 *
 * - the CA digest must be this cluster's (the digest of its trust bundle): a token of
 *   another cluster, or one from before a CA rotation, is refused with a message that
 *   says so — the joining node has already refused a manager whose CA does not match;
 * - the secret decides the role: each cluster keeps one worker and one manager secret,
 *   and `swarm join-token --rotate ROLE` replaces one, after which the old token no
 *   longer joins (nodes already joined keep their certificates).
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { parseJoinToken } from "../../common/pki/join-token.js";
import type { JoinTokenSecrets, NodeRole } from "../store/records.js";
import { sameSecret } from "./ids.js";

/** The role a token grants in this cluster, or an error saying why it does not join. */
export function roleForToken(caDigest: string, secrets: JoinTokenSecrets, token: string): NodeRole {
  const { digest, secret } = parseJoinToken(token);
  if (digest !== caDigest) {
    throw new SwarmnetError(
      ErrorCode.Unauthenticated,
      "join token does not match this cluster's CA: a token of another cluster, or one from before a CA rotation",
    );
  }
  if (sameSecret(secret, secrets.manager)) return "manager";
  if (sameSecret(secret, secrets.worker)) return "worker";
  // Docker: "A valid join token is necessary to join this cluster". The token's form was
  // right (it parsed, its CA is ours): say so, and never echo the secret.
  throw new SwarmnetError(
    ErrorCode.Unauthenticated,
    "this join token is not valid for this cluster: its secret is not the cluster's (wrong, or rotated); get the current one with 'swarmnet swarm join-token worker|manager' on a manager",
  );
}
