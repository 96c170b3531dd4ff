/**
 * The manager's gRPC server: the services of `proto/control.proto` wired to the
 * domain services. Handlers only convert (see `convert.ts`) and delegate; every error
 * leaves through `toGrpcError` (common/grpc-errors.ts), the one SwarmnetError → status
 * boundary on this side.
 */
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { toGrpcError, unary } from "../../common/grpc-errors.js";
import type { Logger } from "../../common/logger.js";
import { grpcPackageDefinition } from "../../common/proto.js";
import type { ProtoGrpcType } from "../../proto/generated/swarmnet.js";
import type { ClusterHandlers } from "../../proto/generated/swarmnet/v1/Cluster.js";
import type { DispatcherHandlers } from "../../proto/generated/swarmnet/v1/Dispatcher.js";
import type { NetworksHandlers } from "../../proto/generated/swarmnet/v1/Networks.js";
import type { AttachmentsHandlers } from "../../proto/generated/swarmnet/v1/Attachments.js";
import type { ServicesHandlers } from "../../proto/generated/swarmnet/v1/Services.js";
import type { ServiceControl, TaskStatusUpdate } from "../services/index.js";
import type { NodesHandlers } from "../../proto/generated/swarmnet/v1/Nodes.js";
import type { ClusterService, NodeService } from "../cluster/index.js";
import type { Dispatcher, SessionSink } from "../dispatcher/dispatcher.js";
import type { KeyManager } from "../keys/index.js";
import type { AttachmentService, NetworkService } from "../networks/index.js";
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
  keys: KeyManager;
  nodes: NodeService;
  networks: NetworkService;
  attachments: AttachmentService;
  services: ServiceControl;
  /** Writes what an agent reported about its tasks (its session already checked). */
  taskStatus: (nodeId: string, updates: TaskStatusUpdate[]) => Promise<void>;
  dispatcher: Dispatcher;
  leader: () => Promise<string | undefined>;
}

function role(raw: string): "worker" | "manager" {
  if (raw === "worker" || raw === "manager") return raw;
  throw new SwarmnetError(
    ErrorCode.InvalidArgument,
    `role must be worker or manager, got ${JSON.stringify(raw)}`,
  );
}

export function clusterHandlers(s: ManagerServices): ClusterHandlers {
  return {
    Init: unary(async (r) => {
      const res = await s.cluster.init({
        hostname: r.hostname,
        advertiseAddr: r.advertiseAddr,
        underlayAddrs: r.underlayAddrs,
        defaultAddrPools: r.defaultAddrPools,
        defaultAddrPoolMaskLength: r.defaultAddrPoolMaskLength,
        dataPathPort: r.dataPathPort,
        keyRotationIntervalMs: Number(r.keyRotationIntervalMs),
      });
      return res;
    }),
    Join: unary(async (r) =>
      s.cluster.join({
        token: r.token,
        hostname: r.hostname,
        advertiseAddr: r.advertiseAddr,
        underlayAddrs: r.underlayAddrs,
      }),
    ),
    Leave: unary(async (r) => {
      await s.cluster.leave(r.nodeId, r.nodeSecret, r.force);
      return {};
    }),
    Inspect: unary(async () => clusterToProto(await s.cluster.inspect(), await s.leader())),
    JoinToken: unary(async (r) => ({
      role: r.role,
      token: await s.cluster.joinToken(role(r.role), r.rotate),
    })),
    RotateKeys: unary(async () => {
      await s.keys.rotateNow();
      return clusterToProto(await s.cluster.inspect(), await s.leader());
    }),
    Update: unary(async (r) => {
      const interval = Number(r.keyRotationIntervalMs);
      await s.cluster.update({ keyRotationIntervalMs: interval === 0 ? undefined : interval });
      return clusterToProto(await s.cluster.inspect(), await s.leader());
    }),
  };
}

export function nodesHandlers(s: ManagerServices): NodesHandlers {
  return {
    List: unary(async () => ({ nodes: (await s.nodes.list()).map(nodeToProto) })),
    Remove: unary(async (r) => ({ id: (await s.nodes.remove(r.node, r.force)).id })),
  };
}

export function networksHandlers(s: ManagerServices): NetworksHandlers {
  return {
    Create: unary(async (r) => networkToProto(await s.networks.create(createNetworkInput(r)))),
    List: unary(async () => ({ networks: (await s.networks.list()).map(networkToProto) })),
    Inspect: unary(async (r) => networkToProto(await s.networks.inspect(r.network))),
    Remove: unary(async (r) => {
      const n = await s.networks.remove(r.network);
      return { id: n.id, name: n.name };
    }),
    Prune: unary(async () => ({ removed: await s.networks.prune() })),
  };
}

export function attachmentsHandlers(s: ManagerServices): AttachmentsHandlers {
  return {
    Attach: unary(async (r) =>
      attachResultToProto(
        await s.attachments.attach({
          nodeId: r.nodeId,
          nodeSecret: r.nodeSecret,
          network: r.network,
          containerId: r.containerId,
          containerName: r.containerName,
          ip: r.ip,
        }),
      ),
    ),
    Release: unary(async (r) => {
      await s.attachments.release({
        nodeId: r.nodeId,
        nodeSecret: r.nodeSecret,
        networkId: r.networkId,
        containerId: r.containerId,
      });
      return {};
    }),
  };
}

export function dispatcherHandlers(s: ManagerServices, log: Logger): DispatcherHandlers {
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
      s.dispatcher.open(sessionRequest(call.request), sink).catch((err: unknown) => {
        log.info({ err: String(err), node: call.request.hostname }, "agent session refused");
        sink.end(err instanceof SwarmnetError ? err : new SwarmnetError(ErrorCode.Internal, String(err)));
      });
    },
    Heartbeat: unary(async (r) => ({ periodMs: s.dispatcher.heartbeat(r.sessionId, r.nodeId) })),
    ReportTaskStatus: unary(async (r) => {
      s.dispatcher.heartbeat(r.sessionId, r.nodeId);
      await s.taskStatus(r.nodeId, taskStatusUpdates(r));
      return {};
    }),
  };
}

export function servicesHandlers(s: ManagerServices): ServicesHandlers {
  return {
    Create: unary(async (r) => serviceToProto(await s.services.create(createServiceInput(r)))),
    List: unary(async () => ({ services: (await s.services.list()).map((v) => serviceToProto(v)) })),
    Inspect: unary(async (r) => serviceToProto(await s.services.inspect(r.service))),
    Update: unary(async (r) => serviceToProto(await s.services.update(updateServiceInput(r)))),
    Remove: unary(async (r) => {
      const v = await s.services.remove(r.service);
      return { id: v.id, name: v.name };
    }),
    ListTasks: unary(async (r) => ({ tasks: (await s.services.tasks(r.service)).map(taskViewToProto) })),
  };
}

/** Builds the server with every service; the caller binds and starts it. */
export function createServer(s: ManagerServices, log: Logger): grpc.Server {
  const proto = grpc.loadPackageDefinition(grpcPackageDefinition()) as unknown as ProtoGrpcType;
  const v1 = proto.swarmnet.v1;
  const server = new grpc.Server({
    // Agents keep one stream open for hours: keepalive pings find dead peers.
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
  });
  server.addService(v1.Cluster.service, clusterHandlers(s));
  server.addService(v1.Nodes.service, nodesHandlers(s));
  server.addService(v1.Networks.service, networksHandlers(s));
  server.addService(v1.Dispatcher.service, dispatcherHandlers(s, log));
  server.addService(v1.Attachments.service, attachmentsHandlers(s));
  server.addService(v1.Services.service, servicesHandlers(s));
  return server;
}

export function bindServer(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => {
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
