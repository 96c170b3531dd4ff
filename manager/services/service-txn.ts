/**
 * The writes that keep a service's and its tasks' network state consistent, queued in a
 * store transaction by whoever changes them (`service create/update/rm`, the scheduler,
 * task status reports), so every path frees and allocates the same way:
 *
 *   service VIPs      one address per network the service is on (endpoint mode vip),
 *                     owner `vip:<service>`, plus `attachments/<net>/service:<id>`
 *                     (with the VIP) so `network rm` refuses while the service is there
 *   task endpoints    one address per network of the task, owner `task:<id>`, plus
 *                     `attachments/<net>/task:<id>` with the node and IP (network inspect)
 *   release           a task whose sandbox is gone frees every address it held
 *
 * A network record is read once per transaction (`tx.get`, guarded): a network removed
 * meanwhile makes the commit fail and the change retry on fresh data.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { TxnAddresses } from "../networks/address-allocation.js";
import { keys } from "../store/keys.js";
import {
  attachmentOwner,
  type AttachmentRecord,
  type NetworkRecord,
  type ServiceRecord,
  type ServiceVipRecord,
  type TaskNetworkRecord,
  type TaskRecord,
} from "../store/records.js";
import type { StoreTxn } from "../store/store.js";
import { containerName, taskSync } from "./tasks.js";

export class ServiceTxn {
  readonly addresses: TxnAddresses;

  constructor(readonly tx: StoreTxn) {
    this.addresses = new TxnAddresses(tx);
  }

  async network(id: string): Promise<NetworkRecord> {
    const n = await this.tx.get<NetworkRecord>(keys.network(id));
    if (n === undefined) throw new SwarmnetError(ErrorCode.NotFound, `network ${id} not found`);
    return n;
  }

  /**
   * Makes the service's VIPs and attachment records match `networks` (its effective
   * networks); returns the new VIP list.
   */
  async setServiceNetworks(
    s: ServiceRecord,
    before: readonly string[],
    networks: readonly string[],
  ): Promise<ServiceVipRecord[]> {
    const owner = attachmentOwner("service", s.id);
    const vips: ServiceVipRecord[] = [];
    for (const id of before) {
      if (networks.includes(id)) continue;
      this.tx.delete(keys.attachment(id, owner));
      const vip = s.vips.find((v) => v.networkId === id);
      if (vip !== undefined) this.addresses.release(id, vip.ip);
    }
    for (const id of networks) {
      const kept = s.vips.find((v) => v.networkId === id);
      let ip = kept?.ip;
      if (s.endpointMode === "vip" && ip === undefined) {
        ip = (await this.addresses.allocate(await this.network(id), `vip:${s.id}`)).ip;
      }
      if (ip !== undefined) vips.push({ networkId: id, ip });
      if (!before.includes(id) || ip !== kept?.ip) {
        const record: AttachmentRecord = { kind: "service", id: s.id, name: s.name, ...(ip ? { ip } : {}) };
        this.tx.put(keys.attachment(id, owner), record);
      }
    }
    return vips;
  }

  /** Frees every VIP and attachment of a removed service. */
  releaseService(s: ServiceRecord): void {
    const owner = attachmentOwner("service", s.id);
    for (const id of new Set([...s.networks, ...s.vips.map((v) => v.networkId)])) {
      this.tx.delete(keys.attachment(id, owner));
    }
    for (const v of s.vips) this.addresses.release(v.networkId, v.ip);
  }

  private endpointRecord(t: TaskRecord, ip: string): AttachmentRecord {
    return {
      kind: "task",
      id: t.id,
      name: containerName(t),
      ...(t.nodeId === "" ? {} : { nodeId: t.nodeId }),
      ip,
    };
  }

  /** Allocates the task's address on each of `networks`; all or none (the error says why). */
  async joinNetworks(t: TaskRecord, networks: readonly string[]): Promise<TaskNetworkRecord[]> {
    const got: TaskNetworkRecord[] = [];
    try {
      for (const id of networks) {
        const a = await this.addresses.allocate(await this.network(id), attachmentOwner("task", t.id));
        got.push({ networkId: id, ip: a.ip });
        this.tx.put(keys.attachment(id, attachmentOwner("task", t.id)), this.endpointRecord(t, a.ip));
      }
    } catch (err) {
      this.leaveNetworks(t, got);
      throw err;
    }
    return got;
  }

  leaveNetworks(t: TaskRecord, networks: readonly TaskNetworkRecord[]): void {
    for (const n of networks) {
      this.tx.delete(keys.attachment(n.networkId, attachmentOwner("task", t.id)));
      this.addresses.release(n.networkId, n.ip);
    }
  }

  /** Rewrites the task's attachment records (after its node changed). */
  refreshEndpoints(t: TaskRecord): void {
    for (const n of t.networks) {
      this.tx.put(keys.attachment(n.networkId, attachmentOwner("task", t.id)), this.endpointRecord(t, n.ip));
    }
  }

  /** A task whose sandbox is gone: addresses freed, kept as history. */
  release(t: TaskRecord, changes: Partial<TaskRecord>, at: string): TaskRecord {
    this.leaveNetworks(t, t.networks);
    const next: TaskRecord = { ...t, ...changes, desiredState: "shutdown", released: true, updatedAt: at };
    this.putTask(next);
    return next;
  }

  /**
   * Brings an unreleased task's networks and ports in line with its service, in place:
   * addresses on networks it joined, freed on those it left. Returns the task as stored.
   */
  async syncTask(
    t: TaskRecord,
    networks: readonly string[],
    s: ServiceRecord,
    at: string,
  ): Promise<TaskRecord> {
    const sync = taskSync(t, networks, s.ports);
    const left = t.networks.filter((n) => sync.leave.includes(n.networkId));
    if (sync.join.length === 0 && left.length === 0 && sync.ports === undefined) return t;
    this.leaveNetworks(t, left);
    const joined = await this.joinNetworks(t, sync.join);
    const next: TaskRecord = {
      ...t,
      networks: [...t.networks.filter((n) => !sync.leave.includes(n.networkId)), ...joined],
      ports: sync.ports ?? t.ports,
      updatedAt: at,
    };
    this.putTask(next);
    return next;
  }

  putTask(t: TaskRecord): void {
    this.tx.put(keys.task(t.serviceId, t.id), t);
  }
}
