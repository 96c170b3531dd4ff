/**
 * Where a manager keeps the key-encryption key between restarts: `<state dir>/manager-kek.json`,
 * mode 0600, next to the node's certificates.
 *
 *   autolock off   the KEK in clear: a restarted manager serves at once; what the file
 *                  protects against is a stolen etcd (its data never holds the KEK)
 *   autolock on    the KEK wrapped (AES-256-GCM) by the unlock key, which only the
 *                  person holds: a restarted manager stays locked — no TLS listener, no
 *                  etcd reads of secrets — until `swarmnet swarm unlock` gives the key
 *                  on its local socket; a wrong key does not open the wrap and is refused
 *
 * The unlock key is Docker's shape, `SWMKEY-1-<base64 of 32 bytes>`. It is kept in the
 * (sealed) cluster record too, so `swarm unlock-key` can show it and every manager can
 * re-wrap its file when it is rotated or autolock is switched on or off.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { KEK_BYTES, openBytes, sealBytes } from "./vault.js";

export const KEK_FILE = "manager-kek.json";
const WRAP_AAD = "swarmnet-kek";

export type KekOnDisk =
  { kind: "absent" } | { kind: "clear"; kek: Buffer } | { kind: "wrapped"; wrapped: Buffer };

interface FileContent {
  version: 1;
  kek?: string;
  wrapped?: string;
}

export function kekPath(stateDir: string): string {
  return join(stateDir, KEK_FILE);
}

export function readKekFile(stateDir: string): KekOnDisk {
  const file = kekPath(stateDir);
  if (!existsSync(file)) return { kind: "absent" };
  let v: FileContent;
  try {
    v = JSON.parse(readFileSync(file, "utf8")) as FileContent;
  } catch (err) {
    throw new SwarmnetError(ErrorCode.InvalidConfig, `${file} is not valid JSON`, { cause: err });
  }
  if (typeof v.kek === "string") return { kind: "clear", kek: Buffer.from(v.kek, "base64") };
  if (typeof v.wrapped === "string") return { kind: "wrapped", wrapped: Buffer.from(v.wrapped, "base64") };
  throw new SwarmnetError(ErrorCode.InvalidConfig, `${file} holds no key-encryption key`);
}

/** Writes the KEK in clear, or wrapped by `unlockKey` (autolock). */
export function writeKekFile(stateDir: string, kek: Buffer, unlockKey: string | undefined): void {
  const content: FileContent =
    unlockKey === undefined
      ? { version: 1, kek: kek.toString("base64") }
      : { version: 1, wrapped: sealBytes(parseUnlockKey(unlockKey), WRAP_AAD, kek).toString("base64") };
  const file = kekPath(stateDir);
  mkdirSync(stateDir, { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(content) + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export function newUnlockKey(): string {
  return `SWMKEY-1-${randomBytes(KEK_BYTES).toString("base64")}`;
}

export function parseUnlockKey(text: string): Buffer {
  const m = /^SWMKEY-1-([A-Za-z0-9+/]{43}=)$/.exec(text.trim());
  const bytes = m === null ? undefined : Buffer.from(m[1] as string, "base64");
  if (bytes === undefined || bytes.length !== KEK_BYTES) {
    throw new SwarmnetError(ErrorCode.InvalidArgument, "invalid unlock key: expected SWMKEY-1-<key>");
  }
  return bytes;
}

/** The KEK inside a wrapped file, or an error when the unlock key is not the one. */
export function unwrapKek(wrapped: Buffer, unlockKey: string): Buffer {
  const kek = openBytes(parseUnlockKey(unlockKey), WRAP_AAD, wrapped);
  if (kek === undefined) {
    throw new SwarmnetError(ErrorCode.Unauthenticated, "invalid unlock key: it does not unlock this manager");
  }
  return kek;
}
