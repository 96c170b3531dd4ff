/**
 * Encrypted overlays: the public face of agent/encryption.
 *
 * The overlay driver creates one backend per node with `createEncryptionBackend` (kind
 * from `chooseBackend(probe)`), then drives it with start / setKeys / setPeers /
 * setEncryptedVnis / stop, and asks it `fdbDestination(peer)` and `overlayMtu(underlay)`
 * for encrypted networks; everything else of the overlay model is unchanged. See
 * backend.ts for the contract, kernel-backend.ts and userspace-backend.ts for the two
 * mechanisms, key-schedule.ts for the rotation order.
 */
import type { Logger } from "pino";
import type { Executor } from "../../common/executor.js";
import type { BackendKind, EncryptionBackend } from "./backend.js";
import type { EncryptionConfig } from "./config.js";
import { KernelEncryptionBackend } from "./kernel-backend.js";
import { UserspaceEncryptionBackend } from "./userspace-backend.js";

export type {
  BackendDecision,
  BackendKind,
  EncryptionBackend,
  EncryptionPeer,
  EncryptionStats,
} from "./backend.js";
export { chooseBackend } from "./backend.js";
export {
  ENCRYPTION_DEFAULTS,
  loadEncryptionConfig,
  type BackendChoice,
  type EncryptionConfig,
} from "./config.js";
export {
  KEY_SECRET_BYTES,
  MAX_KEYS,
  describeKeyRing,
  initialKeyRing,
  isLosslessStep,
  keyRoles,
  rotateKeyRing,
  rotationStep,
  validateKeyRing,
  type DataKey,
  type KeyRing,
  type RotationStep,
} from "./key-schedule.js";
export { spiFor, formatSpi } from "./spi.js";
export { GUARD_TABLE, renderGuard } from "./nft-guard.js";
export { DATAPATH_COUNTERS, type DatapathCounters } from "./datapath.js";
export { KernelEncryptionBackend, ESP_OVERHEAD_BYTES, VXLAN_OVERHEAD_BYTES } from "./kernel-backend.js";
export { UserspaceEncryptionBackend } from "./userspace-backend.js";

export interface BackendDeps {
  executor: Executor;
  config: EncryptionConfig;
  localAddr: string;
  netns?: string;
  /** Root-only directory for the user-space datapath's socket, device node and log. */
  runDir: string;
  logger?: Logger;
}

export function createEncryptionBackend(kind: BackendKind, deps: BackendDeps): EncryptionBackend {
  return kind === "kernel" ? new KernelEncryptionBackend(deps) : new UserspaceEncryptionBackend(deps);
}
