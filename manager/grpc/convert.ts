/**
 * Records and domain results → protobuf messages (and requests → domain inputs): the
 * only place the manager knows the wire shapes, so the domain code stays free of them.
 * Revisions travel as uint64, which the loader gives JS as strings.
 */
import type { ChangeBatch as ChangeBatchMsg } from "../../proto/generated/swarmnet/v1/ChangeBatch.js";
import type { ClusterInfo } from "../../proto/generated/swarmnet/v1/ClusterInfo.js";
import type { KeyRing } from "../../common/key-schedule.js";
import type { EncryptionKeyRing } from "../../proto/generated/swarmnet/v1/EncryptionKeyRing.js";
import type { EncryptionKeys } from "../../proto/generated/swarmnet/v1/EncryptionKeys.js";
import type { CreateNetworkRequest__Output } from "../../proto/generated/swarmnet/v1/CreateNetworkRequest.js";
import type { IntentChange as IntentChangeMsg } from "../../proto/generated/swarmnet/v1/IntentChange.js";
import type { Network } from "../../proto/generated/swarmnet/v1/Network.js";
import type { NodeInfo } from "../../proto/generated/swarmnet/v1/NodeInfo.js";
import type { SessionMessage } from "../../proto/generated/swarmnet/v1/SessionMessage.js";
import type { SessionRequest__Output } from "../../proto/generated/swarmnet/v1/SessionRequest.js";
import { TASK_HISTORY, type ClusterView, type NodeView } from "../cluster/index.js";
import type { ChangeBatch, IntentChange } from "../dispatcher/intent-view.js";
import type { SessionOpenRequest, SessionOutput } from "../dispatcher/dispatcher.js";
import {
  addressInfo,
  type AttachResult,
  type CreateNetworkInput,
  type NetworkUsage,
} from "../networks/index.js";
import type { AttachNetworkResponse } from "../../proto/generated/swarmnet/v1/AttachNetworkResponse.js";
import { networkToWire } from "../../common/network-wire.js";
import type { NetworkRecord } from "../store/records.js";
import type { CreateServiceRequest__Output } from "../../proto/generated/swarmnet/v1/CreateServiceRequest.js";
import type { Service } from "../../proto/generated/swarmnet/v1/Service.js";
import type { Task } from "../../proto/generated/swarmnet/v1/Task.js";
import type { TaskStatusRequest__Output } from "../../proto/generated/swarmnet/v1/TaskStatusRequest.js";
import type { UpdateServiceRequest__Output } from "../../proto/generated/swarmnet/v1/UpdateServiceRequest.js";
import {
  containerName,
  taskName,
  type CreateServiceInput,
  type ServiceDetail,
  type TaskIntent,
  type TaskStatusUpdate,
  type TaskView,
  type UpdateServiceInput,
} from "../services/index.js";

export function networkToProto(n: NetworkRecord & Partial<NetworkUsage>): Network {
  return networkToWire(n, {
    attached: n.attached ?? [],
    endpoints: (n.endpoints ?? []).map((e) => ({ ...e, prefixLength: addressInfo(n, e.ip).prefixLength })),
    peers: n.peers ?? [],
  });
}

export function attachResultToProto(r: AttachResult): AttachNetworkResponse {
  return {
    network: networkToProto(r.network),
    ip: r.ip,
    prefixLength: r.prefixLength,
    subnet: r.subnet,
    gateway: r.gateway,
    dataPathPort: r.dataPathPort,
  };
}

export function createNetworkInput(r: CreateNetworkRequest__Output): CreateNetworkInput {
  return {
    name: r.name,
    driver: r.driver,
    subnets: r.subnets,
    gateways: r.gateways,
    ipRanges: r.ipRanges,
    auxAddresses: r.auxAddresses,
    options: r.options,
    labels: r.labels,
    attachable: r.attachable,
    ingress: r.ingress,
    internal: r.internal,
    ipamDriver: r.ipamDriver,
    ipamOptions: r.ipamOptions,
    scope: r.scope,
  };
}

export function nodeToProto(n: NodeView): NodeInfo {
  return {
    id: n.id,
    hostname: n.hostname,
    role: n.role,
    availability: n.availability,
    status: n.status,
    managerStatus: n.managerStatus,
    advertiseAddr: n.advertiseAddr,
    underlayAddrs: n.underlayAddrs,
    capabilities: n.capabilities ?? null,
    createdAt: n.createdAt,
    updatedAt: n.updatedAt,
    sessionManager: n.sessionManager,
    labels: n.labels ?? {},
  };
}

export function clusterToProto(v: ClusterView, leader: string | undefined): ClusterInfo {
  const c = v.cluster;
  return {
    id: c.id,
    createdAt: c.createdAt,
    defaultAddrPools: c.defaultAddrPools,
    subnetSize: c.subnetSize,
    dataPathPort: c.dataPathPort,
    leader: leader ?? "",
    keyRotationIntervalMs: String(c.keyRotationIntervalMs),
    keyTags: v.keyTags.map((k) => ({ kind: k.kind, tag: String(k.tag), primary: k.primary })),
    managers: v.managers,
    lastKeyRotationAt: v.lastKeyRotationAt,
    nextKeyRotationAt: v.nextKeyRotationAt,
    taskHistoryLimit: c.taskHistoryLimit ?? TASK_HISTORY.default,
  };
}

/** A ring on the wire: the one place key bytes are copied out of `SecretBytes`. */
function ringToProto(ring: KeyRing | undefined): EncryptionKeyRing | null {
  if (ring === undefined) return null;
  return {
    keys: ring.keys.map((k) => ({ tag: k.tag, key: Buffer.from(k.secret) })),
    primaryTag: ring.primaryTag,
  };
}

export function keysToProto(data: KeyRing | undefined, gossip: KeyRing | undefined): EncryptionKeys | null {
  if (data === undefined && gossip === undefined) return null;
  return { data: ringToProto(data), gossip: ringToProto(gossip) };
}

export function sessionRequest(r: SessionRequest__Output): SessionOpenRequest {
  return {
    nodeId: r.nodeId,
    hostname: r.hostname,
    advertiseAddr: r.advertiseAddr,
    underlayAddrs: r.underlayAddrs,
    capabilities:
      r.capabilities === null || r.capabilities === undefined
        ? undefined
        : {
            kernelRelease: r.capabilities.kernelRelease,
            features: r.capabilities.features,
            drivers: r.capabilities.drivers,
            ...(r.capabilities.os === "" ? {} : { os: r.capabilities.os }),
            ...(r.capabilities.arch === "" ? {} : { arch: r.capabilities.arch }),
          },
    resumeRevision: Number(r.resumeRevision),
  };
}

function changeToProto(c: IntentChange): IntentChangeMsg {
  switch (c.kind) {
    case "networkUpsert":
      return { networkUpsert: networkToProto(c.network) };
    case "networkRemoved":
      return { networkRemoved: { id: c.id, name: c.name } };
    case "seeds":
      return { seeds: { seeds: c.seeds } };
    case "managers":
      return { managers: { addresses: c.addresses } };
    case "cluster":
      return { cluster: c.settings };
    case "serviceUpsert":
      return { serviceUpsert: serviceToProto(c.service) };
    case "serviceRemoved":
      return { serviceRemoved: { id: c.id, name: c.name } };
    case "taskUpsert":
      return { taskUpsert: taskToProto(c.task) };
    case "taskRemoved":
      return { taskRemoved: { id: c.id, serviceId: c.serviceId } };
    case "ingressEndpoint":
      return { ingressEndpoint: c.endpoint ?? { networkId: "", ip: "" } };
    case "keys":
      return { keys: keysToProto(c.dataKeys, c.gossipKeys) ?? {} };
  }
}

/** A service on the wire; task counts only when the caller has them (List/Inspect). */
export function serviceToProto(v: ServiceDetail & { runningTasks?: number; desiredTasks?: number }): Service {
  return {
    id: v.id,
    name: v.name,
    mode: v.mode,
    replicas: v.replicas,
    endpointMode: v.endpointMode,
    ports: v.ports,
    vips: v.vips,
    networks: v.networks,
    ingressNetworkId: v.ingress?.networkId ?? "",
    ingressVip: v.ingress?.vip ?? "",
    command: v.command,
    env: v.env,
    createdAt: v.createdAt,
    updatedAt: v.updatedAt,
    version: String(v.version),
    runningTasks: v.runningTasks ?? 0,
    desiredTasks: v.desiredTasks ?? 0,
    updateMonitorMs: String(v.updateMonitorMs),
    constraints: v.constraints,
  };
}

/** A task as its node is told (no observed state). */
export function taskToProto(t: TaskIntent): Task {
  return {
    id: t.id,
    serviceId: t.serviceId,
    serviceName: t.serviceName,
    name: t.name,
    containerName: t.containerName,
    slot: t.slot,
    nodeId: t.nodeId,
    desiredState: t.desiredState,
    command: t.command,
    env: t.env,
    networks: t.networks,
    ports: t.ports,
  };
}

/** A task with its observed state, for `service ps`. */
export function taskViewToProto(t: TaskView): Task {
  return {
    ...taskToProto({
      ...t,
      name: taskName(t),
      containerName: containerName(t),
    }),
    state: t.state,
    message: t.message,
    exitCode: t.exitCode,
    stateAt: t.stateAt,
    createdAt: t.createdAt,
    nodeName: t.nodeName,
    released: t.released,
  };
}

export function createServiceInput(r: CreateServiceRequest__Output): CreateServiceInput {
  return {
    name: r.name,
    mode: r.mode,
    replicas: r.replicasSet ? r.replicas : undefined,
    networks: r.networks,
    ports: r.ports,
    endpointMode: r.endpointMode,
    command: r.command,
    env: r.env,
    updateMonitor: r.updateMonitor,
    constraints: r.constraints,
  };
}

export function updateServiceInput(r: UpdateServiceRequest__Output): UpdateServiceInput {
  return {
    service: r.service,
    replicas: r.replicasSet ? r.replicas : undefined,
    networkAdd: r.networkAdd,
    networkRm: r.networkRm,
    publishAdd: r.publishAdd,
    publishRm: r.publishRm,
    updateMonitor: r.updateMonitor,
    constraintAdd: r.constraintAdd,
    constraintRm: r.constraintRm,
  };
}

export function taskStatusUpdates(r: TaskStatusRequest__Output): TaskStatusUpdate[] {
  return r.updates.map((u) => ({
    taskId: u.taskId,
    serviceId: u.serviceId,
    state: u.state,
    exitCode: u.exitCode,
    message: u.message,
  }));
}

function batchToProto(b: ChangeBatch): ChangeBatchMsg {
  return { revision: String(b.revision), changes: b.changes.map(changeToProto) };
}

export function sessionOutputToProto(m: SessionOutput): SessionMessage {
  switch (m.kind) {
    case "snapshot":
      return {
        snapshot: {
          sessionId: m.sessionId,
          revision: String(m.snapshot.revision),
          networks: m.snapshot.networks.map((n) => networkToProto(n)),
          seeds: m.snapshot.seeds,
          managers: m.snapshot.managers,
          heartbeatPeriodMs: m.heartbeatPeriodMs,
          cluster: m.snapshot.cluster ?? null,
          services: m.snapshot.services.map((v) => serviceToProto(v)),
          tasks: m.snapshot.tasks.map(taskToProto),
          ingressEndpoint: m.snapshot.ingressEndpoint ?? null,
          keys: keysToProto(m.snapshot.dataKeys, m.snapshot.gossipKeys),
        },
      };
    case "resumed":
      return {
        resumed: {
          sessionId: m.sessionId,
          revision: String(m.revision),
          heartbeatPeriodMs: m.heartbeatPeriodMs,
        },
      };
    case "changes":
      return { changes: batchToProto(m.batch) };
  }
}
