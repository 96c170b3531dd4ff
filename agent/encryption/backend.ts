/**
 * The face the overlay driver sees: one `EncryptionBackend` per node, whichever way it
 * encrypts. The overlay model stays the same for both (see overlay-model.md): a sandbox
 * with br0 + vxlan0, the same VNI, the same FDB and neighbour entries; the backend only
 * answers two questions for an encrypted network — where a remote endpoint's FDB entry
 * points (`fdbDestination`) and which MTU its endpoints get (`overlayMtu`) — and keeps
 * its own kernel state (xfrm states, or the relay device and datapath process) and the
 * plaintext guard (nft-guard.ts) in step with keys, peers and encrypted VNIs.
 *
 * The driver's calls: setVxlanPort(the cluster's data-path port) before start() and
 * whenever it changes; start(); setKeys(ring) whenever the dispatcher sends a ring;
 * setPeers(nodes that have endpoints on an encrypted network); setEncryptedVnis(VNIs of
 * encrypted networks present on this node); stop() when the agent stops. Every setter
 * is idempotent and applies the whole desired state.
 *
 * A new VXLAN port while running goes guard first (one nft transaction covering the old
 * and the new port, kept on the old one until stop(): a VXLAN device made for it may
 * still send until the overlay drops its entries), then the tunnel (ESP policies in one
 * `ip -batch`, new before old; or the datapath's port), so no window passes plaintext.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { hasFeature, type KernelCapabilities } from "../probe.js";
import type { BackendChoice } from "./config.js";
import type { KeyRing } from "./key-schedule.js";

export type BackendKind = "kernel" | "userspace";

export interface EncryptionPeer {
  nodeName: string;
  /** The peer's underlay (VTEP) address. */
  underlayAddr: string;
}

export interface EncryptionStats {
  backend: BackendKind;
  /** Tags of the keys in use, oldest first; never key bytes. */
  keyTags: number[];
  primaryTag: number | undefined;
  peers: number;
  encryptedVnis: number[];
  /**
   * Counters. Both backends: guardDropsOut / guardDropsIn (plaintext dropped by the guard).
   * Kernel: xfrmStates, xfrmPolicies. User space: DatapathCounters (datapath.ts), plus
   * datapathRestarts and the kernel's drops around the datapath: udpRcvbufErrors,
   * udpSndbufErrors (node namespace-wide) and tapQueueDrops (relay macvtap queue full).
   */
  counters: Record<string, number>;
}

export interface EncryptionBackend {
  readonly kind: BackendKind;
  start(): Promise<void>;
  stop(): Promise<void>;
  setKeys(ring: KeyRing): Promise<void>;
  setPeers(peers: readonly EncryptionPeer[]): Promise<void>;
  setEncryptedVnis(vnis: readonly number[]): Promise<void>;
  /** UDP port of the overlay's VXLAN traffic: the cluster's data-path port. */
  setVxlanPort(port: number): Promise<void>;
  /** Reads back what it programmed (guard table, kernel states) and restores what drifted. */
  repair(): Promise<void>;
  /** VNIs the plaintext guard protects; what the nftables owner must drop in plaintext. */
  readonly encryptedVnis: readonly number[];
  /** What an encrypted network's FDB entry for an endpoint on this peer must point at. */
  fdbDestination(peerUnderlayAddr: string): string;
  /** MTU for an encrypted network's endpoints, bridge and VXLAN device. */
  overlayMtu(underlayMtu: number): number;
  stats(): Promise<EncryptionStats>;
}

export interface BackendDecision {
  kind: BackendKind;
  /** One line for logs and `node inspect`, e.g. "kernel lacks ESP (…): user-space datapath". */
  reason: string;
}

/** A VXLAN port as the backends take it, or a clear error. */
export function validateVxlanPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `VXLAN port ${String(port)} is not a UDP port (1-65535)`,
    );
  }
  return port;
}

/** Ports the guard keeps covering after `port` is set: the new one joins those in use since start(). */
export function guardedPortsAfter(guarded: readonly number[], port: number, started: boolean): number[] {
  return started ? [...new Set([...guarded, port])].sort((a, b) => a - b) : [port];
}

/**
 * Kernel ESP where the probe found `esp_aes_gcm`, the user-space datapath otherwise. A
 * forced "kernel" on a kernel without ESP is an error naming the probe's reason.
 */
export function chooseBackend(caps: KernelCapabilities, choice: BackendChoice = "auto"): BackendDecision {
  const esp = caps.features.find((f) => f.name === "esp_aes_gcm");
  const espDetail = esp?.detail ?? "not probed";
  const hasEsp = hasFeature(caps, "esp_aes_gcm");
  if (choice === "kernel") {
    if (!hasEsp) {
      throw new SwarmnetError(
        ErrorCode.KernelUnsupported,
        `encryption backend "kernel" needs ESP with AES-GCM, which this kernel lacks (probe: ${espDetail})`,
      );
    }
    return { kind: "kernel", reason: "forced by configuration: kernel ESP" };
  }
  if (choice === "userspace")
    return { kind: "userspace", reason: "forced by configuration: user-space datapath" };
  return hasEsp
    ? { kind: "kernel", reason: "kernel has ESP with AES-GCM: kernel IPsec (xfrm)" }
    : {
        kind: "userspace",
        reason: `kernel lacks ESP with AES-GCM (probe: ${espDetail}): user-space datapath`,
      };
}
