/**
 * The key-encryption key (KEK) in a manager's memory, and the sealing it does. Secrets
 * the managers keep in etcd — the CA's signing key, the data-plane and gossip keys, the
 * join-token secrets and the unlock key (all inside the records `sealed-kv.ts` seals) —
 * are stored as AES-256-GCM ciphertext under the KEK, which etcd never holds: an etcd
 * backup, a snapshot or a member's disk shows no secret.
 *
 *   sealed value   "sealed:v1:" + base64(nonce 12 ‖ ciphertext ‖ tag 16)
 *   AAD            the etcd key the value is stored under, so a sealed value moved to
 *                  another key does not open
 *
 * Where the KEK comes from is `kek-file.ts` (the manager's state dir, in clear or wrapped
 * by the unlock key with autolock) and, for a manager that just joined, another manager
 * (Cluster.ManagerKek over mutual TLS). A vault without a KEK is *locked*: every read or
 * write of a sealed record fails with a message that says how to unlock.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

export const KEK_BYTES = 32;
const PREFIX = "sealed:v1:";
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX);
}

export function lockedError(): SwarmnetError {
  return new SwarmnetError(
    ErrorCode.Unavailable,
    "this manager is locked (autolock): run 'swarmnet swarm unlock' on its node with the unlock key",
    { retryable: true },
  );
}

/** AES-256-GCM with `aad`; used for records (AAD = their key) and for the wrapped KEK. */
export function sealBytes(key: Buffer, aad: string, plaintext: Buffer): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const c = createCipheriv("aes-256-gcm", key, nonce);
  c.setAAD(Buffer.from(aad));
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([nonce, body, c.getAuthTag()]);
}

/** Opens what `sealBytes` made; undefined when the key is wrong or the bytes were changed. */
export function openBytes(key: Buffer, aad: string, sealed: Buffer): Buffer | undefined {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) return undefined;
  try {
    const d = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, NONCE_BYTES));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([d.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), d.final()]);
  } catch {
    return undefined;
  }
}

export class Vault {
  private kek: Buffer | undefined;
  private readonly waiters: (() => void)[] = [];

  get unlocked(): boolean {
    return this.kek !== undefined;
  }

  /** The KEK itself, for the KEK file and a peer manager's ManagerKek call only. */
  exportKek(): Buffer {
    if (this.kek === undefined) throw lockedError();
    return Buffer.from(this.kek);
  }

  unlock(kek: Buffer): void {
    if (kek.length !== KEK_BYTES) {
      throw new SwarmnetError(ErrorCode.InvalidArgument, `a key-encryption key has ${KEK_BYTES} bytes`);
    }
    this.kek = Buffer.from(kek);
    for (const w of this.waiters.splice(0)) w();
  }

  lock(): void {
    this.kek?.fill(0);
    this.kek = undefined;
  }

  /** Resolves once the vault holds a KEK. */
  whenUnlocked(): Promise<void> {
    if (this.kek !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  seal(aad: string, plaintext: string): string {
    if (this.kek === undefined) throw lockedError();
    return PREFIX + sealBytes(this.kek, aad, Buffer.from(plaintext)).toString("base64");
  }

  /** The plaintext of a sealed value (a value that is not sealed is returned as it is). */
  open(aad: string, value: string): string {
    if (!isSealed(value)) return value;
    if (this.kek === undefined) throw lockedError();
    const plain = openBytes(this.kek, aad, Buffer.from(value.slice(PREFIX.length), "base64"));
    if (plain === undefined) {
      throw new SwarmnetError(
        ErrorCode.Internal,
        `cannot open the sealed record ${aad}: this manager's key-encryption key is not the cluster's`,
      );
    }
    return plain.toString();
  }

  /** True if `kek` opens `value` (stored under `aad`): an unlock key's check. */
  static opens(kek: Buffer, aad: string, value: string): boolean {
    if (!isSealed(value)) return true;
    return openBytes(kek, aad, Buffer.from(value.slice(PREFIX.length), "base64")) !== undefined;
  }
}

export function newKek(): Buffer {
  return randomBytes(KEK_BYTES);
}
