/**
 * The manager's configuration: one spec, one DEFAULTS table with the reason for each
 * value. Sources: DEFAULTS, then command-line flags (`swarmnet manager --…`).
 */
import { hostname } from "node:os";
import {
  durationMs,
  hostPort,
  int,
  list,
  loadConfig,
  loopbackHostPort,
  optional,
  str,
  type ConfigSpec,
} from "../common/config.js";

/**
 * The TLS name etcd members' certificates carry (deploy/lab/etcd-tls.ts issues them; the
 * etcd client checks it). Here, not beside the client, so writing certificates does not
 * load the etcd client: `swarmnet lab …` starts for every `lab exec`.
 */
export const ETCD_TLS_SERVER_NAME = "etcd";

export interface ManagerConfig {
  /** The node this manager runs on; shown as the leader in `node ls`. */
  nodeName: string;
  /** gRPC listen address, host:port. */
  listen: string;
  /** Address agents and the CLI should dial (host:port); the listen address when unset. */
  advertiseAddr: string | undefined;
  /** etcd client URLs: https, or http on loopback only. */
  etcd: string[];
  /** etcd TLS: the CA of etcd's certificates, and this manager's client certificate and key (files). */
  etcdCa: string | undefined;
  etcdCert: string | undefined;
  etcdKey: string | undefined;
  /**
   * The node's state dir: its certificate (certificates/, shared with the node's agent
   * and CLI), the manager's KEK file and its local socket (manager.sock).
   */
  stateDir: string;
  /** How often the node's certificate files are checked for a renewal. */
  certPollMs: number;
  /** Deadline of each etcd call. */
  etcdCallTimeoutMs: number;
  /** TTL of this manager's lease (its registration and its agents' sessions). */
  leaseTtlSeconds: number;
  /** TTL of the election campaign: bounds how long a dead leader stays leader. */
  electionTtlSeconds: number;
  /** Pause before campaigning again after a failed campaign. */
  electionRetryMs: number;
  /** How often agents send heartbeats. */
  heartbeatPeriodMs: number;
  /** Missed heartbeat periods before a session is ended and its node turns down. */
  heartbeatGrace: number;
  /** A connection to the TLS listener that has not finished its handshake by then is closed. */
  tlsHandshakeTimeoutMs: number;
  /** A connection whose peer leaves the manager's keepalive ping unanswered this long is closed. */
  keepaliveTimeoutMs: number;
  /** Change batches kept for resuming agent streams without a snapshot. */
  changeLogBatches: number;
  /** Leader job: how often etcd history is compacted. */
  compactionIntervalMs: number;
  /** Leader job: revisions of history kept by compaction. */
  compactionKeepRevisions: number;
  /** Scheduler: how long a node may be without a session before its tasks move. */
  nodeDownGraceMs: number;
  /** Scheduler: pause between a task's failure and its replacement. */
  taskRestartDelayMs: number;
  /** Scheduler: how often it looks again when nothing changed (grace and delays run out). */
  schedulerTickMs: number;
  /** Key rotation: pause before trying again after a rotation failed (etcd unreachable). */
  keyRotationRetryMs: number;
  /** Where Prometheus metrics (`/metrics`) and the live page (`/`) are served, loopback host:port. */
  metricsAddr: string;
}

export const MANAGER_DEFAULTS: ManagerConfig = {
  // The hostname is what a person sees in `node ls`; the lab passes n1…nN.
  nodeName: hostname(),
  // Docker's swarm port, on loopback unless told otherwise: not exposed by accident.
  listen: "127.0.0.1:2377",
  advertiseAddr: undefined,
  etcd: ["http://127.0.0.1:2379"],
  etcdCa: undefined,
  etcdCert: undefined,
  etcdKey: undefined,
  // The agent's default: one state dir per node, shared by its processes.
  stateDir: "/var/lib/swarmnet",
  // A renewal reaches the manager's TLS listener within a second; a stat per second costs nothing.
  certPollMs: 1_000,
  // Well above a healthy etcd's milliseconds, well below a person's patience.
  etcdCallTimeoutMs: 5_000,
  // A dead manager's agents show down (and its sessions move) within ~5 s.
  leaseTtlSeconds: 5,
  // Leader hand-over within ~5 s of a leader's death (the issue asks for 10 s).
  electionTtlSeconds: 5,
  // Short: a failed campaign usually means etcd blinked.
  electionRetryMs: 1_000,
  // Docker uses 5 s; 2 s shows a dead agent within ~6 s at a cost of one tiny RPC per node.
  heartbeatPeriodMs: 2_000,
  // Three missed beats: one lost packet or a GC pause never marks a node down.
  heartbeatGrace: 3,
  // A real client finishes its handshake in milliseconds; 10 s covers a very loaded machine
  // and still frees what a silent or trickling peer holds (Node's own default is 120 s).
  // Clients on emulated CPUs need more: the lab scales it for VM nodes (deploy/lab/lab.ts).
  tlsHandshakeTimeoutMs: 10_000,
  // Pinged every 10 s (manager/grpc/server.ts), a dead or silent peer's connection is gone
  // within ~15 s. The lab scales it for VM nodes, whose Node answers only when its
  // emulated vCPU gets to it.
  keepaliveTimeoutMs: 5_000,
  // ~ a few minutes of changes at a busy rate; older resume points get a snapshot instead.
  changeLogBatches: 10_000,
  // Compaction is cheap; every 5 minutes keeps history small.
  compactionIntervalMs: 300_000,
  // Enough for any agent that was briefly away to resume; older ones resync.
  compactionKeepRevisions: 10_000,
  // A few seconds after the session ends (itself heartbeatPeriodMs × heartbeatGrace after
  // the agent's last beat): an agent restart or a blip keeps its tasks, a dead node's tasks
  // run elsewhere within ~11 s of its death.
  nodeDownGraceMs: 5_000,
  // One second: a task that failed by accident is back at once, a crash loop costs one
  // task a second instead of a storm (Docker waits 5 s; the mesh here drops a dead
  // backend as soon as its agent reports it, so a short delay costs nothing).
  taskRestartDelayMs: 1_000,
  // Half a second: grace and restart delay are acted on within that; a pass with nothing
  // to do reads only the manager's own mirror.
  schedulerTickMs: 500,
  // One second: a rotation that failed because etcd blinked happens a second late, well
  // inside the interval the key schedule allows for a ring to reach every node.
  keyRotationRetryMs: 1_000,
  // Next to the agent's 9323 on loopback: no authentication, so never an underlay address.
  metricsAddr: "127.0.0.1:9324",
};

const SPEC: ConfigSpec<ManagerConfig> = {
  nodeName: str({ pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, hint: "a name of letters, digits, . _ -" }),
  listen: hostPort(),
  advertiseAddr: optional(hostPort()),
  etcd: list(
    str({
      pattern: /^(https:\/\/[^\s,]+|http:\/\/(127\.\d+\.\d+\.\d+|localhost)(:\d+)?)$/,
      hint: "an etcd URL like https://10.0.0.1:2379 (http:// on loopback only)",
    }),
  ),
  etcdCa: optional(str({ pattern: /^\//, hint: "an absolute path" })),
  etcdCert: optional(str({ pattern: /^\//, hint: "an absolute path" })),
  etcdKey: optional(str({ pattern: /^\//, hint: "an absolute path" })),
  stateDir: str({ pattern: /^\//, hint: "an absolute path" }),
  certPollMs: durationMs({ min: 50 }),
  etcdCallTimeoutMs: durationMs({ min: 100 }),
  leaseTtlSeconds: int({ min: 2, max: 3600 }),
  electionTtlSeconds: int({ min: 2, max: 3600 }),
  electionRetryMs: durationMs({ min: 10 }),
  heartbeatPeriodMs: durationMs({ min: 50 }),
  heartbeatGrace: int({ min: 2, max: 100 }),
  tlsHandshakeTimeoutMs: durationMs({ min: 100 }),
  keepaliveTimeoutMs: durationMs({ min: 100 }),
  changeLogBatches: int({ min: 1 }),
  compactionIntervalMs: durationMs({ min: 1000 }),
  compactionKeepRevisions: int({ min: 1 }),
  nodeDownGraceMs: durationMs({ min: 0 }),
  taskRestartDelayMs: durationMs({ min: 0 }),
  schedulerTickMs: durationMs({ min: 50 }),
  keyRotationRetryMs: durationMs({ min: 10 }),
  metricsAddr: loopbackHostPort(),
};

export function loadManagerConfig(overrides: Partial<Record<keyof ManagerConfig, unknown>>): ManagerConfig {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return loadConfig("manager", SPEC, MANAGER_DEFAULTS, given);
}
