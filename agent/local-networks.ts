/**
 * The networks that belong to this node, as a Docker daemon's do:
 *
 *   bridge   driver bridge, the default for a container with no `--network`
 *            (172.17.0.0/16, gateway .1, Linux bridge `swarmnet0`; Docker's docker0)
 *   host     driver host: the node's own network stack
 *   none     driver null: a namespace with only `lo`
 *   + user-defined local-scope networks (`network create -d bridge|macvlan|ipvlan`),
 *     made on this node and kept in `<stateDir>/networks.json`.
 *
 * Decision (issue #11): local-scope networks live on the node where they are created, as
 * a Docker daemon's do. `network create -d bridge…` goes to the node's agent over its
 * control socket, not to the managers: they exist before the node joins a swarm and
 * after it leaves, no manager is asked to run or remove them, and addresses on them are
 * the agent's to hand out (local-ipam.ts). Overlay networks stay with the managers; the
 * CLI lists both (`network ls`, SCOPE local for these).
 *
 * Predefined networks' ids are derived from the node's name so they are stable across
 * agent restarts; user-defined ones get random ids, as Docker's.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import type { NetworkIntent } from "../common/cluster-types.js";

export const DEFAULT_BRIDGE = "bridge";
export const DEFAULT_BRIDGE_SUBNET = "172.17.0.0/16";
export const DEFAULT_BRIDGE_GATEWAY = "172.17.0.1";
export const DEFAULT_BRIDGE_DEVICE = "swarmnet0";

function network(
  nodeName: string,
  name: string,
  driver: string,
  ipam: NetworkIntent["ipam"]["configs"],
  options: Record<string, string>,
): NetworkIntent {
  return {
    id: createHash("sha256").update(`${nodeName}/${name}`).digest("hex"),
    name,
    driver,
    scope: "local",
    createdAt: "",
    internal: false,
    attachable: false,
    ingress: false,
    ipam: { driver: "default", configs: ipam, options: {} },
    options,
    labels: {},
    vni: undefined,
    encrypted: false,
    mtu: undefined,
  };
}

export function predefinedNetworks(nodeName: string): NetworkIntent[] {
  return [
    network(
      nodeName,
      DEFAULT_BRIDGE,
      "bridge",
      [
        {
          subnet: DEFAULT_BRIDGE_SUBNET,
          gateway: DEFAULT_BRIDGE_GATEWAY,
          ipRange: undefined,
          auxAddresses: {},
        },
      ],
      {
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.name": DEFAULT_BRIDGE_DEVICE,
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
      },
    ),
    network(nodeName, "host", "host", [], {}),
    network(nodeName, "none", "null", [], {}),
  ];
}

/** Shorter id prefixes are not looked up: a cluster network named so must not be shadowed. */
const MIN_ID_PREFIX = 4;

/**
 * The node's networks: the predefined ones and the user-defined local ones, persisted as
 * one JSON file written atomically on every change (read only at start). `version` counts
 * changes so a node snapshot is reused while nothing changed.
 */
export class LocalNetworks {
  readonly predefined: readonly NetworkIntent[];
  private readonly file: string | undefined;
  private readonly created = new Map<string, NetworkIntent>();
  private list: readonly NetworkIntent[] | undefined;
  version = 0;

  /** `stateDir` undefined: memory only (unit tests). */
  constructor(nodeName: string, stateDir: string | undefined) {
    this.predefined = predefinedNetworks(nodeName);
    this.file = stateDir === undefined ? undefined : join(stateDir, "networks.json");
    if (stateDir !== undefined) mkdirSync(stateDir, { recursive: true });
  }

  load(): void {
    if (this.file === undefined || !existsSync(this.file)) return;
    try {
      for (const n of JSON.parse(readFileSync(this.file, "utf8")) as NetworkIntent[])
        this.created.set(n.id, n);
    } catch (err) {
      throw new SwarmnetError(ErrorCode.InvalidConfig, `cannot read ${this.file}`, { cause: err });
    }
    this.changed();
  }

  /** Predefined first, then user-defined by creation: one array until the next change. */
  all(): readonly NetworkIntent[] {
    return (this.list ??= [...this.predefined, ...this.created.values()]);
  }

  isPredefined(n: NetworkIntent): boolean {
    return this.predefined.includes(n);
  }

  /** By exact name, exact id or unique id prefix (predefined ones by name or id only). */
  find(ref: string): NetworkIntent | undefined {
    const all = this.all();
    const exact = all.find((n) => n.name === ref || n.id === ref);
    if (exact !== undefined || ref.length < MIN_ID_PREFIX) return exact;
    const byPrefix = [...this.created.values()].filter((n) => n.id.startsWith(ref));
    return byPrefix.length === 1 ? byPrefix[0] : undefined;
  }

  add(n: NetworkIntent): void {
    this.created.set(n.id, n);
    this.changed();
  }

  delete(id: string): void {
    if (this.created.delete(id)) this.changed();
  }

  private changed(): void {
    this.list = undefined;
    this.version++;
    if (this.file === undefined) return;
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify([...this.created.values()], null, 2) + "\n");
    renameSync(tmp, this.file);
  }
}
