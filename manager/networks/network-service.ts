/**
 * Networks as Docker's swarm mode has them: create, list, inspect, remove, prune — the
 * intent side only (agents build the kernel side from the dispatcher stream).
 *
 * `create` is one transaction: it reads the cluster, the name index, every network,
 * every allocated subnet and VNI (each read guards the commit), picks a subnet and a
 * VNI in pure code, and writes the network, its name, its subnet keys and its VNI key
 * together. Two managers racing for the same subnet or VNI both compute, one commits,
 * the other's compares fail and it recomputes on fresh data — so subnets and VNIs are
 * unique without a lock. Within one manager, creates are queued, so its own requests do
 * not make each other retry.
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
import {
  OPT_VXLANID_LIST,
  parseNetworkSpec,
  type CreateNetworkInput,
  type NetworkSpec,
} from "./network-spec.js";

export interface NetworkView extends NetworkRecord {
  /** Owners attached to the network ("service:<id>", …). */
  attached: string[];
}

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
 * Plans one network inside a transaction: reads (guarded) what it must not collide with
 * and queues the writes. Used by `create` and by `swarm init` (the ingress network).
 */
export async function planNetwork(
  tx: StoreTxn,
  spec: NetworkSpec,
  ctx: { cluster: ClusterRecord; underlay: readonly TakenPrefix[]; id: string; createdAt: string },
): Promise<NetworkRecord> {
  if (await tx.exists(keys.networkName(spec.name))) {
    throw new SwarmnetError(ErrorCode.AlreadyExists, `network with name ${spec.name} already exists`);
  }
  const networks = await tx.list<NetworkRecord>(keys.networksPrefix);
  if (spec.ingress) {
    const existing = networks.find((n) => n.ingress);
    if (existing !== undefined) {
      throw new SwarmnetError(
        ErrorCode.Conflict,
        `an ingress network already exists (${existing.name}); there can be only one`,
      );
    }
  }
  const names = new Map(networks.map((n) => [n.id, n.name]));
  const taken: TakenPrefix[] = [...ctx.underlay];
  for (const { key, value } of await tx.listEntries<SubnetRecord>(keys.subnetsPrefix)) {
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
    const used = new Set((await tx.listKeys(keys.vnisPrefix)).map((k) => Number(lastSegment(k))));
    if (spec.requestedVni !== undefined) {
      checkRequested(VNI_RANGE, spec.requestedVni, used);
      vni = spec.requestedVni;
    } else {
      vni = lowestFree(VNI_RANGE, used);
    }
    options[OPT_VXLANID_LIST] = String(vni);
    tx.putString(keys.vni(vni), ctx.id);
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
  tx.put(keys.network(record.id), record);
  tx.putString(keys.networkName(record.name), record.id);
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
}

export class NetworkService {
  private readonly opts: NetworkServiceOptions;
  /** Creates from this manager run one at a time (see the header). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Store,
    opts: Partial<NetworkServiceOptions> = {},
  ) {
    this.opts = { newId, now: () => new Date(), ...opts };
  }

  async create(input: CreateNetworkInput): Promise<NetworkRecord> {
    const spec = parseNetworkSpec(input);
    const run = this.queue.then(() => this.createNow(spec));
    this.queue = run.catch(() => {});
    return run;
  }

  private async createNow(spec: NetworkSpec): Promise<NetworkRecord> {
    const underlay = underlayPrefixes(await this.store.listNodes());
    const id = this.opts.newId();
    const createdAt = this.opts.now().toISOString();
    const { result } = await this.store.transact(async (tx) => {
      const cluster = await tx.get<ClusterRecord>(keys.cluster);
      if (cluster === undefined) throw notInitialised();
      return planNetwork(tx, spec, { cluster, underlay, id, createdAt });
    });
    return result;
  }

  async list(): Promise<NetworkView[]> {
    if ((await this.store.getCluster()) === undefined) throw notInitialised();
    const [networks, attachments] = await Promise.all([
      this.store.listNetworks(),
      this.store.listEntries(`${keys.root}attachments/`),
    ]);
    const byNetwork = new Map<string, string[]>();
    for (const e of attachments) {
      const networkId = e.key.slice(`${keys.root}attachments/`.length).split("/")[0] ?? "";
      byNetwork.set(networkId, [...(byNetwork.get(networkId) ?? []), lastSegment(e.key)]);
    }
    return networks
      .map((n) => ({ ...n, attached: byNetwork.get(n.id) ?? [] }))
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
      const users = await tx.list<AttachmentRecord>(keys.attachmentsPrefix(n.id));
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
