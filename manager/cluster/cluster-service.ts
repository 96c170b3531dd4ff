/**
 * The cluster's life: `swarm init` (cluster id, the cluster CA, the first manager's
 * certificate, join tokens, defaults, the ingress network, the first key material — one
 * transaction, so a half-initialised cluster never exists), `swarm join` (a token
 * decides the role; the node's CSR gets a certificate naming its new id, role and
 * cluster), `swarm leave` (the node stops being a member, so its certificate is refused
 * from then on), the join tokens (`SWMTKN-1-<CA digest>-<secret>`), `node promote|demote`
 * and the autolock settings (manager/keys/kek-file.ts holds the why).
 *
 * Defaults follow Docker: pool 10.0.0.0/8 in /24s, data path port 4789, keys rotated
 * every 12 hours. `update` changes the cluster's settings (key rotation interval,
 * certificate expiry, autolock, task history limit); the key rotation itself is the key manager's (manager/keys/). The ingress network is an overlay named `ingress`, not attachable,
 * with the first subnet of the pool (10.0.0.0/24 by default).
 */
import { randomBytes } from "node:crypto";
import { formatJoinToken } from "../../common/pki/join-token.js";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { parseCidr, parseIpv4 } from "../../common/net-addr.js";
import { GLOBAL_DEFAULT_POOLS, GLOBAL_DEFAULT_SUBNET_SIZE, poolSpecs } from "../ipam/index.js";
import { notInitialised, planNetwork } from "../networks/network-service.js";
import { parseNetworkSpec } from "../../common/network-spec.js";
import { keys } from "../store/keys.js";
import type {
  CaRecord,
  ClusterRecord,
  EncryptionKeyRecord,
  ManagerRecord,
  NodeRecord,
  NodeRole,
} from "../store/records.js";
import type { Store, StoreTxn } from "../store/store.js";
import {
  checkRotationInterval,
  KEY_KINDS,
  lastRotationAt,
  nextRotationAt,
  ringFromRecords,
  ringTags,
  type KeyTagView,
} from "../keys/index.js";
import { newUnlockKey } from "../keys/kek-file.js";
import {
  caDigest,
  certExpiryOf,
  checkCertExpiry,
  newCaRecord,
  CertificateAuthority,
  type IssuedCertificate,
} from "./certificate-authority.js";
import { newId, newSecret } from "./ids.js";
import { roleForToken } from "./tokens.js";

export const CLUSTER_DEFAULTS = {
  // Docker's VXLAN port (IANA 4789); --data-path-port changes it for networks that block it.
  dataPathPort: 4789,
  // Docker swarm rotates its overlay encryption keys every 12 hours.
  keyRotationIntervalMs: 12 * 3_600_000,
  // Three keys per kind: the next (rx only), the primary, the previous (rx only).
  keysPerKind: 3,
  // AES-256: 32 bytes of key material.
  keyBytes: 32,
} as const;

export const INGRESS_NETWORK = "ingress";

export interface NodeAddressInput {
  hostname: string;
  advertiseAddr: string;
  underlayAddrs: readonly string[];
}

export interface InitInput extends NodeAddressInput {
  defaultAddrPools: readonly string[];
  /** 0 = default. */
  defaultAddrPoolMaskLength: number;
  /** 0 = default. */
  dataPathPort: number;
  /** 0 = default. */
  keyRotationIntervalMs: number;
  /** The first manager's CSR. */
  csr: string;
  autolock?: boolean;
  /** 0 or absent = default (90 days). */
  certExpiryMs?: number;
}

export interface JoinInput extends NodeAddressInput {
  token: string;
  csr: string;
}

export interface JoinResult {
  clusterId: string;
  nodeId: string;
  role: NodeRole;
  managers: string[];
  certificate: string;
  trustBundle: string;
  /** Init with autolock: the unlock key, shown once. */
  unlockKey: string;
}

export interface ClusterView {
  cluster: ClusterRecord;
  /** Tags and roles of the keys in use, per kind oldest first; never key bytes. */
  keyTags: KeyTagView[];
  /** ISO times of the last key rotation (the creation before the first) and the next one. */
  lastKeyRotationAt: string;
  nextKeyRotationAt: string;
  managers: string[];
  /** Digest of the CA's trust bundle (what join tokens carry). */
  caDigest: string;
}

export interface UpdateInput {
  /** undefined = unchanged. */
  keyRotationIntervalMs: number | undefined;
  certExpiryMs?: number | undefined;
  autolock?: boolean | undefined;
  /** Tasks kept per slot, live ones included. */
  taskHistoryLimit?: number | undefined;
}

/** Docker's task history retention limit, and the bounds `swarm update` accepts. */
export const TASK_HISTORY = { default: 5, min: 1, max: 1000 } as const;

function checkTaskHistoryLimit(n: number): number {
  if (!Number.isInteger(n) || n < TASK_HISTORY.min || n > TASK_HISTORY.max) {
    throw invalid(
      `task history limit must be a whole number from ${TASK_HISTORY.min} to ${TASK_HISTORY.max}, got ${n}`,
    );
  }
  return n;
}

function invalid(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, message);
}

function checkNodeAddress(input: NodeAddressInput): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(input.hostname)) {
    throw invalid(`invalid hostname ${JSON.stringify(input.hostname)}`);
  }
  if (parseIpv4(input.advertiseAddr) === undefined) {
    throw invalid(`invalid advertise address ${JSON.stringify(input.advertiseAddr)}: give an IPv4 address`);
  }
  for (const a of input.underlayAddrs) {
    if (parseCidr(a, true) === undefined)
      throw invalid(`invalid underlay address ${JSON.stringify(a)}: use ip/len`);
  }
}

export class ClusterService {
  constructor(
    private readonly store: Store,
    private readonly now: () => Date = () => new Date(),
    private readonly ca: CertificateAuthority = new CertificateAuthority(store),
  ) {}

  async init(input: InitInput): Promise<JoinResult> {
    checkNodeAddress(input);
    const pools = input.defaultAddrPools.length > 0 ? [...input.defaultAddrPools] : GLOBAL_DEFAULT_POOLS;
    const size = input.defaultAddrPoolMaskLength || GLOBAL_DEFAULT_SUBNET_SIZE;
    poolSpecs(pools, size); // validates
    const dataPathPort = input.dataPathPort || CLUSTER_DEFAULTS.dataPathPort;
    if (dataPathPort < 1024 || dataPathPort > 49151) {
      throw invalid(`data path port must be in 1024-49151, got ${dataPathPort}`);
    }
    const keyRotationIntervalMs = checkRotationInterval(
      input.keyRotationIntervalMs || CLUSTER_DEFAULTS.keyRotationIntervalMs,
    );
    const certExpiryMs = input.certExpiryMs ? checkCertExpiry(input.certExpiryMs) : undefined;
    const createdAt = this.now().toISOString();
    const clusterId = newId();
    const ca = await newCaRecord(clusterId);
    const cluster: ClusterRecord = {
      id: clusterId,
      createdAt,
      defaultAddrPools: pools,
      subnetSize: size,
      dataPathPort,
      joinSecrets: { worker: newSecret(), manager: newSecret() },
      keyRotationIntervalMs,
      keyClock: 0,
      ...(input.autolock ? { autolock: true, unlockKey: newUnlockKey() } : {}),
      ...(certExpiryMs === undefined ? {} : { certExpiryMs }),
    };
    const nodeId = newId();
    const issued = await this.ca.issue(
      ca,
      input.csr,
      { clusterId, nodeId, role: "manager" },
      certExpiryOf(cluster),
    );
    const node = this.newNode(nodeId, input, "manager", createdAt, issued);
    const ingressSpec = parseNetworkSpec({
      name: INGRESS_NETWORK,
      driver: "overlay",
      subnets: [],
      gateways: [],
      ipRanges: [],
      auxAddresses: [],
      options: {},
      labels: {},
      attachable: false,
      ingress: true,
      internal: false,
      ipamDriver: "",
      ipamOptions: {},
    });
    const ingressId = newId();
    await this.store.transact(async (tx) => {
      if (await tx.exists(keys.cluster)) {
        throw new SwarmnetError(
          ErrorCode.AlreadyExists,
          "this cluster is already initialised (leave it with 'swarmnet swarm leave' or join it with a token)",
        );
      }
      await planNetwork(tx, ingressSpec, { cluster, extraNodes: [node], id: ingressId, createdAt });
      this.planKeys(tx, cluster, createdAt);
      tx.put(keys.cluster, cluster);
      tx.put(keys.ca, ca);
      tx.put(keys.node(node.id), node);
    });
    return {
      clusterId: cluster.id,
      nodeId: node.id,
      role: "manager",
      managers: await this.managerAddresses(),
      certificate: issued.chain,
      trustBundle: issued.trustBundle,
      unlockKey: cluster.unlockKey ?? "",
    };
  }

  async join(input: JoinInput): Promise<JoinResult> {
    checkNodeAddress(input);
    const [cluster, ca] = await Promise.all([this.requireCluster(), this.ca.current()]);
    const role = roleForToken(caDigest(ca), cluster.joinSecrets, input.token);
    const nodeId = newId();
    const issued = await this.ca.issue(
      ca,
      input.csr,
      { clusterId: cluster.id, nodeId, role },
      certExpiryOf(cluster),
    );
    const node = this.newNode(nodeId, input, role, this.now().toISOString(), issued);
    await this.store.transact(async (tx) => {
      // The token is checked again against what the commit sees: a token or CA rotation
      // racing the join makes the join retry and then fail.
      const [current, currentCa] = await Promise.all([
        tx.get<ClusterRecord>(keys.cluster),
        tx.get<CaRecord>(keys.ca),
      ]);
      if (current === undefined || currentCa === undefined) throw notInitialised();
      roleForToken(caDigest(currentCa), current.joinSecrets, input.token);
      for (const ghost of await this.lostJoins(tx, input, role)) tx.delete(keys.node(ghost.id));
      tx.put(keys.node(node.id), node);
    });
    return {
      clusterId: cluster.id,
      nodeId,
      role,
      managers: await this.managerAddresses(),
      certificate: issued.chain,
      trustBundle: issued.trustBundle,
      unlockKey: "",
    };
  }

  /**
   * Workers left by a join whose answer never arrived: the caller gave up waiting (a
   * deadline on a slow manager) and joins again, as provisioning scripts retry. Such a
   * node has this hostname and address, is still a member, never opened a session and
   * never reported its kernel — it never ran with the credentials it was issued. The new
   * join replaces it instead of leaving a second node of that name, Down forever (as
   * `node rm` would remove it).
   */
  private async lostJoins(tx: StoreTxn, input: JoinInput, role: NodeRole): Promise<NodeRecord[]> {
    if (role !== "worker") return [];
    const candidates = (await tx.list<NodeRecord>(keys.nodesPrefix)).filter(
      (n) =>
        n.role === "worker" &&
        n.hostname === input.hostname &&
        n.advertiseAddr === input.advertiseAddr &&
        n.credentialHash !== "" &&
        n.capabilities === undefined,
    );
    const lost: NodeRecord[] = [];
    for (const n of candidates) if ((await tx.listKeys(keys.nodeSessions(n.id))).length === 0) lost.push(n);
    return lost;
  }

  /** `swarm leave` by the node of the client certificate. */
  async leave(nodeId: string, force: boolean): Promise<void> {
    await this.store.transact(async (tx) => {
      const node = await tx.get<NodeRecord>(keys.node(nodeId));
      if (node === undefined || node.credentialHash === "") {
        throw new SwarmnetError(ErrorCode.Unauthenticated, "this node is not part of the cluster");
      }
      if (node.role === "manager" && !force) {
        throw new SwarmnetError(
          ErrorCode.Conflict,
          `node ${node.hostname} is a manager: leaving may cost the cluster its managers; use --force to leave anyway`,
        );
      }
      tx.put(keys.node(node.id), { ...node, credentialHash: "", updatedAt: this.now().toISOString() });
      tx.deletePrefix(keys.nodeSessions(node.id));
    });
  }

  async inspect(): Promise<ClusterView> {
    const cluster = await this.requireCluster();
    const [records, ca] = await Promise.all([
      this.store.list<EncryptionKeyRecord>(keys.keysPrefix),
      this.ca.current(),
    ]);
    return {
      cluster,
      keyTags: KEY_KINDS.flatMap((kind) => ringTags(kind, ringFromRecords(records, kind))),
      lastKeyRotationAt: new Date(lastRotationAt(cluster)).toISOString(),
      nextKeyRotationAt: new Date(nextRotationAt(cluster)).toISOString(),
      managers: await this.managerAddresses(),
      caDigest: caDigest(ca),
    };
  }

  /** `swarm update`: changes the given settings in one transaction; nothing on a bad value. */
  async update(input: UpdateInput): Promise<void> {
    const interval =
      input.keyRotationIntervalMs === undefined
        ? undefined
        : checkRotationInterval(input.keyRotationIntervalMs);
    const expiry = input.certExpiryMs === undefined ? undefined : checkCertExpiry(input.certExpiryMs);
    const history =
      input.taskHistoryLimit === undefined ? undefined : checkTaskHistoryLimit(input.taskHistoryLimit);
    await this.store.transact(async (tx) => {
      const cluster = await tx.get<ClusterRecord>(keys.cluster);
      if (cluster === undefined) throw notInitialised();
      const next: ClusterRecord = { ...cluster };
      if (interval !== undefined) next.keyRotationIntervalMs = interval;
      if (expiry !== undefined) next.certExpiryMs = expiry;
      if (history !== undefined) next.taskHistoryLimit = history;
      if (input.autolock !== undefined) {
        next.autolock = input.autolock;
        if (input.autolock && next.unlockKey === undefined) next.unlockKey = newUnlockKey();
      }
      if (JSON.stringify(next) !== JSON.stringify(cluster)) tx.put(keys.cluster, next);
    });
  }

  /** `swarm unlock-key [--rotate]`: the unlock key ("" when autolock is off). */
  async unlockKey(rotate: boolean): Promise<string> {
    if (!rotate) {
      const cluster = await this.requireCluster();
      return cluster.autolock === true ? (cluster.unlockKey ?? "") : "";
    }
    const { result } = await this.store.transact(async (tx) => {
      const cluster = await tx.get<ClusterRecord>(keys.cluster);
      if (cluster === undefined) throw notInitialised();
      if (cluster.autolock !== true) {
        throw new SwarmnetError(
          ErrorCode.Conflict,
          "autolock is off: there is no unlock key to rotate (turn it on with 'swarmnet swarm update --autolock=true')",
        );
      }
      const next = { ...cluster, unlockKey: newUnlockKey() };
      tx.put(keys.cluster, next);
      return next.unlockKey;
    });
    return result;
  }

  /** The current token of `role`; with `rotate`, a new secret replaces the old first. */
  async joinToken(role: string, rotate: boolean): Promise<string> {
    if (role !== "worker" && role !== "manager")
      throw invalid(`role must be worker or manager, got ${JSON.stringify(role)}`);
    const digest = caDigest(await this.ca.current());
    if (!rotate) {
      const cluster = await this.requireCluster();
      return formatJoinToken(digest, cluster.joinSecrets[role]);
    }
    const { result } = await this.store.transact(async (tx) => {
      const cluster = await tx.get<ClusterRecord>(keys.cluster);
      if (cluster === undefined) throw notInitialised();
      const next: ClusterRecord = {
        ...cluster,
        joinSecrets: { ...cluster.joinSecrets, [role]: newSecret() },
      };
      tx.put(keys.cluster, next);
      return formatJoinToken(digest, next.joinSecrets[role]);
    });
    return result;
  }

  private async requireCluster(): Promise<ClusterRecord> {
    const cluster = await this.store.getCluster();
    if (cluster === undefined) throw notInitialised();
    return cluster;
  }

  private async managerAddresses(): Promise<string[]> {
    return (await this.store.list<ManagerRecord>(keys.managersPrefix)).map((m) => m.address);
  }

  private newNode(
    id: string,
    input: NodeAddressInput,
    role: NodeRole,
    at: string,
    issued: IssuedCertificate,
  ): NodeRecord {
    return {
      id,
      hostname: input.hostname,
      role,
      availability: "active",
      advertiseAddr: input.advertiseAddr,
      underlayAddrs: [...input.underlayAddrs],
      capabilities: undefined,
      credentialHash: issued.credentialHash,
      certGeneration: issued.generation,
      createdAt: at,
      updatedAt: at,
    };
  }

  /** The first key material: three keys per kind with Lamport tags 1, 2, 3. */
  private planKeys(tx: StoreTxn, cluster: ClusterRecord, at: string): void {
    for (const kind of ["data", "gossip"] as const) {
      for (let tag = 1; tag <= CLUSTER_DEFAULTS.keysPerKind; tag++) {
        const record: EncryptionKeyRecord = {
          kind,
          tag,
          key: randomBytes(CLUSTER_DEFAULTS.keyBytes).toString("base64"),
          createdAt: at,
        };
        tx.put(keys.key(kind, tag), record);
      }
    }
    cluster.keyClock = CLUSTER_DEFAULTS.keysPerKind;
  }
}
