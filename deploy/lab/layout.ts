/**
 * The lab's layout, decided in pure code from (name, nodes, managers): namespace names,
 * underlay addresses, roles and the etcd cluster string. Nothing here touches the kernel.
 *
 * Naming: every namespace of lab L starts with `sn-L-`: the lab's own are `sn-L-<part>`,
 * and a node's agent prefixes the namespaces it creates (overlay sandboxes, containers)
 * with its node's, `sn-L-nI-`. Lab names have no dashes, so the prefix `sn-L-` finds
 * exactly lab L's namespaces (never lab `L2`'s, nor a probe's `sn-probe-<pid>-<hex>`,
 * since "probe" is not a lab name). Veth ends live only inside lab namespaces, so deleting
 * the namespaces removes them; the host namespace never gets a link, route or rule.
 *
 * Addresses: the underlay is 100.64.0.0/16 (RFC 6598 shared space) so it can never
 * collide with IPAM's default pools (10.0.0.0/8, 172.17–31.0.0/16, 192.168.0.0/16).
 * Node nI is 100.64.1.I, the client 100.64.0.100. Labs are isolated namespaces, so two
 * labs reuse the same addresses without meeting.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";

export const LAB_NAME_PATTERN = /^[a-z0-9]{1,12}$/;
export const MAX_LAB_NODES = 200;
export const UNDERLAY_PREFIX = 16;
export const CLIENT_ADDRESS = "100.64.0.100";
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;
/** Docker's swarm port: the managers' mutual-TLS listener. */
export const MANAGER_GRPC_PORT = 2377;
/** The underlay is a plain veth segment: 1500 like an ordinary Ethernet LAN. */
export const UNDERLAY_MTU = 1500;

export type LabRole = "manager" | "worker" | "client";

export interface LabNode {
  /** n1…nN or "client". */
  name: string;
  role: LabRole;
  netns: string;
  address: string;
  /** Name of this node's veth end (a VM's tap, vm-nI) inside the underlay namespace. */
  underlayPort: string;
  /** A qemu VM (`lab up --vm`) instead of a namespace: `netns` is then never created. */
  vm: boolean;
}

export interface LabLayout {
  name: string;
  underlayNetns: string;
  nodes: LabNode[];
  client: LabNode;
}

export function netnsPrefix(lab: string): string {
  return `sn-${lab}-`;
}

export function belongsToLab(lab: string, netns: string): boolean {
  return netns.startsWith(netnsPrefix(lab));
}

export function validateLabName(name: string): void {
  if (!LAB_NAME_PATTERN.test(name) || name === "probe") {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `invalid lab name ${JSON.stringify(name)}: use 1-12 lowercase letters or digits (not "probe")`,
    );
  }
}

/** Parses a count flag strictly: "3" is 3; "abc", "0", "2.5", "" are errors naming the flag. */
export function parseCount(flag: string, raw: string, min: number, max: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `--${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return Number(raw);
}

export function labLayout(
  name: string,
  nodeCount: number,
  managerCount: number,
  vmNodes: readonly string[] = [],
): LabLayout {
  validateLabName(name);
  if (managerCount > nodeCount) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `--managers (${managerCount}) cannot exceed --nodes (${nodeCount})`,
    );
  }
  const prefix = netnsPrefix(name);
  const nodes: LabNode[] = [];
  for (let i = 1; i <= nodeCount; i++) {
    nodes.push({
      name: `n${i}`,
      role: i <= managerCount ? "manager" : "worker",
      netns: `${prefix}n${i}`,
      address: `100.64.1.${i}`,
      underlayPort: vmNodes.includes(`n${i}`) ? `vm-n${i}` : `n${i}`,
      vm: vmNodes.includes(`n${i}`),
    });
  }
  const client: LabNode = {
    name: "client",
    role: "client",
    netns: `${prefix}client`,
    address: CLIENT_ADDRESS,
    underlayPort: "client",
    vm: false,
  };
  return { name, underlayNetns: `${prefix}u`, nodes, client };
}

export function managers(layout: LabLayout): LabNode[] {
  return layout.nodes.filter((n) => n.role === "manager");
}

export function managerAddresses(layout: LabLayout): string[] {
  return managers(layout).map((n) => `${n.address}:${MANAGER_GRPC_PORT}`);
}

export function etcdEndpoints(layout: LabLayout): string[] {
  return managers(layout).map((n) => `https://${n.address}:${ETCD_CLIENT_PORT}`);
}

export function etcdInitialCluster(layout: LabLayout): string {
  return managers(layout)
    .map((n) => `${n.name}=https://${n.address}:${ETCD_PEER_PORT}`)
    .join(",");
}

/** Every node and the client, in the order they are built. */
export function allMembers(layout: LabLayout): LabNode[] {
  return [...layout.nodes, layout.client];
}

export function findMember(layout: LabLayout, name: string): LabNode | undefined {
  return allMembers(layout).find((n) => n.name === name);
}
