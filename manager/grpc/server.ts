/**
 * The manager's gRPC servers: the services of `proto/control.proto` wired to the domain
 * services, each handler behind an authorization policy (authorization.ts) decided from
 * the transport and the peer certificate. Handlers only convert (see `convert.ts`) and
 * delegate; every error leaves through `toGrpcError` (common/grpc-errors.ts), the one
 * SwarmnetError → status boundary on this side.
 *
 * Two listeners serve the same handlers:
 *   tls    `--listen` (2377 by default, as Docker's): mutual TLS with the node's
 *          certificate (common/pki/tls.ts); opened only once the manager has a manager
 *          certificate and its key-encryption key (unlocked) — no listener on an
 *          underlay address ever speaks plaintext
 *   local  `<state dir>/manager.sock`, mode 0600: `swarm init` (there is no CA before
 *          it) and `swarm unlock` (a locked manager has no TLS listener); root on the
 *          manager's node, as Docker's local socket
 */
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { toGrpcError } from "../../common/grpc-errors.js";
import type { Logger } from "../../common/logger.js";
import { serverCredentials, type TlsSource } from "../../common/pki/tls.js";
import { grpcPackageDefinition } from "../../common/proto.js";
import type { ProtoGrpcType } from "../../proto/generated/swarmnet.js";
import type { CaHandlers } from "../../proto/generated/swarmnet/v1/Ca.js";
import type { ClusterHandlers } from "../../proto/generated/swarmnet/v1/Cluster.js";
import type { ClusterInfo } from "../../proto/generated/swarmnet/v1/ClusterInfo.js";
import type { DispatcherHandlers } from "../../proto/generated/swarmnet/v1/Dispatcher.js";
import type { JoinResponse } from "../../proto/generated/swarmnet/v1/JoinResponse.js";
import type { NetworksHandlers } from "../../proto/generated/swarmnet/v1/Networks.js";
import type { AttachmentsHandlers } from "../../proto/generated/swarmnet/v1/Attachments.js";
import type { ServicesHandlers } from "../../proto/generated/swarmnet/v1/Services.js";
import type { ServiceControl, TaskStatusUpdate } from "../services/index.js";
import type { NodesHandlers } from "../../proto/generated/swarmnet/v1/Nodes.js";
import type {
  CaStatusView,
  CertificateAuthority,
  ClusterService,
  InitInput,
  JoinResult,
  NodeService,
} from "../cluster/index.js";
import type { Dispatcher, SessionSink } from "../dispatcher/dispatcher.js";
import type { KeyManager } from "../keys/index.js";
import type { EventLog } from "../events/event-log.js";
import { eventsHandlers } from "../events/events-grpc.js";
import type { AttachmentService, NetworkService } from "../networks/index.js";
import type { NodeRole } from "../store/records.js";
import { authorize, authorized, callerNode, type AuthorizationSource } from "./authorization.js";
import {
  attachResultToProto,
  clusterToProto,
  createServiceInput,
  serviceToProto,
  taskStatusUpdates,
  taskViewToProto,
  updateServiceInput,
  createNetworkInput,
  networkToProto,
  nodeToProto,
  sessionOutputToProto,
  sessionRequest,
} from "./convert.js";

export interface ManagerServices {
  cluster: ClusterService;
  ca: CertificateAuthority;
  keys: KeyManager;
  nodes: NodeService;
  networks: NetworkService;
  attachments: AttachmentService;
  services: ServiceControl;
  /** Writes what an agent reported about its tasks (its session already checked). */
  taskStatus: (nodeId: string, updates: TaskStatusUpdate[]) => Promise<void>;
  dispatcher: Dispatcher;
  leader: () => Promise<string | undefined>;
  /** `swarm init` on this manager: makes the KEK, then the cluster. */
  init: (input: InitInput) => Promise<JoinResult>;
  /** `swarm unlock` with the unlock key. */
  unlock: (unlockKey: string) => Promise<void>;
  /** The key-encryption key, for another manager. */
  exportKek: () => Buffer;
  /** Digest of the trust bundle now, for heartbeat answers. */
  trustDigest: () => string;
  /** The role the managers hold for a node now. */
  nodeRole: (nodeId: string) => NodeRole | undefined;
  /** Who may call (see authorization.ts); `transport` is set per listener. */
  auth: Omit<AuthorizationSource, "transport">;
  events: EventLog;
}

function role(raw: string): NodeRole {
  if (raw === "worker" || raw === "manager") return raw;
  throw new SwarmnetError(
    ErrorCode.InvalidArgument,
    `role must be worker or manager, got ${JSON.stringify(raw)}`,
  );
}

function autolockFlag(raw: string): boolean | undefined {
  if (raw === "") return undefined;
  if (raw === "true" || raw === "false") return raw === "true";
  throw new SwarmnetError(
    ErrorCode.InvalidArgument,
    `autolock must be true or false, got ${JSON.stringify(raw)}`,
  );
}

function joinToProto(r: JoinResult): JoinResponse {
  return {
    clusterId: r.clusterId,
    nodeId: r.nodeId,
    nodeSecret: "",
    role: r.role,
    managers: r.managers,
    certificate: r.certificate,
    trustBundle: r.trustBundle,
    unlockKey: r.unlockKey,
  };
}

async function clusterInfo(s: ManagerServices): Promise<ClusterInfo> {
  const v = await s.cluster.inspect();
  return {
    ...clusterToProto(v, await s.leader()),
    autolock: v.cluster.autolock === true,
    certExpiryMs: String(v.cluster.certExpiryMs ?? 0),
    caDigest: v.caDigest,
  };
}

function caStatusToProto(v: CaStatusView) {
  return {
    trustBundle: v.trustBundle,
    digest: v.digest,
    rotating: v.rotating,
    nodes: v.nodes,
    nodesOnCurrent: v.nodesOnCurrent,
    rootCertificate: v.rootCertificate,
  };
}

export function clusterHandlers(s: ManagerServices, a: AuthorizationSource): ClusterHandlers {
  return {
    Init: authorized(a, "local", async (r) =>
      joinToProto(
        await s.init({
          hostname: r.hostname,
          advertiseAddr: r.advertiseAddr,
          underlayAddrs: r.underlayAddrs,
          defaultAddrPools: r.defaultAddrPools,
          defaultAddrPoolMaskLength: r.defaultAddrPoolMaskLength,
          dataPathPort: r.dataPathPort,
          keyRotationIntervalMs: Number(r.keyRotationIntervalMs),
          csr: r.csr,
          autolock: r.autolock,
          certExpiryMs: Number(r.certExpiryMs),
        }),
      ),
    ),
    Join: authorized(a, "anyone", async (r) =>
      joinToProto(
        await s.cluster.join({
          token: r.token,
          hostname: r.hostname,
          advertiseAddr: r.advertiseAddr,
          underlayAddrs: r.underlayAddrs,
          csr: r.csr,
        }),
      ),
    ),
    Leave: authorized(a, "node", async (r, caller) => {
      await s.cluster.leave(callerNode(caller), r.force);
      return {};
    }),
    Inspect: authorized(a, "manager", async () => clusterInfo(s)),
    JoinToken: authorized(a, "manager", async (r) => ({
      role: r.role,
      token: await s.cluster.joinToken(role(r.role), r.rotate),
    })),
    RotateKeys: authorized(a, "manager", async () => {
      await s.keys.rotateNow();
      return clusterInfo(s);
    }),
    Update: authorized(a, "manager", async (r) => {
      const interval = Number(r.keyRotationIntervalMs);
      const expiry = Number(r.certExpiryMs);
      await s.cluster.update({
        keyRotationIntervalMs: interval === 0 ? undefined : interval,
        certExpiryMs: expiry === 0 ? undefined : expiry,
        autolock: autolockFlag(r.autolock),
        taskHistoryLimit: r.taskHistoryLimit === 0 ? undefined : r.taskHistoryLimit,
      });
      return clusterInfo(s);
    }),
    Unlock: authorized(a, "local", async (r) => {
      await s.unlock(r.unlockKey);
      return {};
    }),
    UnlockKey: authorized(a, "manager", async (r) => ({ unlockKey: await s.cluster.unlockKey(r.rotate) })),
    ManagerKek: authorized(a, "manager", async (_r, caller) => {
      callerNode(caller);
      return { kek: s.exportKek() };
    }),
  };
}

export function nodesHandlers(s: ManagerServices, a: AuthorizationSource): NodesHandlers {
  return {
    List: authorized(a, "manager", async () => ({ nodes: (await s.nodes.list()).map(nodeToProto) })),
    Remove: authorized(a, "manager", async (r, caller) => ({
      id: (await s.nodes.remove(r.node, r.force, caller.kind === "node" ? caller.nodeId : "")).id,
    })),
    SetRole: authorized(a, "manager", async (r) => nodeToProto(await s.nodes.setRole(r.node, role(r.role)))),
    Update: authorized(a, "manager", async (r) =>
      nodeToProto(await s.nodes.updateLabels(r.node, r.labelAdd, r.labelRm)),
    ),
  };
}

export function networksHandlers(s: ManagerServices, a: AuthorizationSource): NetworksHandlers {
  return {
    Create: authorized(a, "manager", async (r) =>
      networkToProto(await s.networks.create(createNetworkInput(r))),
    ),
    List: authorized(a, "manager", async () => ({ networks: (await s.networks.list()).map(networkToProto) })),
    Inspect: authorized(a, "manager", async (r) => networkToProto(await s.networks.inspect(r.network))),
    Remove: authorized(a, "manager", async (r) => {
      const n = await s.networks.remove(r.network);
      return { id: n.id, name: n.name };
    }),
    Prune: authorized(a, "manager", async () => ({ removed: await s.networks.prune() })),
  };
}

export function attachmentsHandlers(s: ManagerServices, a: AuthorizationSource): AttachmentsHandlers {
  return {
    Attach: authorized(a, "node", async (r, caller) =>
      attachResultToProto(
        await s.attachments.attach({
          nodeId: callerNode(caller),
          network: r.network,
          containerId: r.containerId,
          containerName: r.containerName,
          ip: r.ip,
        }),
      ),
    ),
    Release: authorized(a, "node", async (r, caller) => {
      await s.attachments.release({
        nodeId: callerNode(caller),
        networkId: r.networkId,
        containerId: r.containerId,
      });
      return {};
    }),
  };
}

export function dispatcherHandlers(
  s: ManagerServices,
  a: AuthorizationSource,
  log: Logger,
): DispatcherHandlers {
  return {
    Session: (call) => {
      let ended = false;
      const closers: (() => void)[] = [];
      const closed = () => {
        if (ended) return;
        ended = true;
        for (const fn of closers) fn();
      };
      call.on("cancelled", closed);
      call.on("error", () => closed());
      const sink: SessionSink = {
        write: (m) => {
          if (!ended) call.write(sessionOutputToProto(m));
        },
        end: (err) => {
          if (ended) return;
          ended = true;
          if (err === undefined) call.end();
          else call.emit("error", toGrpcError(err));
        },
        onClose: (fn) => {
          if (ended || call.cancelled) fn();
          else closers.push(fn);
        },
      };
      authorize(call, "node", a)
        .then((caller) =>
          s.dispatcher.open({ ...sessionRequest(call.request), nodeId: callerNode(caller) }, sink),
        )
        .catch((err: unknown) => {
          log.info({ err: String(err), node: call.request.hostname }, "agent session refused");
          sink.end(err instanceof SwarmnetError ? err : new SwarmnetError(ErrorCode.Internal, String(err)));
        });
    },
    Heartbeat: authorized(a, "node", async (r, caller) => {
      const nodeId = callerNode(caller);
      return {
        periodMs: s.dispatcher.heartbeat(r.sessionId, nodeId),
        trustDigest: s.trustDigest(),
        role: s.nodeRole(nodeId) ?? "",
      };
    }),
    ReportTaskStatus: authorized(a, "node", async (r, caller) => {
      const nodeId = callerNode(caller);
      s.dispatcher.heartbeat(r.sessionId, nodeId);
      await s.taskStatus(nodeId, taskStatusUpdates(r));
      return {};
    }),
  };
}

export function servicesHandlers(s: ManagerServices, a: AuthorizationSource): ServicesHandlers {
  return {
    Create: authorized(a, "manager", async (r) =>
      serviceToProto(await s.services.create(createServiceInput(r))),
    ),
    List: authorized(a, "manager", async () => ({
      services: (await s.services.list()).map((v) => serviceToProto(v)),
    })),
    Inspect: authorized(a, "manager", async (r) => serviceToProto(await s.services.inspect(r.service))),
    Update: authorized(a, "manager", async (r) =>
      serviceToProto(await s.services.update(updateServiceInput(r))),
    ),
    Remove: authorized(a, "manager", async (r) => {
      const v = await s.services.remove(r.service);
      return { id: v.id, name: v.name };
    }),
    ListTasks: authorized(a, "manager", async (r) => ({
      tasks: (await s.services.tasks(r.service)).map(taskViewToProto),
    })),
  };
}

export function caHandlers(s: ManagerServices, a: AuthorizationSource): CaHandlers {
  return {
    GetRootCACertificate: authorized(a, "anyone", async () => ({
      trustBundle: (await s.ca.current()).trustBundle,
    })),
    RenewNodeCertificate: authorized(a, "node", async (r, caller) => {
      const issued = await s.ca.renew(callerNode(caller), r.csr);
      return { certificate: issued.chain, trustBundle: issued.trustBundle, role: issued.role };
    }),
    Rotate: authorized(a, "manager", async () => {
      await s.ca.rotate();
      return caStatusToProto(await s.ca.status());
    }),
    Status: authorized(a, "manager", async () => caStatusToProto(await s.ca.status())),
  };
}

/**
 * Per-connection limits, so garbage or idle connections cannot grow a manager's memory
 * without bound (issue 17: 6 × 2,300 garbage connections took one from 81 to 134 MB).
 * Below gRPC, the TLS listener closes what never finishes a handshake or speaks bad
 * HTTP/2 (TLS_LISTENER_LIMITS, common/pki/tls.ts).
 */
const SERVER_OPTIONS: grpc.ServerOptions = {
  // Keepalive enforcement, server side: every connection is pinged each 10 s and closed
  // when a ping goes unanswered for the manager's keepaliveTimeoutMs (5 s), so a dead or
  // silent peer's connection (an agent behind a cut link, a client that stopped reading)
  // is gone within ~15 s. Incoming ping
  // floods are nghttp2's to refuse (its flood protection closes the session); grpc-js
  // 1.14 has no ping-strike policy of its own.
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
  // A connection with no call for 5 minutes is closed (GOAWAY): CLI and join channels
  // close themselves; this catches those that do not. An agent's stream is a call, so
  // its connection is never idle.
  "grpc.max_connection_idle_ms": 300_000,
  // Every connection is renewed after an hour (GOAWAY: new calls go to a new
  // connection); calls in flight — an agent's dispatcher stream — may finish on the old
  // one (no grace limit), so no agent's stream is cut by this.
  "grpc.max_connection_age_ms": 3_600_000,
  // An agent uses its stream and a few unary calls at a time, a CLI one call, the control
  // benchmark 30 concurrent creates on one channel: 64 is above each and bounds what one
  // connection can hold open.
  "grpc.max_concurrent_streams": 64,
  // No channelz: nothing here reads it, and it keeps bookkeeping (refs, traces) for
  // every connection.
  "grpc.enable_channelz": 0,
  // Requests are small (a CSR, a service spec, a status report): 1 MB per message.
  // Answers keep grpc's unbounded default: an agent's snapshot grows with the cluster.
  "grpc.max_receive_message_length": 1 << 20,
};

/** Builds a server with every service for one transport; the caller binds and starts it. */
/** The manager's gRPC server; `keepaliveTimeoutMs` bounds a peer's answer to its pings. */
export function createServer(
  s: ManagerServices,
  transport: "tls" | "local",
  log: Logger,
  keepaliveTimeoutMs: number,
): grpc.Server {
  const v1 = (grpc.loadPackageDefinition(grpcPackageDefinition()) as unknown as ProtoGrpcType).swarmnet.v1;
  const a: AuthorizationSource = { ...s.auth, transport };
  const server = new grpc.Server({ ...SERVER_OPTIONS, "grpc.keepalive_timeout_ms": keepaliveTimeoutMs });
  server.addService(v1.Cluster.service, clusterHandlers(s, a));
  server.addService(v1.Nodes.service, nodesHandlers(s, a));
  server.addService(v1.Networks.service, networksHandlers(s, a));
  server.addService(v1.Dispatcher.service, dispatcherHandlers(s, a, log));
  server.addService(v1.Attachments.service, attachmentsHandlers(s, a));
  server.addService(v1.Services.service, servicesHandlers(s, a));
  server.addService(v1.Ca.service, caHandlers(s, a));
  server.addService(v1.Events.service, eventsHandlers(s.events, a));
  return server;
}

function bind(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, creds, (err, port) => {
      if (err !== null) {
        reject(
          new SwarmnetError(ErrorCode.Unavailable, `cannot listen on ${address}: ${err.message}`, {
            cause: err,
          }),
        );
      } else resolve(port);
    });
  });
}

/**
 * Binds the TLS listener: identity and trust from `tls` (they may change later); a
 * connection still in its handshake after `handshakeTimeoutMs` is closed.
 */
export function bindTls(
  server: grpc.Server,
  address: string,
  tls: TlsSource,
  handshakeTimeoutMs: number,
): Promise<number> {
  return bind(server, address, serverCredentials(tls, handshakeTimeoutMs));
}
