/**
 * The data-plane key schedule: which keys exist, which one encrypts, and how a rotation
 * moves from one key ring to the next without losing a packet. Pure: no clock, no I/O.
 *
 * Shape (Docker swarm's, kept because it is the ordering that loses nothing): a cluster
 * holds at most three keys, each with a Lamport tag (a u32 the key manager increments on
 * every rotation, so a larger tag is always a newer key). Every node *accepts* all keys
 * of the ring inbound and *sends* with the primary only. A rotation adds a new key, makes
 * the previous newest key the primary, and drops the oldest:
 *
 *     [k1, k2*, k3]  --rotate(k4)-->  [k2, k3*, k4]        (* = primary)
 *
 * so every key goes through three roles, one rotation interval each:
 *   1. new key, rx-only: every node learns to decrypt it before anybody sends with it;
 *   2. primary: senders switch to it; receivers still accept the previous primary, so
 *      packets in flight (or from a node that got the ring a little late) are not lost;
 *   3. old, rx-only; then removed: nobody sends with it any more.
 * A node that applies rings in order therefore never receives a key it cannot decrypt,
 * as long as each ring reaches every node within one interval.
 *
 * Key bytes never leave this process except into the datapath (kernel xfrm states through
 * stdin, or the user-space datapath's control socket); `describeKeyRing` shows tags only.
 * Secrets that cross the dispatcher stream are held as `SecretBytes`, whose JSON, string
 * and inspect forms are "[redacted]", so a ring that lands in a log by mistake shows no
 * key material.
 *
 * Shared by both sides (agent/ and manager/ may not import each other): the managers'
 * key manager (manager/keys/) rotates with `rotateKeyRing` semantics and serves the ring
 * that `scheduledRing` gives for its stored keys; agents validate and apply it.
 */
import { inspect } from "node:util";
import { ErrorCode, SwarmnetError } from "./errors.js";

/** Bytes of secret per key: AES-256. Per-SA keys are derived from it (key-derivation.ts). */
export const KEY_SECRET_BYTES = 32;
/** Ring size: old (rx-only), primary, new (rx-only). */
export const MAX_KEYS = 3;
const MAX_TAG = 0xffffffff;

export interface DataKey {
  /** Lamport tag: unique in the cluster, larger means newer; 1..2^32-1. */
  readonly tag: number;
  /** KEY_SECRET_BYTES of key material. */
  readonly secret: Uint8Array;
}

export interface KeyRing {
  /** One to three keys, sorted by tag, oldest first. */
  readonly keys: readonly DataKey[];
  /** Tag of the key senders use; one of `keys`. */
  readonly primaryTag: number;
}

export interface KeyRoles {
  primary: DataKey;
  /** Keys accepted inbound but never used to send. */
  rxOnly: DataKey[];
}

/** What changed between two rings, in tags; for logs, inspect and ordering checks. */
export interface RotationStep {
  added: number[];
  removed: number[];
  primaryFrom: number | undefined;
  primaryTo: number;
}

function invalid(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, `key ring: ${message}`);
}

/**
 * Checks a ring from the dispatcher and returns it sorted oldest first. Throws one clear
 * error (never naming key bytes) for: no keys, more than three, a bad tag, a duplicate
 * tag, a secret of the wrong size, or a primary that is not in the ring.
 */
export function validateKeyRing(ring: KeyRing): KeyRing {
  if (ring.keys.length === 0) throw invalid("no keys");
  if (ring.keys.length > MAX_KEYS) throw invalid(`${ring.keys.length} keys, at most ${MAX_KEYS}`);
  const seen = new Set<number>();
  for (const k of ring.keys) {
    if (!Number.isInteger(k.tag) || k.tag < 1 || k.tag > MAX_TAG) {
      throw invalid(`tag ${String(k.tag)} is not an integer in 1..${MAX_TAG}`);
    }
    if (seen.has(k.tag)) throw invalid(`tag ${k.tag} appears twice`);
    seen.add(k.tag);
    if (k.secret.length !== KEY_SECRET_BYTES) {
      throw invalid(`key ${k.tag} has ${k.secret.length} bytes, expected ${KEY_SECRET_BYTES}`);
    }
  }
  if (!seen.has(ring.primaryTag)) throw invalid(`primary tag ${ring.primaryTag} is not one of the keys`);
  const keys = [...ring.keys].sort((a, b) => a.tag - b.tag);
  return { keys, primaryTag: ring.primaryTag };
}

export function keyRoles(ring: KeyRing): KeyRoles {
  const primary = ring.keys.find((k) => k.tag === ring.primaryTag);
  if (primary === undefined) throw invalid(`primary tag ${ring.primaryTag} is not one of the keys`);
  return { primary, rxOnly: ring.keys.filter((k) => k.tag !== ring.primaryTag) };
}

/** The first ring of a cluster: one key, which is the primary. */
export function initialKeyRing(key: DataKey): KeyRing {
  return validateKeyRing({ keys: [key], primaryTag: key.tag });
}

/**
 * One rotation (the key manager's step): add `next` (its tag must be newer than every key
 * in the ring), make the previous newest key the primary, keep at most three keys by
 * dropping the oldest.
 */
export function rotateKeyRing(ring: KeyRing, next: DataKey): KeyRing {
  const current = validateKeyRing(ring);
  const newest = current.keys[current.keys.length - 1] as DataKey;
  if (next.tag <= newest.tag) {
    throw invalid(`new key tag ${next.tag} is not newer than tag ${newest.tag}`);
  }
  const keys = [...current.keys, next].slice(-MAX_KEYS);
  return validateKeyRing({ keys, primaryTag: newest.tag });
}

export function rotationStep(prev: KeyRing | undefined, next: KeyRing): RotationStep {
  const before = new Set(prev?.keys.map((k) => k.tag) ?? []);
  const after = new Set(next.keys.map((k) => k.tag));
  return {
    added: [...after].filter((t) => !before.has(t)).sort((a, b) => a - b),
    removed: [...before].filter((t) => !after.has(t)).sort((a, b) => a - b),
    primaryFrom: prev?.primaryTag,
    primaryTo: next.primaryTag,
  };
}

/**
 * True when going from `prev` to `next` cannot make a peer that is one ring behind drop
 * our packets: the new primary was already in the previous ring (peers accept it), or
 * this is the first ring. A forced jump (e.g. an agent that missed a whole interval)
 * is still applied, but callers log it.
 */
export function isLosslessStep(prev: KeyRing | undefined, next: KeyRing): boolean {
  if (prev === undefined) return true;
  return prev.keys.some((k) => k.tag === next.primaryTag);
}

/** Tags with the primary starred, e.g. "4 5* 6": what inspect shows, never key bytes. */
export function describeKeyRing(ring: KeyRing | undefined): string {
  if (ring === undefined) return "no keys";
  return ring.keys.map((k) => (k.tag === ring.primaryTag ? `${k.tag}*` : String(k.tag))).join(" ");
}

/**
 * The ring a key manager's stored keys stand for (it stores keys, not roles): sorted by
 * tag, the primary is the second newest — the newest is rx-only until the next rotation
 * makes it primary — or the only key when there is one. This is exactly the ring
 * `rotateKeyRing` produces, so a ring derived after each rotation follows the schedule.
 * Undefined when there are no keys.
 */
export function scheduledRing(keys: readonly DataKey[]): KeyRing | undefined {
  if (keys.length === 0) return undefined;
  const sorted = [...keys].sort((a, b) => a.tag - b.tag);
  const primary = sorted[Math.max(0, sorted.length - 2)] as DataKey;
  return validateKeyRing({ keys: sorted, primaryTag: primary.tag });
}

const REDACTED = "[redacted]";

/**
 * Key material that does not leak by accident: a Uint8Array (every crypto API takes it)
 * whose JSON form, string form and `util.inspect` form hide the bytes. Copy it out with
 * `Buffer.from(secret)` only where the bytes must go (the datapath, the wire).
 */
export class SecretBytes extends Uint8Array {
  toJSON(): string {
    return REDACTED;
  }

  override toString(): string {
    return REDACTED;
  }

  override toLocaleString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `SecretBytes(${this.length} bytes ${REDACTED})`;
  }
}

/** A redacting copy of `bytes`. */
export function secretBytes(bytes: Uint8Array): SecretBytes {
  const out = new SecretBytes(bytes.length);
  out.set(bytes);
  return out;
}

/** Whether two rings hold the same keys (tags and bytes) with the same primary. */
export function sameKeyRing(a: KeyRing | undefined, b: KeyRing | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.primaryTag !== b.primaryTag || a.keys.length !== b.keys.length) return false;
  return a.keys.every((k, i) => {
    const o = b.keys[i];
    return o !== undefined && o.tag === k.tag && Buffer.compare(k.secret, o.secret) === 0;
  });
}
