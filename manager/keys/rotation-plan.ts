/**
 * The key manager's decisions, pure: when the next rotation is due, and what one rotation
 * writes. No clock, no store, no randomness (the new key bytes are passed in).
 *
 * Due time: `lastKeyRotationAt` (the cluster's creation before the first rotation) plus
 * the cluster's `keyRotationIntervalMs` — both in the cluster record in etcd, so any
 * manager that becomes leader computes the same due time: no double rotation after a
 * hand-over, no skipped one. A leader that was away for several intervals rotates once
 * (a ring is only useful if every node got the previous one; catching up with several
 * steps at once would push nodes off the lossless path).
 *
 * One rotation, per kind (data and gossip share the Lamport clock `keyClock`, so both new
 * keys get the same tag): `rotateKeyRing` of the shared schedule — add the new key
 * (rx-only), make the previous newest key the primary, drop the oldest beyond three. The
 * plan lists the records to put and delete and the new clock; the caller writes all of it
 * in ONE transaction, so agents see one ring change per kind, never a half step.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import {
  initialKeyRing,
  rotateKeyRing,
  rotationStep,
  type KeyRing,
  type RotationStep,
} from "../../common/key-schedule.js";
import type { ClusterRecord, EncryptionKeyRecord } from "../store/records.js";
import { keyFromRecord, ringFromRecords, type KeyKind } from "./key-records.js";

/** Bounds of `--key-rotation-interval`. */
export const MIN_KEY_ROTATION_INTERVAL_MS = 1_000;
export const MAX_KEY_ROTATION_INTERVAL_MS = 365 * 24 * 3_600_000;

export function checkRotationInterval(ms: number): number {
  if (!Number.isInteger(ms) || ms < MIN_KEY_ROTATION_INTERVAL_MS || ms > MAX_KEY_ROTATION_INTERVAL_MS) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `key rotation interval must be from 1s to 365 days, got ${String(ms)} ms`,
    );
  }
  return ms;
}

/** When the last rotation happened (ms since the epoch). */
export function lastRotationAt(cluster: ClusterRecord): number {
  return Date.parse(cluster.lastKeyRotationAt ?? cluster.createdAt);
}

/** When the next scheduled rotation is due (ms since the epoch). */
export function nextRotationAt(cluster: ClusterRecord): number {
  return lastRotationAt(cluster) + cluster.keyRotationIntervalMs;
}

export function rotationDue(cluster: ClusterRecord, nowMs: number): boolean {
  return nowMs >= nextRotationAt(cluster);
}

export interface RotationPlan {
  /** The new Lamport clock: the tag of both new keys. */
  keyClock: number;
  put: EncryptionKeyRecord[];
  delete: { kind: KeyKind; tag: number }[];
  /** Per kind: the ring after the rotation, and the step in tags (for logs). */
  rings: Record<KeyKind, KeyRing>;
  steps: Record<KeyKind, RotationStep>;
}

/**
 * One rotation of both kinds. `stored` is every key record; `fresh(kind)` gives the new
 * key's bytes, base64. The new tag is above the clock and every stored tag, so tags only
 * ever grow even if a record outlived a clock reset.
 */
export function planRotation(
  cluster: ClusterRecord,
  stored: readonly EncryptionKeyRecord[],
  fresh: (kind: KeyKind) => string,
  at: string,
): RotationPlan {
  const tag = Math.max(cluster.keyClock, ...stored.map((r) => r.tag)) + 1;
  const rotate = (kind: KeyKind) => {
    const record: EncryptionKeyRecord = { kind, tag, key: fresh(kind), createdAt: at };
    const before = ringFromRecords(stored, kind);
    const next = keyFromRecord(record);
    const after = before === undefined ? initialKeyRing(next) : rotateKeyRing(before, next);
    return { record, after, step: rotationStep(before, after) };
  };
  const data = rotate("data");
  const gossip = rotate("gossip");
  return {
    keyClock: tag,
    put: [data.record, gossip.record],
    delete: [
      ...data.step.removed.map((t) => ({ kind: "data" as const, tag: t })),
      ...gossip.step.removed.map((t) => ({ kind: "gossip" as const, tag: t })),
    ],
    rings: { data: data.after, gossip: gossip.after },
    steps: { data: data.step, gossip: gossip.step },
  };
}
