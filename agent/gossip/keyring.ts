/**
 * The gossip keyring: AES-256-GCM keys for packets and streams between members.
 *
 * The first key (the primary) encrypts; every installed key is tried to decrypt. That is
 * what lets a key rotate with no member ever unable to read another:
 *   1. install(new) on every member   — all can read the new key, all still write the old
 *   2. use(new) on every member        — writers switch one by one; readers know both
 *   3. remove(old) on every member     — once nobody writes it any more
 * (memberlist's and Serf's keyring discipline; the managers drive the steps later.)
 *
 * Sealing: a fresh 12-byte random nonce per message (nonces come from a pooled
 * crypto.randomFillSync so small packets do not pay a syscall each; with random nonces
 * the 2^32-messages-per-key bound of GCM is far beyond a key's 12 h lifetime), the
 * cluster label as associated data (a packet from another cluster fails authentication
 * even if it shares the key), and a 16-byte tag. Key bytes are never logged or returned
 * except by `keys()` for the push of a new keyring.
 */
import { createCipheriv, createDecipheriv, randomFillSync, timingSafeEqual } from "node:crypto";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
const NONCE_POOL_BYTES = NONCE_BYTES * 256;

export interface Sealed {
  nonce: Uint8Array;
  ciphertext: Uint8Array;
}

export class Keyring {
  private ring: Buffer[] = [];
  private pool = Buffer.alloc(0);
  private poolOffset = 0;

  /** `keys[0]` becomes the primary. */
  constructor(keys: readonly Uint8Array[] = []) {
    for (const k of keys) this.install(k);
    const first = keys[0];
    if (first !== undefined) this.use(first);
  }

  /** Parses base64 keys (the config's form). */
  static fromBase64(keys: readonly string[]): Keyring {
    return new Keyring(keys.map((k) => Buffer.from(k, "base64")));
  }

  /** True when gossip is encrypted (at least one key). */
  get enabled(): boolean {
    return this.ring.length > 0;
  }

  /** Adds a key for decryption; idempotent. The first key ever installed becomes primary. */
  install(key: Uint8Array): void {
    const k = checkKey(key);
    if (this.indexOf(k) >= 0) return;
    this.ring.push(Buffer.from(k));
  }

  /** Makes an installed key the one that encrypts. */
  use(key: Uint8Array): void {
    const i = this.indexOf(checkKey(key));
    if (i < 0)
      throw new SwarmnetError(ErrorCode.NotFound, "gossip keyring: cannot use a key that is not installed");
    const [k] = this.ring.splice(i, 1);
    if (k !== undefined) this.ring.unshift(k);
  }

  /** Removes a key; the primary cannot be removed (use another first). */
  remove(key: Uint8Array): void {
    const i = this.indexOf(checkKey(key));
    if (i < 0) return;
    if (i === 0) {
      throw new SwarmnetError(
        ErrorCode.InUse,
        "gossip keyring: cannot remove the primary key; use another key first",
      );
    }
    this.ring.splice(i, 1);
  }

  /** Copies of the keys, primary first. */
  keys(): Uint8Array[] {
    return this.ring.map((k) => Uint8Array.from(k));
  }

  /** Encrypts with the primary key; `aad` is authenticated, not encrypted. */
  seal(plaintext: Uint8Array, aad: Uint8Array): Sealed {
    const key = this.ring[0];
    if (key === undefined)
      throw new SwarmnetError(ErrorCode.Internal, "gossip keyring: no key to encrypt with");
    const nonce = this.nextNonce();
    const cipher = createCipheriv("aes-256-gcm", key, nonce);
    cipher.setAAD(aad);
    const head = cipher.update(plaintext);
    const tail = cipher.final();
    const tag = cipher.getAuthTag();
    const out = Buffer.allocUnsafe(head.length + tail.length + TAG_BYTES);
    head.copy(out, 0);
    tail.copy(out, head.length);
    tag.copy(out, head.length + tail.length);
    return { nonce, ciphertext: out };
  }

  /** Tries every key; undefined when none authenticates the message. */
  open(nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
    if (nonce.length !== NONCE_BYTES || ciphertext.length < TAG_BYTES) return undefined;
    const body = ciphertext.subarray(0, ciphertext.length - TAG_BYTES);
    const tag = ciphertext.subarray(ciphertext.length - TAG_BYTES);
    for (const key of this.ring) {
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, nonce);
        decipher.setAAD(aad);
        decipher.setAuthTag(tag);
        const head = decipher.update(body);
        const tail = decipher.final();
        return tail.length === 0 ? head : Buffer.concat([head, tail]);
      } catch {
        // Wrong key (or tampered): try the next one.
      }
    }
    return undefined;
  }

  private indexOf(key: Uint8Array): number {
    return this.ring.findIndex((k) => timingSafeEqual(k, key));
  }

  private nextNonce(): Buffer {
    if (this.poolOffset + NONCE_BYTES > this.pool.length) {
      this.pool = Buffer.allocUnsafe(NONCE_POOL_BYTES);
      randomFillSync(this.pool);
      this.poolOffset = 0;
    }
    const nonce = this.pool.subarray(this.poolOffset, this.poolOffset + NONCE_BYTES);
    this.poolOffset += NONCE_BYTES;
    return nonce;
  }
}

function checkKey(key: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `gossip keyring: a key must be ${KEY_BYTES} bytes (AES-256), got ${key instanceof Uint8Array ? key.length : typeof key}`,
    );
  }
  return key;
}
