/**
 * Encrypted overlays in the agent: one encryption backend per node (kernel ESP where the
 * probe found it, the user-space datapath otherwise — decided once at start), and the
 * reconciler that keeps it on the snapshot's encrypted networks: the VNIs of encrypted
 * networks with a local endpoint, the peers (nodes with endpoints on them), the
 * managers' data-key ring and the cluster's data-path port (the UDP port the overlay's
 * VXLAN devices use, `swarm init --data-path-port`; known once the intent's cluster
 * settings arrive).
 *
 * Fail closed: until the backend has keys, runs and protects the network's VXLAN port,
 * the overlay reconciler programs no remote endpoint of an encrypted network, so nothing
 * of it can leave in plaintext; this reconciler touches the overlay whenever that
 * readiness may have changed. Before the port is known the backend does not start.
 *
 * The plaintext guard (nftables) has one owner, the backend's own table
 * `swarmnet_encryption` (agent/encryption/nft-guard.ts): its rules name the backend's
 * relay device and change with it, which the mesh's table `swarmnet` knows nothing of.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Executor } from "../../../common/executor.js";
import type { Logger } from "../../../common/logger.js";
import {
  chooseBackend,
  createEncryptionBackend,
  describeKeyRing,
  loadEncryptionConfig,
  type BackendDecision,
  type EncryptionBackend,
  type EncryptionPeer,
  type EncryptionStats,
  type KeyRing,
} from "../../encryption/index.js";
import { knownDataPathPort } from "../../dispatcher/index.js";
import type { NodeSnapshot } from "../../node-snapshot.js";
import type { KernelCapabilities } from "../../probe.js";
import type { Reconciler } from "../../reconcile/reconciler.js";
import { R } from "../../reconcile/triggers.js";
import { overlayData, OVERLAY } from "./endpoint-data.js";

export class OverlayEncryption {
  readonly decision: BackendDecision;
  private readonly backend: EncryptionBackend;
  private running = false;
  private keysApplied = "";
  private peersApplied = "";
  private vnisApplied = "";
  /** The VXLAN port the backend protects; undefined until the cluster's is known. */
  private port: number | undefined;

  constructor(
    ex: Executor,
    caps: KernelCapabilities,
    localAddr: string,
    stateDir: string,
    private readonly log: Logger,
  ) {
    this.decision = chooseBackend(caps);
    const runDir = join(stateDir, "encryption");
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    this.backend = createEncryptionBackend(this.decision.kind, {
      executor: ex,
      config: loadEncryptionConfig(),
      localAddr,
      runDir,
      logger: log,
    });
  }

  get kind(): string {
    return this.backend.kind;
  }

  /**
   * Whether an encrypted network whose VXLAN device sends to `vxlanPort` may carry traffic
   * now: backend up, keys in place, and that port the one it protects.
   */
  readyFor(vxlanPort: number): boolean {
    return this.running && this.keysApplied !== "" && this.port === vxlanPort;
  }

  overlayMtu(underlayMtu: number): number {
    return this.backend.overlayMtu(underlayMtu);
  }

  fdbDestination(vtep: string): string {
    return this.backend.fdbDestination(vtep);
  }

  /**
   * Brings the backend to (VNIs, peers, keys, VXLAN port); stops it when no encrypted
   * network is left. With the port not known yet it does not start (nothing of an
   * encrypted network is programmed meanwhile); a running backend keeps its port.
   */
  async sync(
    vnis: readonly number[],
    peers: readonly EncryptionPeer[],
    keys: KeyRing | undefined,
    vxlanPort: number | undefined,
  ): Promise<void> {
    if (vnis.length === 0) {
      if (this.running) await this.stop();
      return;
    }
    if (vxlanPort !== undefined && vxlanPort !== this.port) {
      await this.backend.setVxlanPort(vxlanPort);
      this.log.info({ from: this.port, to: vxlanPort }, "encryption follows the data-path port");
      this.port = vxlanPort;
    }
    if (this.port === undefined) return;
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
      await this.backend.setPeers([...peers]);
      this.peersApplied = peerKey;
    }
    const vniKey = [...vnis].sort((a, b) => a - b).join(",");
    if (vniKey !== this.vnisApplied) {
      await this.backend.setEncryptedVnis([...vnis]);
      this.vnisApplied = vniKey;
    }
  }

  /** The resync pass: the running backend restores what drifted from what it programmed. */
  async repair(): Promise<void> {
    if (this.running) await this.backend.repair();
  }

  /** The backend's counters and key tags while it runs (metrics); never key bytes. */
  stats(): Promise<EncryptionStats | undefined> {
    return this.running ? this.backend.stats() : Promise.resolve(undefined);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.keysApplied = this.peersApplied = this.vnisApplied = "";
    await this.backend.stop();
  }
}

interface EncryptionDesired {
  vnis: number[];
  peers: EncryptionPeer[];
  keys: KeyRing | undefined;
  /** The cluster's data-path port; undefined until the intent's cluster settings arrive. */
  vxlanPort: number | undefined;
}

/** The encryption backend's state from the snapshot: what `OverlayEncryption.sync` takes. */
export function desiredEncryption(s: NodeSnapshot): EncryptionDesired {
  const encrypted = new Map<string, number>();
  for (const c of s.containers) {
    for (const ep of c.endpoints) {
      if (ep.driver !== OVERLAY) continue;
      const d = overlayData(ep);
      if (d.encrypted) encrypted.set(ep.networkId, d.vni);
    }
  }
  const peers = new Map<string, string>();
  for (const f of s.endpoints) {
    const vtep = f.data["vtep"];
    if (f.node !== s.node.name && encrypted.has(f.networkId) && vtep !== undefined && vtep !== "")
      peers.set(f.node, vtep);
  }
  return {
    vnis: [...encrypted.values()].sort((a, b) => a - b),
    peers: [...peers]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([nodeName, underlayAddr]) => ({ nodeName, underlayAddr })),
    keys: s.intent?.dataKeys,
    vxlanPort: knownDataPathPort(s.intent),
  };
}

export function encryptionReconciler(enc: OverlayEncryption): Reconciler<EncryptionDesired> {
  return {
    name: R.encryption,
    desired: desiredEncryption,
    // Key rings hold secret bytes: compare them by tag, never serialise them.
    same: (a, b) =>
      a.vxlanPort === b.vxlanPort &&
      a.vnis.join(",") === b.vnis.join(",") &&
      JSON.stringify(a.peers) === JSON.stringify(b.peers) &&
      (a.keys === undefined ? "" : describeKeyRing(a.keys)) ===
        (b.keys === undefined ? "" : describeKeyRing(b.keys)),
    apply: async (d, { resync }) => {
      await enc.sync(d.vnis, d.peers, d.keys, d.vxlanPort);
      if (resync) await enc.repair();
    },
  };
}
