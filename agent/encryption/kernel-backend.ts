/**
 * Kernel IPsec backend: ESP transport mode on the VXLAN traffic between underlay
 * addresses, programmed through the executor as desired state → diff → one `ip -batch -`
 * (xfrm-plan.ts), plus the guard ruleset (nft-guard.ts) that marks encrypted VNIs for the
 * ESP policy and drops their plaintext. Used where the probe finds `esp_aes_gcm`.
 *
 * State the backend believes in is exactly what it applied last. When a batch fails
 * half-way (ip stops at the first failing line), that belief is wrong, so the backend
 * marks itself dirty and the next reconcile first removes everything of ours (states by
 * reqid, policies by mark) and programs the whole set again; the error still reaches the
 * caller. start() begins dirty for the same reason: a crashed predecessor may have left
 * states behind.
 *
 * repair() (the agent's periodic resync) checks that belief against the kernel: the guard
 * table's rules (nft-guard.ts: its shape, counters aside) and the states and policies of
 * ours. Whatever drifted — the guard flushed by someone's `nft flush ruleset` (which
 * would let the encrypted VNIs' VXLAN leave unmarked, in plaintext), a state deleted by
 * hand — is programmed again. One limit: an outbound state made again under its SPI
 * starts its sequence numbers over, and the peer's inbound state, which saw higher ones,
 * drops them as replays (with ESN the high bits cannot simply jump: they are not sent).
 * Traffic from this node resumes at the next key rotation (new SPIs on both ends); the
 * warning says so.
 */
import { SerialQueue } from "../../common/serial-queue.js";
import type { Logger } from "pino";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { Executor } from "../../common/executor.js";
import { silentLogger } from "../../common/logger.js";
import {
  guardedPortsAfter,
  validateVxlanPort,
  type EncryptionBackend,
  type EncryptionPeer,
  type EncryptionStats,
} from "./backend.js";
import type { EncryptionConfig } from "./config.js";
import {
  describeKeyRing,
  isLosslessStep,
  rotationStep,
  validateKeyRing,
  type KeyRing,
} from "./key-schedule.js";
import { readGuardDrops, GuardWatch, renderGuard } from "./nft-guard.js";
import { formatSpi } from "./spi.js";
import {
  EMPTY_XFRM_SET,
  desiredXfrm,
  diffXfrm,
  ourOutPolicies,
  renderXfrmBatch,
  staleOurPolicyDeletes,
  type XfrmOptions,
  type XfrmSet,
} from "./xfrm-plan.js";
import { validateVnis } from "./vni.js";

/** ESP transport with AES-GCM adds at most 8 (SPI, seq) + 8 (IV) + 3 (pad) + 2 (trailer) + 16 (ICV) = 37; 40 keeps 4-byte alignment. */
export const ESP_OVERHEAD_BYTES = 40;
/** Outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD_BYTES = 50;

export interface KernelBackendDeps {
  executor: Executor;
  config: EncryptionConfig;
  /** This node's underlay address: the source of outbound and destination of inbound states. */
  localAddr: string;
  /** Namespace to program; the current one when absent (a real node). */
  netns?: string;
  logger?: Logger;
}

export class KernelEncryptionBackend implements EncryptionBackend {
  readonly kind = "kernel" as const;
  private readonly ex: Executor;
  private readonly cfg: EncryptionConfig;
  private readonly log: Logger;
  private readonly ns: { netns?: string };
  private ring: KeyRing | undefined;
  private peers: EncryptionPeer[] = [];
  private vnis: number[] = [];
  /** The VXLAN port the ESP policies select. */
  private port: number;
  /** Ports the guard covers: `port` and those before it since start() (backend.ts). */
  private guardedPorts: number[];
  private applied: XfrmSet = EMPTY_XFRM_SET;
  private appliedGuard: string | undefined;
  private readonly guardWatch = new GuardWatch();
  private dirty = true;
  private started = false;
  private readonly queue = new SerialQueue();

  constructor(private readonly deps: KernelBackendDeps) {
    this.ex = deps.executor;
    this.cfg = deps.config;
    this.log = (deps.logger ?? silentLogger()).child({ component: "encryption", backend: "kernel" });
    this.ns = deps.netns === undefined ? {} : { netns: deps.netns };
    this.port = validateVxlanPort(deps.config.vxlanPort);
    this.guardedPorts = [this.port];
  }

  get encryptedVnis(): readonly number[] {
    return this.vnis;
  }

  private get options(): XfrmOptions {
    return {
      mark: this.cfg.xfrmMark,
      reqid: this.cfg.xfrmReqid,
      replayWindow: this.cfg.espReplayWindow,
    };
  }

  private serialize(job: () => Promise<void>): Promise<void> {
    return this.queue.run(job);
  }

  start(): Promise<void> {
    return this.serialize(async () => {
      if (this.started) return;
      this.started = true;
      this.dirty = true;
      await this.reconcile();
    });
  }

  stop(): Promise<void> {
    return this.serialize(async () => {
      if (!this.started) return;
      this.started = false;
      await this.flushOurs();
      await this.ex.nftApply(
        renderGuard({ vxlanPorts: [this.port], vnis: [], mode: this.guardMode() }),
        this.ns,
      );
      this.appliedGuard = undefined;
      this.guardedPorts = [this.port];
    });
  }

  setKeys(ring: KeyRing): Promise<void> {
    const next = validateKeyRing(ring);
    return this.serialize(async () => {
      const prev = this.ring;
      this.ring = next;
      const step = rotationStep(prev, next);
      this.log.info(
        {
          keys: describeKeyRing(next),
          added: step.added,
          removed: step.removed,
          lossless: isLosslessStep(prev, next),
        },
        "key ring applied",
      );
      if (this.started) await this.reconcile();
    });
  }

  setPeers(peers: readonly EncryptionPeer[]): Promise<void> {
    const copy = peers.map((p) => ({ nodeName: p.nodeName, underlayAddr: p.underlayAddr }));
    return this.serialize(async () => {
      this.peers = copy;
      if (this.started) await this.reconcile();
    });
  }

  setEncryptedVnis(vnis: readonly number[]): Promise<void> {
    const next = validateVnis(vnis);
    return this.serialize(async () => {
      this.vnis = next;
      if (this.started) await this.reconcile();
    });
  }

  setVxlanPort(port: number): Promise<void> {
    const next = validateVxlanPort(port);
    return this.serialize(async () => {
      if (next === this.port) return;
      this.log.info({ from: this.port, to: next }, "VXLAN port set");
      this.port = next;
      this.guardedPorts = guardedPortsAfter(this.guardedPorts, next, this.started);
      if (this.started) await this.reconcile();
    });
  }

  fdbDestination(peerUnderlayAddr: string): string {
    return peerUnderlayAddr;
  }

  overlayMtu(underlayMtu: number): number {
    return underlayMtu - VXLAN_OVERHEAD_BYTES - ESP_OVERHEAD_BYTES;
  }

  repair(): Promise<void> {
    return this.serialize(async () => {
      if (!this.started) return;
      if (!(await this.guardWatch.intact(this.ex, this.ns, this.vnis.length > 0))) {
        this.log.warn("the plaintext guard table was changed from outside: applying it again");
        this.appliedGuard = undefined;
      }
      const held = await this.readOurs();
      const applied = {
        states: this.applied.states.map((x) => `${x.src} ${x.dst} ${formatSpi(x.spi)}`).sort(),
        policies: this.applied.policies.map((x) => `${x.src} ${x.dst} ${x.dport}`).sort(),
      };
      if (JSON.stringify(held) !== JSON.stringify(applied)) {
        this.log.warn(
          { states: held.states.length, policies: held.policies.length },
          "ESP states or policies were changed from outside: programming them again (peers drop this node's restarted sequence numbers as replays until the next key rotation: swarmnet swarm rotate-keys)",
        );
        this.dirty = true;
      }
      await this.reconcile();
    });
  }

  /**
   * Our states ("src dst spi", by reqid) and outbound policies ("src dst dport", by mark)
   * as the kernel lists them. The state listing holds key bytes: only the lines naming a
   * state are read, and nothing of it is logged.
   */
  private async readOurs(): Promise<{ states: string[]; policies: string[] }> {
    const states: string[] = [];
    let ends = "";
    for (const line of (await this.ex.ip(["xfrm", "state", "list"], this.ns)).split("\n")) {
      const head = /^src (\S+) dst (\S+)/.exec(line);
      if (head !== null) ends = `${head[1]} ${head[2]}`;
      const esp = /^\s+proto esp spi (0x[0-9a-f]+) reqid (\d+)/.exec(line);
      if (esp !== null && Number(esp[2]) === this.cfg.xfrmReqid) states.push(`${ends} ${esp[1]}`);
    }
    const bare = (a: string) => a.replace(/\/32$/, "");
    const policies = ourOutPolicies(await this.ex.ip(["xfrm", "policy", "list"], this.ns), this.options).map(
      (p) => `${bare(p.src)} ${bare(p.dst)} ${p.dport}`,
    );
    return { states: states.sort(), policies: policies.sort() };
  }

  async stats(): Promise<EncryptionStats> {
    const drops = await readGuardDrops(
      this.ex,
      this.ns,
      this.appliedGuard !== undefined && this.vnis.length > 0,
    );
    return {
      backend: "kernel",
      keyTags: this.ring?.keys.map((k) => k.tag) ?? [],
      primaryTag: this.ring?.primaryTag,
      peers: this.peers.length,
      encryptedVnis: [...this.vnis],
      counters: {
        xfrmStates: this.applied.states.length,
        xfrmPolicies: this.applied.policies.length,
        guardDropsOut: drops.out,
        guardDropsIn: drops.in,
      },
    };
  }

  private guardMode(): { kind: "kernel"; mark: number } {
    return { kind: "kernel", mark: this.cfg.xfrmMark };
  }

  /** Removes every state and policy of ours, known or left over by a predecessor. */
  private async flushOurs(): Promise<void> {
    const listing = await this.ex.ip(["xfrm", "policy", "list", "dir", "out"], this.ns);
    await this.ex.ipBatch(
      [...staleOurPolicyDeletes(listing, this.options), `xfrm state deleteall reqid ${this.cfg.xfrmReqid}`],
      this.ns,
    );
    this.applied = EMPTY_XFRM_SET;
  }

  private async reconcile(): Promise<void> {
    const desired = desiredXfrm({
      localAddr: this.deps.localAddr,
      vxlanPort: this.port,
      peers: this.peers,
      ring: this.ring,
    });
    // Guard first when adding protection (nothing leaves in plaintext meanwhile); the
    // ruleset is replaced atomically, so there is no window without it. On a new port it
    // marks and guards both: until the batch below adds the new port's policies, its
    // packets find no policy and are dropped; after it, the old port's are.
    const guard = renderGuard({ vxlanPorts: this.guardedPorts, vnis: this.vnis, mode: this.guardMode() });
    if (guard !== this.appliedGuard) {
      await this.ex.nftApply(guard, this.ns);
      this.appliedGuard = guard;
      this.guardWatch.applied();
    }
    if (this.dirty) await this.flushOurs();
    const lines = renderXfrmBatch(diffXfrm(this.applied, desired), this.options);
    try {
      await this.ex.ipBatch(lines, this.ns);
    } catch (err) {
      this.dirty = true;
      throw new SwarmnetError(
        err instanceof SwarmnetError ? err.code : ErrorCode.KernelRejected,
        `programming ESP states for ${this.peers.length} peers failed (will reprogram all on the next change): ${
          err instanceof Error ? err.message : String(err)
        }`,
        { cause: err, retryable: true },
      );
    }
    this.applied = desired;
    this.dirty = false;
  }
}
