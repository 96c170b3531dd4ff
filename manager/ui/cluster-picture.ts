/**
 * What the live page shows, computed from a manager's mirror of etcd (no etcd round trip):
 * nodes (role, status from the dispatcher sessions, address) with their tasks as cards,
 * which overlays each node carries (networks of the tasks it runs), networks with their
 * encrypted / attachable / ingress marks, published ports and where they lead (the nodes
 * running the service's tasks), and the recent events.
 *
 * Only names, ids, states, addresses and key *tags* leave here: never a key, a token
 * secret or a node credential (the records holding them are not read at all).
 */
import type { ClusterEvent } from "../events/event-log.js";
import { keys } from "../store/keys.js";
import type { NetworkRecord, NodeRecord, ServiceRecord, TaskRecord } from "../store/records.js";
import type { PrefixMirror } from "../store/watch.js";

export interface PictureTask {
  id: string;
  name: string;
  service: string;
  state: string;
  message: string;
}

export interface PictureNode {
  id: string;
  name: string;
  role: string;
  status: "ready" | "down";
  addr: string;
  leader: boolean;
  tasks: PictureTask[];
  overlays: string[];
}

export interface PictureNetwork {
  id: string;
  name: string;
  driver: string;
  encrypted: boolean;
  attachable: boolean;
  ingress: boolean;
  nodes: string[];
}

export interface PicturePort {
  published: number;
  target: number;
  protocol: string;
  mode: string;
  service: string;
  nodes: string[];
}

export interface ClusterPicture {
  at: string;
  nodes: PictureNode[];
  networks: PictureNetwork[];
  services: { id: string; name: string; mode: string; replicas: number; running: number }[];
  ports: PicturePort[];
  events: ClusterEvent[];
}

function all<T>(mirror: PrefixMirror, prefix: string): T[] {
  return mirror.entriesUnder(prefix).map((e) => JSON.parse(e.value) as T);
}

export function clusterPicture(
  mirror: PrefixMirror,
  leader: string | undefined,
  events: ClusterEvent[],
): ClusterPicture {
  const ready = new Set(
    mirror
      .entriesUnder(keys.sessionsPrefix)
      .map((e) => e.key.slice(keys.sessionsPrefix.length).split("/")[0]),
  );
  const networks = all<NetworkRecord>(mirror, keys.networksPrefix);
  const netName = new Map(networks.map((n) => [n.id, n.name]));
  const overlay = new Set(networks.filter((n) => n.driver === "overlay").map((n) => n.id));
  const tasks = all<TaskRecord>(mirror, keys.tasksPrefix).filter(
    (t) => t.desiredState === "running" || !t.released,
  );
  const nodes: PictureNode[] = all<NodeRecord>(mirror, keys.nodesPrefix)
    .filter((n) => n.credentialHash !== "")
    .map((n): PictureNode => {
      const mine = tasks.filter((t) => t.nodeId === n.id && t.desiredState === "running");
      const overlays = new Set(
        mine.flatMap((t) => t.networks.filter((x) => overlay.has(x.networkId)).map((x) => x.networkId)),
      );
      return {
        id: n.id,
        name: n.hostname,
        role: n.role,
        status: ready.has(n.id) ? "ready" : "down",
        addr: n.advertiseAddr,
        leader: n.hostname === leader,
        tasks: mine
          .map((t) => ({
            id: t.id,
            name: t.slot === 0 ? `${t.serviceName}.${n.hostname}` : `${t.serviceName}.${t.slot}`,
            service: t.serviceName,
            state: t.state,
            message: t.message,
          }))
          .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })),
        overlays: [...overlays].map((id) => netName.get(id) ?? id).sort(),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
  const services = all<ServiceRecord>(mirror, keys.servicesPrefix);
  return {
    at: new Date().toISOString(),
    nodes,
    networks: networks
      .map((n) => ({
        id: n.id,
        name: n.name,
        driver: n.driver,
        encrypted: n.encrypted,
        attachable: n.attachable,
        ingress: n.ingress,
        nodes: nodes.filter((x) => x.overlays.includes(n.name)).map((x) => x.name),
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    services: services
      .map((s) => ({
        id: s.id,
        name: s.name,
        mode: s.mode,
        replicas: s.replicas,
        running: tasks.filter(
          (t) => t.serviceId === s.id && t.desiredState === "running" && t.state === "running",
        ).length,
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    ports: services
      .flatMap((s) =>
        s.ports.map((p) => ({
          published: p.publishedPort,
          target: p.targetPort,
          protocol: p.protocol,
          mode: p.mode,
          service: s.name,
          nodes: nodes
            .filter((n) => n.tasks.some((t) => t.service === s.name && t.state === "running"))
            .map((n) => n.name),
        })),
      )
      .sort((a, b) => a.published - b.published),
    events,
  };
}
