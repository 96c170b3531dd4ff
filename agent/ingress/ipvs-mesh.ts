/**
 * The routing mesh on IPVS, for kernels that have ip_vs (Docker's own mesh is IPVS): the
 * same `LoadBalancer` as `Mesh`, the same desired state, the same validation and errors.
 * It composes three owners rather than copying mesh.ts:
 *
 *   - a `Mesh` (nftables table `swarmnet`) given the state without ingress and VIPs: host
 *     mode, `-p`, egress masquerade, and the postrouting SNAT of ingress-marked packets
 *     to the ingress source (IPVS's ingress marks share that top byte);
 *   - table `swarmnet_ipvs` (ipvs-marks.ts), marking published-port and VIP packets;
 *   - IPVS itself: one fwmark virtual service per published port / VIP port, backends as
 *     masquerading real servers (ipvs-model.ts), changed through the executor's
 *     `ipvsadm --restore`, one batch of `-A/-E/-a/-e` before the marks change and one of
 *     `-d/-D` after, so a marked packet never meets a missing service.
 *
 * Incremental by construction: a change diffs the model last applied against the next
 * (a one-backend change is one `-a` or `-d` line). The first apply and `resync` diff
 * against what the kernel holds (`ipvsadm -S -n`) instead, so an agent restart adopts
 * the services in place and live connections keep their real servers: nothing here ever
 * clears IPVS (`-C` would orphan every connection), and services whose mark is not ours
 * are never touched. A batch that fails (ipvsadm applies line by line) is redone once
 * from a fresh read of the kernel, reported as a repaired drift.
 *
 * Namespace tuning, once (again on resync), after ipvsadm has loaded ip_vs:
 *   - `ipvsadm --set TCP TCPFIN UDP`: IPVS keeps its own connection timeouts, 900 s for
 *     idle established TCP by default, and cut long idle connections (moby#31208); set
 *     to the mesh's conntrack timeout (5 days, beyond any keepalive).
 *   - `net.ipv4.vs.conntrack=1`: IPVS keeps netfilter conntrack entries for its
 *     connections, so table `swarmnet`'s postrouting SNAT applies to them (as Docker).
 *   - `net.ipv4.vs.expire_nodest_conn=1`: a connection whose real server was removed is
 *     expired on its next packet (so the client's connection fails fast) instead of
 *     sending into a gone task until it times out. Removing the real server (not weight 0) is right
 *     here: a backend leaves the desired state when its task is gone, so there is nothing
 *     to drain; and since IPVS drops the conntrack entry with the connection, no
 *     `conntrack -D` is needed (the nftables mesh's cleanup is not used for IPVS flows).
 */
import type { Clock } from "../../common/clock.js";
import { RealClock } from "../../common/clock.js";
import type { Executor } from "../../common/executor.js";
import type { Logger } from "../../common/logger.js";
import { silentLogger } from "../../common/logger.js";
import type { NftSessionStats } from "../../common/nft-session.js";
import { SerialQueue } from "../../common/serial-queue.js";
import type { MeshConfig } from "./config.js";
import {
  buildIpvsModel,
  diffIpvs,
  parseIpvsSave,
  realServerCount,
  tableOf,
  type IpvsChange,
  type IpvsModel,
  type IpvsTable,
} from "./ipvs-model.js";
import { MARKS_TABLE_SIZE, renderMarksFlush, renderMarksScript } from "./ipvs-marks.js";
import type { ApplyStats, LoadBalancer, RulesetSize } from "./load-balancer.js";
import type { MeshState } from "./mesh-state.js";
import { Mesh, type MeshOptions } from "./mesh.js";
import { buildModel, type TableModel } from "./ruleset-model.js";

export class IpvsMesh implements LoadBalancer {
  readonly config: MeshConfig;
  private readonly netns: string | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  /** Table `swarmnet`: everything that is not balancing. */
  private readonly nftMesh: Mesh;
  /** The whole state's nftables model, kept only to validate the next state incrementally. */
  private validated: TableModel | undefined;
  /** What IPVS and the marks table hold, as far as we know; undefined until the first apply. */
  private applied: IpvsModel | undefined;
  private marksScript: string | undefined;
  /** False until a converge succeeds and after one fails: the next diffs from a read of the kernel. */
  private kernelKnown = false;
  private tuned = false;
  private readonly queue = new SerialQueue();

  constructor(
    private readonly ex: Executor,
    options: MeshOptions = {},
  ) {
    this.nftMesh = new Mesh(ex, options);
    this.config = this.nftMesh.config;
    this.netns = options.netns;
    this.clock = options.clock ?? new RealClock();
    this.log = options.log ?? silentLogger();
  }

  /**
   * Stops the nft session of table `swarmnet` (idempotent); the kernel state stays. No
   * timer of its own: the agent's reconcile loop calls `resync` on its period.
   */
  stop(): void {
    this.nftMesh.stop();
  }

  apply(desired: MeshState): Promise<ApplyStats> {
    return this.serial(() => this.applyNow(desired));
  }

  resync(): Promise<ApplyStats> {
    return this.serial(async () => {
      const started = this.clock.now();
      const model = this.applied ?? buildIpvsModel({});
      this.tuned = false; // drift may be a sysctl or a timeout too (a recreated namespace)
      this.marksScript = undefined;
      const stats = await this.nftMesh.resync();
      this.kernelKnown = false;
      return this.converge(model, stats, started);
    });
  }

  flush(): Promise<void> {
    return this.serial(async () => {
      await this.ex.nftApply(renderMarksFlush(), this.ns());
      const { deletes } = diffIpvs(await this.readKernel(), new Map());
      await this.ex.ipvsadmRestore(deletes, this.ns());
      await this.nftMesh.flush();
      this.applied = undefined;
      this.validated = undefined;
      this.marksScript = undefined;
      this.kernelKnown = false;
    });
  }

  /** What the long-lived nft of table `swarmnet` did, when it applies through one. */
  sessionStats(): NftSessionStats | undefined {
    return this.nftMesh.sessionStats();
  }

  /** Size of what was last applied: both tables' rules and elements, plus IPVS real servers. */
  size(): RulesetSize {
    return this.sizeWith(this.nftMesh.size());
  }

  private async applyNow(desired: MeshState): Promise<ApplyStats> {
    const started = this.clock.now();
    // The whole state through the nftables model: bad input fails here, as with `Mesh`.
    const validated = buildModel(desired, this.validated);
    const next = buildIpvsModel(desired, this.applied);
    const stats = await this.nftMesh.apply({ ...desired, ingress: [], vips: [] });
    this.validated = validated;
    return this.converge(next, stats, started);
  }

  /**
   * Brings IPVS and the marks table to `next`: from what was applied when the kernel is
   * known to hold it, else from a read of the kernel. Folds the IPVS work into `stats`.
   */
  private async converge(next: IpvsModel, stats: ApplyStats, started: number): Promise<ApplyStats> {
    const prev = this.kernelKnown ? this.applied : undefined;
    this.kernelKnown = false; // until this converge has succeeded
    await this.ensureTuned();
    const want = tableOf(next);
    let change = diffIpvs(prev === undefined ? await this.readKernel() : tableOf(prev), want);
    change = await this.restore(change, "adds", want, stats);
    const script = renderMarksScript(next);
    if (script !== this.marksScript) {
      const t0 = this.clock.now();
      await this.ex.nftApply(script, this.ns());
      stats.nftMs += this.clock.now() - t0;
      stats.scriptBytes += script.length;
      this.marksScript = script;
    }
    change = await this.restore(change, "deletes", want, stats);
    this.applied = next;
    this.kernelKnown = true;
    return this.withIpvs(stats, change, want, started, prev === undefined);
  }

  /**
   * Runs one phase of `change`; if ipvsadm fails (the kernel is not what we thought), the
   * change is diffed again from a fresh read and redone once: its adds, and for the
   * deletes phase its deletes too. Returns the change that now stands.
   */
  private async restore(
    change: IpvsChange,
    phase: keyof IpvsChange,
    want: IpvsTable,
    stats: ApplyStats,
  ): Promise<IpvsChange> {
    try {
      await this.ex.ipvsadmRestore(change[phase], this.ns());
      return change;
    } catch (err) {
      this.log.warn({ err, netns: this.netns }, "ipvsadm batch failed; redoing it from the kernel's table");
      const fresh = diffIpvs(await this.readKernel(), want);
      await this.ex.ipvsadmRestore(
        phase === "adds" ? fresh.adds : [...fresh.adds, ...fresh.deletes],
        this.ns(),
      );
      stats.repairedDrift = true;
      return fresh;
    }
  }

  private withIpvs(
    stats: ApplyStats,
    change: IpvsChange,
    want: IpvsTable,
    started: number,
    whole: boolean,
  ): ApplyStats {
    const changed = change.adds.length + change.deletes.length;
    if (whole) stats.mode = "full";
    else if (changed > 0 && stats.mode === "noop") stats.mode = "incremental";
    stats.elementsAdded += change.adds.length;
    stats.elementsDeleted += change.deletes.length;
    stats.size = this.sizeWith(stats.size, realServerCount(want));
    stats.totalMs = this.clock.now() - started;
    return stats;
  }

  private sizeWith(nft: RulesetSize, realServers?: number): RulesetSize {
    const model = this.applied;
    const rs = realServers ?? (model === undefined ? 0 : realServerCount(tableOf(model)));
    return {
      rules: nft.rules + MARKS_TABLE_SIZE.rules,
      chains: nft.chains + MARKS_TABLE_SIZE.chains,
      sets: nft.sets + MARKS_TABLE_SIZE.sets,
      elements: nft.elements + (model?.marks.length ?? 0) + rs,
    };
  }

  /** Our services as the kernel holds them (`ipvsadm -S -n`; running it loads ip_vs). */
  private async readKernel(): Promise<IpvsTable> {
    return parseIpvsSave(await this.ex.ipvsadm(["-S", "-n"], this.ns()));
  }

  /** IPVS timeouts and sysctls (see the header), once; retried on every call until it succeeds. */
  private async ensureTuned(): Promise<void> {
    if (this.tuned) return;
    const c = this.config;
    await this.ex.ipvsadm(
      [
        "--set",
        String(c.conntrackEstablishedTimeoutS),
        String(c.ipvsTcpFinTimeoutS),
        String(c.ipvsUdpTimeoutS),
      ],
      this.ns(),
    );
    await this.ex.sysctl("net.ipv4.vs.conntrack", "1", this.ns());
    await this.ex.sysctl("net.ipv4.vs.expire_nodest_conn", "1", this.ns());
    this.tuned = true;
  }

  private ns(): { netns?: string } {
    return this.netns === undefined ? {} : { netns: this.netns };
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn);
  }
}
