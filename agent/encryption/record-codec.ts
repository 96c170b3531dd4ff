/**
 * Wire format of the user-space datapath: one UDP datagram = one record = one VXLAN
 * datagram's payload, sealed with AES-256-GCM under the per-direction key of one key tag.
 *
 *   0       1       2       4               8              12                      20
 *   +-------+-------+-------+---------------+--------------+-----------------------+
 *   |version| type  |  0 0  |   key tag     | nonce prefix |   counter (u64 BE)    |
 *   +-------+-------+-------+---------------+--------------+-----------------------+
 *   | ciphertext of: virtio-net header (10) ‖ VXLAN header and inner frame ...    |
 *   +------------------------------------------------------------------------------+
 *   | GCM tag (16)                                                                 |
 *   +------------------------------------------------------------------------------+
 *
 * AAD = bytes 0..7 (version, type, reserved, key tag); IV = bytes 8..19 (nonce.ts). The
 * sender and receiver addresses are bound through the key itself (derived per direction),
 * so a record replayed towards another node, or claiming another source, fails to open.
 * Only append new versions or types: the numbers are the protocol.
 */
import { createCipheriv, createDecipheriv, type KeyObject } from "node:crypto";

export const RECORD_VERSION = 1;
export const RECORD_TYPE_FRAME = 1;
export const RECORD_HEADER_BYTES = 20;
export const RECORD_TAG_BYTES = 16;
export const RECORD_OVERHEAD_BYTES = RECORD_HEADER_BYTES + RECORD_TAG_BYTES;
/** Largest UDP payload over IPv4. */
export const MAX_RECORD_BYTES = 65507;
const AAD_BYTES = 8;
const CIPHER = "aes-256-gcm";

export interface ParsedRecord {
  keyTag: number;
  /** Sequence number for the replay window (the nonce's counter). */
  counter: number;
  header: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/** Writes version, type, key tag and nonce into a fresh header. */
export function recordHeader(keyTag: number, writeNonce: (buf: Buffer, offset: number) => number): Buffer {
  const h = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
  h[0] = RECORD_VERSION;
  h[1] = RECORD_TYPE_FRAME;
  h[2] = 0;
  h[3] = 0;
  h.writeUInt32BE(keyTag >>> 0, 4);
  writeNonce(h, 8);
  return h;
}

/** Header parse only; undefined for anything that is not a well-formed v1 frame record. */
export function parseRecord(msg: Buffer): ParsedRecord | undefined {
  if (msg.length < RECORD_OVERHEAD_BYTES + 1) return undefined;
  if (msg[0] !== RECORD_VERSION || msg[1] !== RECORD_TYPE_FRAME || msg[2] !== 0 || msg[3] !== 0)
    return undefined;
  const hi = msg.readUInt32BE(12);
  if (hi >= 2 ** 21) return undefined; // beyond an exact JS integer: never sent by a valid peer
  return {
    keyTag: msg.readUInt32BE(4),
    counter: hi * 2 ** 32 + msg.readUInt32BE(16),
    header: msg.subarray(0, RECORD_HEADER_BYTES),
    ciphertext: msg.subarray(RECORD_HEADER_BYTES, msg.length - RECORD_TAG_BYTES),
    tag: msg.subarray(msg.length - RECORD_TAG_BYTES),
  };
}

/** Encrypts `parts` (concatenated) behind `header`: the datagram as a list of buffers. */
export function sealRecord(key: KeyObject, header: Buffer, parts: readonly Buffer[]): Buffer[] {
  const c = createCipheriv(CIPHER, key, header.subarray(AAD_BYTES, RECORD_HEADER_BYTES));
  c.setAAD(header.subarray(0, AAD_BYTES));
  const out: Buffer[] = [header];
  for (const p of parts) out.push(c.update(p));
  c.final();
  out.push(c.getAuthTag());
  return out;
}

/** The plaintext, or undefined when the record does not authenticate under `key`. */
export function openRecord(key: KeyObject, r: ParsedRecord): Buffer | undefined {
  const d = createDecipheriv(CIPHER, key, r.header.subarray(AAD_BYTES, RECORD_HEADER_BYTES));
  d.setAAD(r.header.subarray(0, AAD_BYTES));
  d.setAuthTag(r.tag);
  const plain = d.update(r.ciphertext);
  try {
    d.final();
  } catch {
    return undefined;
  }
  return plain;
}
