/**
 * Join tokens, in Docker's format: `SWMTKN-1-<CA digest>-<secret>`.
 *
 * - the CA digest (50 base-36 characters of SHA-256 over the cluster's trust bundle, see
 *   `bundleDigest` in x509.ts) lets a joining node pin the managers' CA before it sends
 *   anything: a manager whose chain does not lead to that bundle is a man in the middle,
 *   or a manager of another cluster;
 * - the secret (25 base-36 characters) decides the role; the managers keep one per role.
 *
 * Parsed by the joining CLI (for the digest) and by the managers (for the secret); the
 * secret never appears in a log or an error message.
 */
import { ErrorCode, SwarmnetError } from "../errors.js";

const PREFIX = "SWMTKN-1";

export interface JoinToken {
  digest: string;
  secret: string;
}

export function formatJoinToken(digest: string, secret: string): string {
  return `${PREFIX}-${digest}-${secret}`;
}

export function parseJoinToken(token: string): JoinToken {
  const m = /^SWMTKN-1-([0-9a-z]{50})-([0-9a-z]{25})$/.exec(token.trim());
  if (m === null) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      "invalid join token: expected SWMTKN-1-<CA digest>-<secret>",
    );
  }
  return { digest: m[1] as string, secret: m[2] as string };
}
