/**
 * The etcd key layout: every key the managers write, in one place. Values are JSON
 * records (see `records.ts`). Layout version `v1` is part of the prefix, so a future
 * incompatible layout can live beside this one during a migration.
 *
 *   /swarmnet/v1/cluster                          ClusterRecord (one per etcd cluster)
 *   /swarmnet/v1/ca                               CaRecord: the cluster CA (sealed, see
 *                                                  manager/keys/sealed-kv.ts)
 *   /swarmnet/v1/keys/<kind>/<tag>                 EncryptionKeyRecord: kind data|gossip,
 *                                                  tag = Lamport tag, zero-padded (sorts)
 *   /swarmnet/v1/nodes/<nodeId>                    NodeRecord
 *   /swarmnet/v1/sessions/<nodeId>/<sessionId>     SessionRecord, on the serving manager's
 *                                                  lease: the node is ready while one exists
 *   /swarmnet/v1/managers/<nodeName>               ManagerRecord, on the manager's lease
 *   /swarmnet/v1/networks/<networkId>              NetworkRecord
 *   /swarmnet/v1/names/networks/<name>             networkId   (names are unique)
 *   /swarmnet/v1/ipam/subnets/<a.b.c.d>-<len>      SubnetRecord: one key per allocated
 *                                                  subnet, global and local scope alike
 *   /swarmnet/v1/ipam/addresses/<networkId>/<ip>   AddressRecord: endpoints, VIPs, static IPs
 *   /swarmnet/v1/ipam/cursors/<networkId>          AddressCursorRecord: where the serial
 *                                                  allocation goes on (see ipam/addresses.ts)
 *   /swarmnet/v1/vnis/<vni>                        networkId   (VXLAN ids are unique)
 *   /swarmnet/v1/attachments/<networkId>/<owner>   AttachmentRecord: a service (its VIP),
 *                                                  task, container or node (its ingress
 *                                                  endpoint) using the network; owner is
 *                                                  "<kind>:<id>"; `network rm` is refused
 *                                                  while one exists (node endpoints aside)
 *   /swarmnet/v1/services/<serviceId>              ServiceRecord
 *   /swarmnet/v1/names/services/<name>             serviceId
 *   /swarmnet/v1/tasks/<serviceId>/<taskId>        TaskRecord (grouped by service so one
 *                                                  service's change reads only its tasks)
 *   /swarmnet/v1/ports/<tcp|udp>/<port>            PortRecord: a published port (ingress
 *                                                  or host mode; unique cluster-wide)
 *   /swarmnet/v1/election/leader/<lease>           etcd3's election keys (campaigns)
 *
 * Every multi-key change (allocate a subnet + VNI + name + network) is one transaction
 * (`txn.ts`) whose compares make a concurrent conflicting change fail and retry.
 */

export const ROOT = "/swarmnet/v1/";

export const keys = {
  root: ROOT,
  cluster: `${ROOT}cluster`,
  ca: `${ROOT}ca`,
  keysPrefix: `${ROOT}keys/`,
  keysOfKind: (kind: "data" | "gossip") => `${ROOT}keys/${kind}/`,
  key: (kind: "data" | "gossip", tag: number) => `${ROOT}keys/${kind}/${String(tag).padStart(12, "0")}`,
  nodesPrefix: `${ROOT}nodes/`,
  node: (id: string) => `${ROOT}nodes/${id}`,
  sessionsPrefix: `${ROOT}sessions/`,
  nodeSessions: (nodeId: string) => `${ROOT}sessions/${nodeId}/`,
  session: (nodeId: string, sessionId: string) => `${ROOT}sessions/${nodeId}/${sessionId}`,
  managersPrefix: `${ROOT}managers/`,
  manager: (nodeName: string) => `${ROOT}managers/${nodeName}`,
  networksPrefix: `${ROOT}networks/`,
  network: (id: string) => `${ROOT}networks/${id}`,
  networkName: (name: string) => `${ROOT}names/networks/${name}`,
  subnetsPrefix: `${ROOT}ipam/subnets/`,
  subnet: (cidr: string) => `${ROOT}ipam/subnets/${cidr.replace("/", "-")}`,
  addressesPrefix: (networkId: string) => `${ROOT}ipam/addresses/${networkId}/`,
  addressCursor: (networkId: string) => `${ROOT}ipam/cursors/${networkId}`,
  address: (networkId: string, ip: string) => `${ROOT}ipam/addresses/${networkId}/${ip}`,
  vnisPrefix: `${ROOT}vnis/`,
  vni: (vni: number) => `${ROOT}vnis/${vni}`,
  attachmentsPrefix: (networkId: string) => `${ROOT}attachments/${networkId}/`,
  attachment: (networkId: string, owner: string) => `${ROOT}attachments/${networkId}/${owner}`,
  servicesPrefix: `${ROOT}services/`,
  service: (id: string) => `${ROOT}services/${id}`,
  serviceName: (name: string) => `${ROOT}names/services/${name}`,
  tasksPrefix: `${ROOT}tasks/`,
  serviceTasks: (serviceId: string) => `${ROOT}tasks/${serviceId}/`,
  task: (serviceId: string, taskId: string) => `${ROOT}tasks/${serviceId}/${taskId}`,
  portsPrefix: `${ROOT}ports/`,
  port: (protocol: string, port: number) => `${ROOT}ports/${protocol}/${port}`,
  electionPrefix: `${ROOT}election/`,
} as const;

/** The last path segment of a key (an id, a name). */
export function lastSegment(key: string): string {
  return key.slice(key.lastIndexOf("/") + 1);
}
