/**
 * Stored keys ↔ key rings. The store keeps one `EncryptionKeyRecord` per key under
 * `keys/<kind>/<tag>` (base64 bytes, a Lamport tag, no role); the ring a kind stands for
 * is derived by the schedule's rule (`scheduledRing`: sorted by tag, the second newest is
 * the primary), so roles can never disagree with the keys stored.
 *
 * Rings built here hold their bytes as `SecretBytes` (common/key-schedule.ts): a ring that
 * reaches a log or an error by mistake shows "[redacted]", never key material. What may
 * be shown (inspect) is `ringTags`: tags and roles only.
 */
import { scheduledRing, secretBytes, type DataKey, type KeyRing } from "../../common/key-schedule.js";
import type { EncryptionKeyRecord } from "../store/records.js";

/** The two key schedules of a cluster: the encrypted overlays' and the gossip's. */
export const KEY_KINDS = ["data", "gossip"] as const;
export type KeyKind = (typeof KEY_KINDS)[number];

/** A key as `swarm inspect` shows it: never its bytes. */
export interface KeyTagView {
  kind: KeyKind;
  tag: number;
  primary: boolean;
}

export function keyFromRecord(r: EncryptionKeyRecord): DataKey {
  return { tag: r.tag, secret: secretBytes(Buffer.from(r.key, "base64")) };
}

/** The ring of one kind from all stored key records (other kinds are ignored). */
export function ringFromRecords(records: readonly EncryptionKeyRecord[], kind: KeyKind): KeyRing | undefined {
  return scheduledRing(records.filter((r) => r.kind === kind).map(keyFromRecord));
}

/** Tags and roles of a ring, oldest first. */
export function ringTags(kind: KeyKind, ring: KeyRing | undefined): KeyTagView[] {
  return (ring?.keys ?? []).map((k) => ({ kind, tag: k.tag, primary: k.tag === ring?.primaryTag }));
}
