/**
 * Whether this node is in a cluster, and the dispatcher stream that follows from it.
 *
 * The node's membership lives in `<state dir>/cluster.json` (see `credentials.ts`) and
 * its certificate in `<state dir>/certificates/` (common/pki/node-files.ts).
 * `ClusterMembership` reads them at start and then checks every `pollMs`: when both are
 * there (after `swarm init|join` on this node) a `DispatcherClient` is started over the
 * node's mutual-TLS credentials, with a `CertificateRenewer` (renewal.ts), and `joined`
 * is emitted; when they go (`swarm leave`) or name another node, the client is stopped
 * (and a new one started for a new node). A renewed certificate is applied to the running
 * client's TLS source: its stream stays open. Polling a small file twice a
 * second costs nothing and, unlike inotify, works on every filesystem a state dir may
 * sit on.
 */
import { EventEmitter } from "node:events";
import { networkInterfaces } from "node:os";
import { RealClock, type Clock, type TimerHandle } from "../../common/clock.js";
import { silentLogger, type Logger } from "../../common/logger.js";
import type { KernelCapabilities } from "../probe.js";
import { fileStamp, nodeTlsStamp, readNodeTls, watchNodeTls } from "../../common/pki/node-files.js";
import { TlsSource } from "../../common/pki/tls.js";
import { DispatcherClient } from "./client.js";
import { credentialsPath, readCredentials, type ClusterCredentials } from "./credentials.js";
import { CertificateRenewer } from "./renewal.js";

export interface MembershipOptions {
  stateDir: string;
  hostname: string;
  /** This node's advertise address; its first underlay address when unset. */
  advertiseAddr: string | undefined;
  /** Managers from the agent's own config, tried after those in the credentials. */
  managers: string[];
  /** The kernel probe's result, reported to the managers. */
  capabilities: () => KernelCapabilities | undefined;
  /** "ip/len" of the node's underlay interfaces; read from the interfaces when absent. */
  underlayAddrs?: () => string[];
  pollMs?: number;
  clock?: Clock;
  log?: Logger;
}

export interface MembershipEvents {
  joined: [DispatcherClient, ClusterCredentials];
  left: [];
}

/** How often cluster.json is checked: joining shows up within half a second. */
const DEFAULT_POLL_MS = 500;

export function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => a.family === "IPv4" && !a.internal && a.cidr !== null)
    .map((a) => a.cidr as string);
}

export class ClusterMembership extends EventEmitter<MembershipEvents> {
  private client: DispatcherClient | undefined;
  private renewer: CertificateRenewer | undefined;
  private certWatch: { stop(): void } | undefined;
  private creds: ClusterCredentials | undefined;
  private timer: TimerHandle | undefined;
  /** The files' stamps at the last check (see `check`). */
  private stamp = "";
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly opts: MembershipOptions) {
    super();
    this.clock = opts.clock ?? new RealClock();
    this.log = opts.log ?? silentLogger();
  }

  /** The stream to the managers, while this node is in a cluster. */
  get dispatcher(): DispatcherClient | undefined {
    return this.client;
  }

  get credentials(): ClusterCredentials | undefined {
    return this.creds;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.check();
    this.timer = this.clock.setInterval(() => this.check(), this.opts.pollMs ?? DEFAULT_POLL_MS);
  }

  async stop(): Promise<void> {
    this.timer?.cancel();
    this.timer = undefined;
    await this.leave();
  }

  private check(): void {
    // Every poll stats the files; only a change reads and parses them (reading them every
    // 500 ms was a visible share of an idle agent's CPU, issue 16). They are replaced by
    // rename, so a changed stamp means a whole new file.
    const stamp = `${fileStamp(credentialsPath(this.opts.stateDir))}|${nodeTlsStamp(this.opts.stateDir)}`;
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    const found = readCredentials(this.opts.stateDir);
    const creds = found !== undefined && readNodeTls(this.opts.stateDir) !== undefined ? found : undefined;
    const same = creds !== undefined && this.creds !== undefined && creds.nodeId === this.creds.nodeId;
    if (same) return;
    if (this.creds !== undefined) void this.leave();
    if (creds !== undefined) this.join(creds);
  }

  private join(creds: ClusterCredentials): void {
    const underlay = (this.opts.underlayAddrs ?? interfaceAddresses)();
    const advertiseAddr = this.opts.advertiseAddr ?? underlay[0]?.split("/")[0] ?? "";
    const tls = new TlsSource();
    this.certWatch = watchNodeTls(this.opts.stateDir, tls, this.opts.pollMs ?? DEFAULT_POLL_MS);
    const client = new DispatcherClient({
      managers: [...new Set([...creds.managers, ...this.opts.managers])],
      tls,
      clusterId: creds.clusterId,
      hostname: this.opts.hostname,
      advertiseAddr,
      underlayAddrs: underlay,
      capabilities: this.opts.capabilities(),
      clock: this.clock,
      log: this.log,
    });
    this.creds = creds;
    this.client = client;
    client.on("unauthenticated", (err) => {
      this.log.warn(
        { err: err.message },
        "the managers no longer accept this node (it left or was removed): run 'swarmnet swarm leave', then 'swarmnet swarm join'",
      );
    });
    this.log.info(
      { node: creds.nodeId, role: creds.role },
      "node is in a cluster; opening the dispatcher stream",
    );
    client.start();
    this.renewer = new CertificateRenewer({
      stateDir: this.opts.stateDir,
      tls,
      pool: client.pool,
      dispatcher: client,
      log: this.log.child({ component: "certificates" }),
    });
    this.renewer.start();
    this.emit("joined", client, creds);
  }

  private async leave(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.creds = undefined;
    this.stamp = ""; // the next check reads the files again
    this.renewer?.stop();
    this.renewer = undefined;
    this.certWatch?.stop();
    this.certWatch = undefined;
    if (client === undefined) return;
    await client.stop();
    this.log.info("node left the cluster; dispatcher stream closed");
    this.emit("left");
  }
}
