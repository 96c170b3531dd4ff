/**
 * Encrypted overlays in the agent: one encryption backend per node (kernel ESP where the
 * probe found it, the user-space datapath otherwise — decided once at start), driven from
 * the overlay's desired state on every reconcile: the VNIs of encrypted networks with a
 * local endpoint, the peers (nodes with endpoints on them) and the managers' data-key ring.
 *
 * Fail closed: until the backend has keys and runs, remote endpoints of an encrypted
 * network are not programmed at all, so nothing of it can leave in plaintext. The
 * plaintext guard (nftables) lives in the backend's own table `swarmnet_encryption`,
 * not in the mesh's table: its rules name the backend's relay device and change with it.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Executor } from "../common/executor.js";
import type { Logger } from "../common/logger.js";
import {
  chooseBackend,
  createEncryptionBackend,
  describeKeyRing,
  loadEncryptionConfig,
  type BackendDecision,
  type EncryptionBackend,
  type EncryptionPeer,
  type KeyRing,
} from "./encryption/index.js";
import type { KernelCapabilities } from "./probe.js";

export class OverlayEncryption {
  readonly decision: BackendDecision;
  private readonly backend: EncryptionBackend;
  private running = false;
  private keysApplied = "";
  private peersApplied = "";
  private vnisApplied = "";

  constructor(
    ex: Executor,
    caps: KernelCapabilities,
    localAddr: string,
    stateDir: string,
    private readonly log: Logger,
    vxlanPort: number,
  ) {
    this.decision = chooseBackend(caps);
    const runDir = join(stateDir, "encryption");
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    this.backend = createEncryptionBackend(this.decision.kind, {
      executor: ex,
      config: loadEncryptionConfig({ vxlanPort }),
      localAddr,
      runDir,
      logger: log,
    });
  }

  get kind(): string {
    return this.backend.kind;
  }

  /** Whether encrypted networks may carry traffic now (backend up, keys in place). */
  get ready(): boolean {
    return this.running && this.keysApplied !== "";
  }

  overlayMtu(underlayMtu: number): number {
    return this.backend.overlayMtu(underlayMtu);
  }

  fdbDestination(vtep: string): string {
    return this.backend.fdbDestination(vtep);
  }

  /** Brings the backend to (VNIs, peers, keys); stops it when no encrypted network is left. */
  async sync(vnis: number[], peers: EncryptionPeer[], keys: KeyRing | undefined): Promise<void> {
    if (vnis.length === 0) {
      if (this.running) await this.stop();
      return;
    }
    if (!this.running) {
      await this.backend.start();
      this.running = true;
      this.log.info(
        { backend: this.decision.kind, reason: this.decision.reason },
        "encryption backend started",
      );
    }
    const keyTags = keys === undefined ? "" : describeKeyRing(keys);
    if (keys !== undefined && keyTags !== this.keysApplied) {
      await this.backend.setKeys(keys);
      this.keysApplied = keyTags;
      this.log.info({ tags: keyTags }, "encryption keys applied");
    }
    const peerKey = peers
      .map((p) => `${p.nodeName}@${p.underlayAddr}`)
      .sort()
      .join(",");
    if (peerKey !== this.peersApplied) {
      await this.backend.setPeers(peers);
      this.peersApplied = peerKey;
    }
    const vniKey = [...vnis].sort((a, b) => a - b).join(",");
    if (vniKey !== this.vnisApplied) {
      await this.backend.setEncryptedVnis(vnis);
      this.vnisApplied = vniKey;
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.keysApplied = this.peersApplied = this.vnisApplied = "";
    await this.backend.stop();
  }
}
