/**
 * Per-direction keys derived from the cluster's data-plane keys, so no two senders ever
 * encrypt under the same key: both ends of a node pair compute the same key for one
 * direction and one key tag, and nobody else's traffic uses it.
 *
 * Why: the cluster key is shared by every node. AES-GCM is only safe while a (key, nonce)
 * pair is never reused; with one shared key that would need nonces coordinated across
 * all nodes. Deriving a key per (source, destination, tag) reduces the requirement to one
 * sender process at a time, which a per-process random prefix plus a monotonic counter
 * meets (nonce.ts). The kernel backend derives its ESP key+salt the same way, so a
 * stolen state of one node pair reveals nothing about another.
 *
 * Formula: HKDF-SHA256 (RFC 5869), salt = "swarmnet data-plane v1",
 *   info = purpose ‖ 0x00 ‖ src (4 bytes) ‖ dst (4 bytes) ‖ tag (u32 BE),
 *   output 32 bytes ("udp": AES-256-GCM key) or 36 bytes ("esp": RFC 4106 key ‖ salt).
 */
import { hkdfSync } from "node:crypto";
import { parseIpv4 } from "../../common/net-addr.js";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

const SALT = Buffer.from("swarmnet data-plane v1", "utf8");

export type KeyPurpose = "udp" | "esp";

/** Output length per purpose: AES-256 key, or AES-256 key plus the 4-byte GCM salt of RFC 4106. */
export const DERIVED_KEY_BYTES: Record<KeyPurpose, number> = { udp: 32, esp: 36 };

function addrBytes(addr: string): Buffer {
  const n = parseIpv4(addr);
  if (n === undefined) throw new SwarmnetError(ErrorCode.InvalidArgument, `not an IPv4 address: ${addr}`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export function deriveDirectionKey(
  secret: Uint8Array,
  purpose: KeyPurpose,
  src: string,
  dst: string,
  tag: number,
): Buffer {
  const tagBytes = Buffer.alloc(4);
  tagBytes.writeUInt32BE(tag >>> 0);
  const info = Buffer.concat([
    Buffer.from(purpose, "utf8"),
    Buffer.from([0]),
    addrBytes(src),
    addrBytes(dst),
    tagBytes,
  ]);
  return Buffer.from(hkdfSync("sha256", secret, SALT, info, DERIVED_KEY_BYTES[purpose]));
}
