/**
 * Identifiers and secrets, as Docker swarm shapes them: ids are 128 random bits written
 * in base 36 and padded to 25 characters (`node ls` and `network ls` show the first 12),
 * secrets are 25 base-36 characters (~129 bits). Node secrets are stored only as their
 * SHA-256, so reading etcd does not let anyone impersonate a node.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const ID_LENGTH = 25;

function base36(bytes: Buffer): string {
  return BigInt(`0x${bytes.toString("hex")}`)
    .toString(36)
    .padStart(ID_LENGTH, "0")
    .slice(-ID_LENGTH);
}

export function newId(): string {
  return base36(randomBytes(16));
}

export function newSecret(): string {
  return base36(randomBytes(17));
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Constant-time comparison of two strings (secrets, hashes). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
