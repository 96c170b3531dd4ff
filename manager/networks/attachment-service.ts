/**
 * Standalone containers on cluster networks (`swarmnet run --network NET [--ip IP]`,
 * `network connect`): the agent of the container's node asks for an address, and the
 * attachment is recorded so `network inspect` shows the container (per node, with its IP
 * and MAC) and `network rm` is refused while it is there.
 *
 * Docker's rules: a swarm-scope network takes standalone containers only if it was
 * created `--attachable`; the ingress network never does (it is the routing mesh's).
 * Local-scope networks (bridge, macvlan) always do. `--ip` must be inside the subnet,
 * assignable and free.
 *
 *   attach   one transaction: the network (guarded), the container's attachment (an
 *            agent retrying after a lost answer gets the same address back), the address
 *            (ipam), the attachment record — all or nothing, so a refused request leaves
 *            etcd as it was
 *   release  one transaction, idempotent: releasing what is not attached succeeds, so an
 *            agent may release after any failure without asking first
 *
 * The caller is authenticated with the node's credential, as the dispatcher does; a node
 * may release only its own containers' attachments.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { checkMember } from "../cluster/node-auth.js";
import { keys } from "../store/keys.js";
import {
  attachmentOwner,
  type AttachmentRecord,
  type ClusterRecord,
  type NetworkRecord,
  type NodeRecord,
} from "../store/records.js";
import type { Store } from "../store/store.js";
import { addressInfo, TxnAddresses, type AllocatedAddress } from "./address-allocation.js";
import { resolveNetwork } from "./network-service.js";

/** The calling node: its id comes from its verified client certificate. */
export interface NodeCredential {
  nodeId: string;
}

export interface AttachInput extends NodeCredential {
  /** Name, id or unique id prefix. */
  network: string;
  containerId: string;
  containerName: string;
  /** A static address; "" or undefined for the next free one. */
  ip: string | undefined;
}

export interface ReleaseInput extends NodeCredential {
  /** Id (a name is accepted too). */
  networkId: string;
  containerId: string;
}

export interface AttachResult extends AllocatedAddress {
  network: NetworkRecord;
  /** The cluster's VXLAN UDP port. */
  dataPathPort: number;
}

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Why `n` does not take standalone containers, or undefined if it does. */
export function notAttachableReason(n: NetworkRecord): string | undefined {
  if (n.ingress) {
    return `network ${n.name} is the ingress (routing-mesh) network: standalone containers cannot attach to it`;
  }
  if (n.scope === "swarm" && !n.attachable) {
    return `network ${n.name} is not attachable: create it with --attachable`;
  }
  return undefined;
}

export class AttachmentService {
  constructor(
    private readonly store: Store,
    /** A cached node record (the dispatcher's view), checked before reading etcd. */
    private readonly cachedNode: (id: string) => NodeRecord | undefined = () => undefined,
  ) {}

  /** The calling node, if it is still a member; else `Unauthenticated`. */
  async authenticate(c: NodeCredential): Promise<NodeRecord> {
    return checkMember(this.cachedNode(c.nodeId) ?? (await this.store.getNode(c.nodeId)));
  }

  async attach(input: AttachInput): Promise<AttachResult> {
    const node = await this.authenticate(input);
    if (!CONTAINER_ID.test(input.containerId)) {
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        `invalid container id ${JSON.stringify(input.containerId)}`,
      );
    }
    const target = resolveNetwork(await this.store.listNetworks(), input.network);
    const owner = attachmentOwner("container", input.containerId);
    const requested = input.ip ?? "";
    const { result } = await this.store.transact(async (tx) => {
      const n = await tx.get<NetworkRecord>(keys.network(target.id));
      if (n === undefined) throw new SwarmnetError(ErrorCode.NotFound, `network ${input.network} not found`);
      const refused = notAttachableReason(n);
      if (refused !== undefined) throw new SwarmnetError(ErrorCode.PermissionDenied, refused);
      const cluster = await tx.get<ClusterRecord>(keys.cluster);
      const dataPathPort = cluster?.dataPathPort ?? 4789;
      const existing = await tx.get<AttachmentRecord>(keys.attachment(n.id, owner));
      if (existing !== undefined) {
        // A retry of an attach whose answer was lost: the same address again.
        const sameIp = requested === "" || requested === existing.ip;
        if (existing.nodeId === node.id && sameIp && existing.ip !== undefined) {
          return { network: n, dataPathPort, ...addressInfo(n, existing.ip) };
        }
        throw new SwarmnetError(
          ErrorCode.AlreadyExists,
          `container ${input.containerName || input.containerId} is already attached to network ${n.name}`,
        );
      }
      const addr = await new TxnAddresses(tx).allocate(n, owner, requested);
      const record: AttachmentRecord = {
        kind: "container",
        id: input.containerId,
        name: input.containerName || input.containerId.slice(0, 12),
        nodeId: node.id,
        ip: addr.ip,
      };
      tx.put(keys.attachment(n.id, owner), record);
      return { network: n, dataPathPort, ...addr };
    });
    return result;
  }

  async release(input: ReleaseInput): Promise<void> {
    const node = await this.authenticate(input);
    let target: NetworkRecord;
    try {
      target = resolveNetwork(await this.store.listNetworks(), input.networkId);
    } catch (err) {
      if (err instanceof SwarmnetError && err.code === ErrorCode.NotFound) return; // gone with its network
      throw err;
    }
    const owner = attachmentOwner("container", input.containerId);
    await this.store.transact(async (tx) => {
      const a = await tx.get<AttachmentRecord>(keys.attachment(target.id, owner));
      if (a === undefined) return;
      if (a.nodeId !== undefined && a.nodeId !== node.id) {
        throw new SwarmnetError(
          ErrorCode.PermissionDenied,
          `container ${a.name} on network ${target.name} belongs to another node`,
        );
      }
      tx.delete(keys.attachment(target.id, owner));
      if (a.ip !== undefined) new TxnAddresses(tx).release(target.id, a.ip);
    });
  }
}
