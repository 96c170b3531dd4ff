/**
 * `network create|rm|prune` for the node's own networks (bridge, macvlan, ipvlan), as a
 * Docker daemon answers them: the request is checked with the managers' rules
 * (common/network-spec.ts), the driver must run on this node (the probe decides: ipvlan
 * here is refused naming the missing kernel feature), subnets come from the local pools
 * clear of everything the node knows (local-ipam.ts), and the driver checks what only
 * this node can (a bridge name in use, a macvlan parent that does not exist) — all before
 * anything is stored. Then the network is kept (local-networks.ts) and the kernel follows
 * (`kernel.sync`); if the kernel refuses, the network is taken back out.
 *
 * Macvlan and ipvlan networks share the parent's network: their subnet is expected to
 * overlap the node's underlay, so only other networks count against it.
 */
import { randomBytes } from "node:crypto";
import type { NetworkIntent } from "../common/cluster-types.js";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import type { Executor } from "../common/executor.js";
import type { TakenPrefix } from "../common/ipam/index.js";
import { PARENT_DRIVERS, parseNetworkSpec, type CreateNetworkInput } from "../common/network-spec.js";
import { assertParentFree } from "../common/parent-network.js";
import type { IntentState } from "./dispatcher/index.js";
import type { DriverRegistry } from "./drivers/registry.js";
import { GW_SUBNET } from "./gwbridge/gwbridge.js";
import { networkPrefixes, planLocalNetwork, prefixOf } from "./local-ipam.js";
import type { LocalNetworks } from "./local-networks.js";
import type { ContainerRecord } from "./sandbox/container.js";

export interface LocalNetworkDeps {
  networks: LocalNetworks;
  drivers: () => DriverRegistry;
  containers: () => readonly ContainerRecord[];
  intent: () => IntentState | undefined;
  ex: Executor;
  /** Resolves once the kernel followed (every reconciler passed after the call). */
  kernel: { sync(): Promise<void> };
}

interface JsonAddr {
  ifname: string;
  addr_info?: { local: string; prefixlen: number }[];
}

export class LocalNetworkService {
  constructor(private readonly deps: LocalNetworkDeps) {}

  async create(input: CreateNetworkInput): Promise<NetworkIntent> {
    const spec = parseNetworkSpec(input);
    if (spec.scope !== "local")
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        `${spec.driver} networks are the cluster's: create them through the managers`,
      );
    const { networks } = this.deps;
    const clusterNetworks = [...(this.deps.intent()?.networks.values() ?? [])];
    if ([...networks.all(), ...clusterNetworks].some((n) => n.name === spec.name))
      throw new SwarmnetError(ErrorCode.AlreadyExists, `network with name ${spec.name} already exists`);
    const driver = this.deps.drivers().get(spec.driver, spec.name);
    assertParentFree(spec.options["parent"], [...networks.all(), ...clusterNetworks]);
    const taken: TakenPrefix[] = [
      ...networkPrefixes(networks.all()),
      ...networkPrefixes(clusterNetworks),
      ...prefixOf(GW_SUBNET, "the node's gateway bridge"),
      ...(PARENT_DRIVERS.includes(spec.driver) ? [] : await this.nodePrefixes()),
    ];
    const intent = planLocalNetwork(spec, taken, randomBytes(32).toString("hex"), new Date().toISOString());
    const config = intent.ipam.configs[0];
    await driver.createNetwork({
      intent,
      subnet: config?.subnet ?? "",
      gateway: config?.gateway ?? "",
      dataPathPort: 0,
    });
    networks.add(intent);
    try {
      await this.deps.kernel.sync();
    } catch (err) {
      networks.delete(intent.id);
      await this.deps.kernel.sync().catch(() => undefined);
      throw err;
    }
    return intent;
  }

  /** Docker's refusals: a predefined network, one with containers on it. */
  async remove(ref: string): Promise<NetworkIntent> {
    const n = this.find(ref);
    if (this.deps.networks.isPredefined(n))
      throw new SwarmnetError(
        ErrorCode.PermissionDenied,
        `${n.name} is a pre-defined network and cannot be removed`,
      );
    if (this.inUse(n))
      throw new SwarmnetError(
        ErrorCode.InUse,
        `error while removing network: network ${n.name} id ${n.id} has active endpoints`,
      );
    this.deps.networks.delete(n.id);
    await this.deps.kernel.sync();
    return n;
  }

  /** Removes every user-defined local network no container (running or not) is on. */
  async prune(): Promise<string[]> {
    const unused = this.deps.networks
      .all()
      .filter((n) => !this.deps.networks.isPredefined(n) && !this.inUse(n));
    for (const n of unused) this.deps.networks.delete(n.id);
    if (unused.length > 0) await this.deps.kernel.sync();
    return unused.map((n) => n.name);
  }

  /** Whether `ref` names one of the node's networks. */
  has(ref: string): boolean {
    return this.deps.networks.find(ref) !== undefined;
  }

  private find(ref: string): NetworkIntent {
    const n = this.deps.networks.find(ref);
    if (n === undefined) throw new SwarmnetError(ErrorCode.NotFound, `network ${ref} not found`);
    return n;
  }

  private inUse(n: NetworkIntent): boolean {
    return this.deps.containers().some((c) => c.endpoints.some((e) => e.networkId === n.id));
  }

  /** The node's own addresses' networks (the underlay): no bridge subnet may overlap them. */
  private async nodePrefixes(): Promise<TakenPrefix[]> {
    const links = await this.deps.ex.ipJson<JsonAddr>(["addr", "show"]);
    return links
      .filter((l) => l.ifname !== "lo")
      .flatMap((l) =>
        (l.addr_info ?? []).flatMap((a) => prefixOf(`${a.local}/${a.prefixlen}`, `address of ${l.ifname}`)),
      );
  }
}
