/**
 * Networks as Docker's swarm mode has them: create, list, inspect, remove, prune — the
 * intent side only (agents build the kernel side from the dispatcher stream).
 *
 * `create` is one transaction: it reads the cluster, the name index, every network,
 * every allocated subnet and VNI (each read guards the commit), picks a subnet and a
 * VNI in pure code, and writes the network, its name, its subnet keys and its VNI key
 * together. Two managers racing for the same subnet or VNI both compute, one commits,
 * the other's compares fail and it recomputes on fresh data — so subnets and VNIs are
 * unique without a lock.
 *
 * Group commit: within one manager, creates that arrive while a transaction is in
 * flight wait and then go together, planned one after the other in ONE transaction
 * (each sees the previous ones' allocations: transactions read their own writes), up
 * to `MAX_BATCH`. Every create still gets its own answer — a refused one (duplicate
 * name, overlap) writes nothing and does not hold the others back. Since every create
 * touches the same ranges, this is what lets throughput grow with concurrency instead
 * of turning into retries.
 *
 * `rm` refuses while anything is attached (`attachments/<network>/…`: services, tasks,
 * containers); the check and the delete are one transaction, so an attachment created
 * concurrently makes the removal retry and then refuse.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { formatCidr, parseCidr } from "../../common/net-addr.js";
import { checkRequested, lowestFree, VNI_RANGE } from "../allocator/index.js";
import { newId } from "../cluster/ids.js";
import {
  formatIpamConfig,
  localDefaultPools,
  poolSpecs,
  resolveIpam,
  type TakenPrefix,
} from "../ipam/index.js";
import { keys, lastSegment } from "../store/keys.js";
import type {
  AttachmentRecord,
  ClusterRecord,
  NetworkRecord,
  NodeRecord,
  SubnetRecord,
} from "../store/records.js";
import type { Store, StoreTxn } from "../store/store.js";
import { assertParentFree } from "../../common/parent-network.js";
import {
  OPT_VXLANID_LIST,
  PARENT_DRIVERS,
  parseNetworkSpec,
  type CreateNetworkInput,
  type NetworkSpec,
} from "../../common/network-spec.js";
import { networkUsage, type NetworkUsage } from "./network-usage.js";

export interface NetworkView extends NetworkRecord, NetworkUsage {}

export interface NetworkServiceOptions {
  newId: () => string;
  now: () => Date;
}

export function notInitialised(): SwarmnetError {
  return new SwarmnetError(
    ErrorCode.NotFound,
    "this cluster is not initialised: run 'swarmnet swarm init' first",
  );
}

/** Underlay prefixes reported by nodes: IPAM keeps every subnet clear of them. */
export function underlayPrefixes(nodes: readonly NodeRecord[]): TakenPrefix[] {
  return nodes.flatMap((n) =>
    [...n.underlayAddrs, `${n.advertiseAddr}/32`].flatMap((text) => {
      const cidr = parseCidr(text, true);
      return cidr === undefined ? [] : [{ cidr, holder: `underlay of node ${n.hostname}` }];
    }),
  );
}

/**
 * A network whose driver no node runs could never carry a container: refused. Nodes that
 * have not reported their drivers yet (a fresh cluster, an old agent) are not counted; a
 * cluster where none has reported accepts any known driver.
 */
function checkDriverRuns(driver: string, nodes: readonly NodeRecord[]): void {
  const reported = nodes.flatMap((n) => (n.capabilities?.drivers?.length ? [n.capabilities.drivers] : []));
  if (reported.length === 0 || reported.some((d) => d.includes(driver))) return;
  const running = [...new Set(reported.flat())].sort().join(", ");
  throw new SwarmnetError(
    ErrorCode.Unsupported,
    `no node of the cluster runs the ${driver} network driver (its nodes run ${running})`,
  );
}

/**
 * Plans one network inside a transaction: reads (guarded, all at once) what it must not
 * collide with — names, networks, subnets, VNIs, node underlays — decides in plain code,
 * and only then queues the writes, so a refused request has written nothing. Used by
 * `create` and by `swarm init` (the ingress network, with the first node not yet stored).
 */
export async function planNetwork(
  tx: StoreTxn,
  spec: NetworkSpec,
  ctx: { cluster: ClusterRecord; extraNodes?: readonly NodeRecord[]; id: string; createdAt: string },
): Promise<NetworkRecord> {
  const [nameTaken, networks, subnets, vniKeys, nodes] = await Promise.all([
    tx.exists(keys.networkName(spec.name)),
    tx.list<NetworkRecord>(keys.networksPrefix),
    tx.listEntries<SubnetRecord>(keys.subnetsPrefix),
    spec.driver === "overlay" ? tx.listKeys(keys.vnisPrefix) : Promise.resolve([]),
    tx.list<NodeRecord>(keys.nodesPrefix),
  ]);
  if (nameTaken) {
    throw new SwarmnetError(ErrorCode.AlreadyExists, `network with name ${spec.name} already exists`);
  }
  checkDriverRuns(spec.driver, nodes);
  const ingress = spec.ingress ? networks.find((n) => n.ingress) : undefined;
  if (ingress !== undefined) {
    throw new SwarmnetError(
      ErrorCode.Conflict,
      `an ingress network already exists (${ingress.name}); there can be only one`,
    );
  }
  // Each node checks its local networks too.
  assertParentFree(PARENT_DRIVERS.includes(spec.driver) ? spec.options["parent"] : undefined, networks);
  const names = new Map(networks.map((n) => [n.id, n.name]));
  // A parent driver's subnet is the parent's segment: it may hold the nodes' own addresses.
  const taken: TakenPrefix[] = PARENT_DRIVERS.includes(spec.driver)
    ? []
    : underlayPrefixes([...nodes, ...(ctx.extraNodes ?? [])]);
  for (const { key, value } of subnets) {
    const cidr = parseCidr(lastSegment(key).replace("-", "/"));
    const holder = names.get(value.networkId) ?? value.networkId;
    if (cidr !== undefined) taken.push({ cidr, holder: `network ${holder}` });
  }
  const pools =
    spec.scope === "swarm"
      ? poolSpecs(ctx.cluster.defaultAddrPools, ctx.cluster.subnetSize)
      : localDefaultPools();
  const ipam = resolveIpam(spec.ipam, pools, taken);

  let vni: number | undefined;
  const options = { ...spec.options };
  if (spec.driver === "overlay") {
    const used = new Set(vniKeys.map((k) => Number(lastSegment(k))));
    if (spec.requestedVni !== undefined) checkRequested(VNI_RANGE, spec.requestedVni, used);
    vni = spec.requestedVni ?? lowestFree(VNI_RANGE, used);
    options[OPT_VXLANID_LIST] = String(vni);
  }
  const record: NetworkRecord = {
    id: ctx.id,
    name: spec.name,
    driver: spec.driver,
    scope: spec.scope,
    createdAt: ctx.createdAt,
    internal: spec.internal,
    attachable: spec.attachable,
    ingress: spec.ingress,
    ipam: { driver: spec.ipamDriver, configs: ipam.map(formatIpamConfig), options: spec.ipamOptions },
    options,
    labels: spec.labels,
    ...(vni === undefined ? {} : { vni }),
    encrypted: spec.encrypted,
    ...(spec.mtu === undefined ? {} : { mtu: spec.mtu }),
  };
  // Decided: now the writes.
  tx.put(keys.network(record.id), record);
  tx.putString(keys.networkName(record.name), record.id);
  if (vni !== undefined) tx.putString(keys.vni(vni), record.id);
  for (const c of ipam) {
    const sub: SubnetRecord = { networkId: record.id, scope: spec.scope };
    tx.put(keys.subnet(formatCidr(c.subnet)), sub);
  }
  return record;
}

/** Queues every write that removes a network and frees what it held. */
export function planRemoval(tx: StoreTxn, n: NetworkRecord): void {
  tx.delete(keys.network(n.id));
  tx.delete(keys.networkName(n.name));
  for (const c of n.ipam.configs) tx.delete(keys.subnet(c.subnet));
  if (n.vni !== undefined) tx.delete(keys.vni(n.vni));
  tx.deletePrefix(keys.addressesPrefix(n.id));
  tx.delete(keys.addressCursor(n.id));
  // What is left here are nodes' ingress endpoints (remove refuses every other user).
  tx.deletePrefix(keys.attachmentsPrefix(n.id));
}

/**
 * Creates per transaction: 4 writes each, under etcd's default limit of 128 operations
 * per transaction (--max-txn-ops).
 */
export const MAX_BATCH = 25;

interface PendingCreate {
  spec: NetworkSpec;
  id: string;
  createdAt: string;
  resolve: (n: NetworkRecord) => void;
  reject: (err: unknown) => void;
}

export class NetworkService {
  private readonly opts: NetworkServiceOptions;
  private readonly pending: PendingCreate[] = [];
  private draining = false;

  constructor(
    private readonly store: Store,
    opts: Partial<NetworkServiceOptions> = {},
  ) {
    this.opts = { newId, now: () => new Date(), ...opts };
  }

  async create(input: CreateNetworkInput): Promise<NetworkRecord> {
    const spec = parseNetworkSpec(input);
    return new Promise((resolve, reject) => {
      this.pending.push({
        spec,
        id: this.opts.newId(),
        createdAt: this.opts.now().toISOString(),
        resolve,
        reject,
      });
      void this.drain();
    });
  }

  /** Commits queued creates, a batch per transaction, until none are left. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, MAX_BATCH);
        try {
          const { result } = await this.store.transact(async (tx) => {
            const cluster = await tx.get<ClusterRecord>(keys.cluster);
            if (cluster === undefined) throw notInitialised();
            const outcomes: ({ ok: NetworkRecord } | { err: unknown })[] = [];
            for (const c of batch) {
              try {
                outcomes.push({
                  ok: await planNetwork(tx, c.spec, { cluster, id: c.id, createdAt: c.createdAt }),
                });
              } catch (err) {
                // A refused request (bad or conflicting) queued no write; the rest go on.
                if (
                  !(err instanceof SwarmnetError) ||
                  err.code === ErrorCode.Unavailable ||
                  err.code === ErrorCode.QuorumLost
                )
                  throw err;
                outcomes.push({ err });
              }
            }
            return outcomes;
          });
          result.forEach((o, i) => {
            const c = batch[i] as PendingCreate;
            if ("ok" in o) c.resolve(o.ok);
            else c.reject(o.err);
          });
        } catch (err) {
          for (const c of batch) c.reject(err);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  async list(): Promise<NetworkView[]> {
    if ((await this.store.getCluster()) === undefined) throw notInitialised();
    const [networks, attachments, nodes] = await Promise.all([
      this.store.listNetworks(),
      this.store.listEntries(`${keys.root}attachments/`),
      this.store.listNodes(),
    ]);
    const usage = networkUsage(attachments, nodes);
    return networks
      .map((n) => ({ ...n, ...(usage.get(n.id) ?? { attached: [], endpoints: [], peers: [] }) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** By exact id, exact name, then unique id prefix (Docker's order). */
  async inspect(ref: string): Promise<NetworkView> {
    return resolveNetwork(await this.list(), ref);
  }

  async remove(ref: string): Promise<NetworkRecord> {
    const target = await this.inspect(ref);
    const { result } = await this.store.transact(async (tx) => {
      const n = await tx.get<NetworkRecord>(keys.network(target.id));
      if (n === undefined) throw new SwarmnetError(ErrorCode.NotFound, `network ${ref} not found`);
      const users = (await tx.list<AttachmentRecord>(keys.attachmentsPrefix(n.id))).filter(
        (u) => u.kind !== "node",
      );
      if (users.length > 0) {
        const who = users.map((u) => `${u.kind} ${u.name}`).join(", ");
        throw new SwarmnetError(ErrorCode.InUse, `network ${n.name} is in use by ${who}`);
      }
      planRemoval(tx, n);
      return n;
    });
    return result;
  }

  /** Removes every network nothing is attached to, except the ingress network (as Docker). */
  async prune(): Promise<string[]> {
    const removed: string[] = [];
    for (const n of await this.list()) {
      if (n.ingress || n.attached.length > 0) continue;
      try {
        await this.remove(n.id);
        removed.push(n.name);
      } catch (err) {
        // Attached or removed meanwhile: prune leaves it, as it would have a moment later.
        if (err instanceof SwarmnetError && (err.code === ErrorCode.InUse || err.code === ErrorCode.NotFound))
          continue;
        throw err;
      }
    }
    return removed;
  }
}

export function resolveNetwork<T extends { id: string; name: string }>(
  networks: readonly T[],
  ref: string,
): T {
  const exact = networks.find((n) => n.id === ref) ?? networks.find((n) => n.name === ref);
  if (exact !== undefined) return exact;
  const byPrefix = ref === "" ? [] : networks.filter((n) => n.id.startsWith(ref));
  if (byPrefix.length === 1) return byPrefix[0] as T;
  if (byPrefix.length > 1) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `network ${ref} is ambiguous (${byPrefix.length} matches)`,
    );
  }
  throw new SwarmnetError(ErrorCode.NotFound, `network ${ref} not found`);
}
