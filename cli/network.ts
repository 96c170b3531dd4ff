/**
 * `swarmnet network create|ls|inspect|rm|prune`, with `docker network …`'s flags,
 * output and filters. `inspect` prints a JSON array shaped like Docker's (Name, Id,
 * Created, Scope, Driver, IPAM.Config, Internal, Attachable, Ingress, Options with the
 * VNI, Labels, Peers; Node for a local network); `ls` filters on driver, id, name,
 * label, scope, type, dangling.
 *
 * Where a network lives decides where a command goes: local-scope drivers (bridge,
 * macvlan, ipvlan) to this node's agent, as a Docker daemon keeps them; overlay and
 * `--scope swarm` macvlan/ipvlan to the managers. `rm` asks the agent first for each
 * name it holds; `prune` asks both.
 */
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { PREDEFINED_NETWORK_NAMES } from "../common/cluster-types.js";
import { ErrorCode, SwarmnetError, errorMessage } from "../common/errors.js";
import { DEFAULT_DRIVER, DRIVER_SCOPES } from "../common/network-spec.js";
import { resolveNetwork } from "../manager/networks/index.js";
import type { ListNetworksResponse__Output } from "../proto/generated/swarmnet/v1/ListNetworksResponse.js";
import type { Network__Output } from "../proto/generated/swarmnet/v1/Network.js";
import type { PruneNetworksResponse__Output } from "../proto/generated/swarmnet/v1/PruneNetworksResponse.js";
import type { RemoveNetworkResponse__Output } from "../proto/generated/swarmnet/v1/RemoveNetworkResponse.js";
import { agentSocket, withAgent } from "./agent-context.js";
import { collect, withManagers, type ManagerClient } from "./manager-client.js";
import { localCredentials } from "./node-identity.js";
import { parseFormat, print, printJson, renderTable } from "./output.js";

const SHORT_ID = 12;

/** `k=v` pairs into a map; a bare `k` means "" (Docker's `-o encrypted`). */
export function keyValues(flag: string, items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    const key = eq < 0 ? item : item.slice(0, eq);
    if (key === "")
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        `invalid ${flag} ${JSON.stringify(item)}: use key=value`,
      );
    out[key] = eq < 0 ? "" : item.slice(eq + 1);
  }
  return out;
}

const FILTER_KEYS = ["driver", "id", "name", "label", "scope", "type", "dangling"];

/** Docker's `network ls -f` semantics: same key ORs, different keys AND. */
export function filterNetworks(
  networks: readonly Network__Output[],
  filters: readonly string[],
): Network__Output[] {
  const byKey = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf("=");
    const key = eq < 0 ? f : f.slice(0, eq);
    if (eq < 0 || !FILTER_KEYS.includes(key)) {
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        `invalid filter ${JSON.stringify(f)}: use key=value with key one of ${FILTER_KEYS.join(", ")}`,
      );
    }
    byKey.set(key, [...(byKey.get(key) ?? []), f.slice(eq + 1)]);
  }
  const matchOne = (n: Network__Output, key: string, v: string): boolean => {
    switch (key) {
      case "driver":
        return n.driver === v;
      case "id":
        return n.id.startsWith(v);
      case "name":
        return n.name.includes(v);
      case "scope":
        return n.scope === v;
      case "type":
        if (v !== "custom" && v !== "builtin") {
          throw new SwarmnetError(
            ErrorCode.InvalidArgument,
            `invalid filter type=${v}: use custom or builtin`,
          );
        }
        return (v === "builtin") === PREDEFINED_NETWORK_NAMES.includes(n.name);
      case "dangling":
        if (v !== "true" && v !== "false" && v !== "1" && v !== "0") {
          throw new SwarmnetError(
            ErrorCode.InvalidArgument,
            `invalid filter dangling=${v}: use true or false`,
          );
        }
        return (n.attached.length === 0) === (v === "true" || v === "1");
      case "label": {
        const eq = v.indexOf("=");
        return eq < 0 ? v in n.labels : n.labels[v.slice(0, eq)] === v.slice(eq + 1);
      }
      default:
        return false;
    }
  };
  return networks.filter((n) => [...byKey].every(([key, values]) => values.some((v) => matchOne(n, key, v))));
}

/**
 * One network as `docker network inspect` prints it. Containers are the endpoints on
 * `nodeId` (the node the CLI runs on, as Docker shows a node's own), or on every node when
 * the CLI runs outside the cluster; a node's ingress endpoint is Docker's "ingress-sbox".
 */
export function inspectView(n: Network__Output, nodeId?: string) {
  const containers = Object.fromEntries(
    n.endpoints
      .filter((e) => nodeId === undefined || e.nodeId === nodeId)
      .map((e) => [
        e.kind === "node" ? (nodeId === undefined ? `ingress-sbox-${e.id}` : "ingress-sbox") : e.id,
        {
          Name: e.kind === "node" ? "ingress-endpoint" : e.name,
          EndpointID: `${e.kind}:${e.id}`,
          MacAddress: e.mac,
          IPv4Address: e.ip === "" ? "" : `${e.ip}/${e.prefixLength}`,
          IPv6Address: "",
          ...(nodeId === undefined ? { Node: e.nodeId } : {}),
        },
      ]),
  );
  return {
    Name: n.name,
    Id: n.id,
    Created: n.createdAt,
    Scope: n.scope,
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: {
      Driver: n.ipamDriver,
      Options: Object.keys(n.ipamOptions).length === 0 ? null : n.ipamOptions,
      Config: n.ipamConfigs.map((c) => ({
        Subnet: c.subnet,
        Gateway: c.gateway,
        ...(c.ipRange === "" ? {} : { IPRange: c.ipRange }),
        ...(Object.keys(c.auxAddresses).length === 0 ? {} : { AuxiliaryAddresses: c.auxAddresses }),
      })),
    },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: n.ingress,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containers,
    Options: n.options,
    Labels: n.labels,
    ...(n.vni === 0 ? {} : { VNI: n.vni }),
    Encrypted: n.encrypted,
    ...(n.mtu === 0 ? {} : { MTU: n.mtu }),
    Attached: n.attached,
    ...(n.scope === "swarm" ? { Peers: n.peers.map((p) => ({ Name: p.name, IP: p.ip })) } : {}),
    ...(n.node === "" ? {} : { Node: n.node }),
  };
}

async function listNetworks(client: ManagerClient): Promise<Network__Output[]> {
  return (await client.call<ListNetworksResponse__Output>((c, o, cb) => c.networks.List({}, o, cb))).networks;
}

/**
 * The node's own networks (bridge, host, none) from its agent, and whether the node is in
 * a cluster; none when the CLI runs where no agent answers (e.g. outside every node).
 */
async function nodeNetworks(): Promise<{ networks: Network__Output[]; joined: boolean } | undefined> {
  if (!existsSync(agentSocket())) return undefined;
  try {
    return await withAgent(async (a) => ({
      networks: (await a.networks()).networks,
      joined: (await a.info()).joined,
    }));
  } catch {
    return undefined;
  }
}

/**
 * Every network this node sees, sorted by name as Docker lists them: its own, plus the
 * cluster's (asked of the managers unless the node is in no cluster and none was named).
 */
async function allNetworks(managers: string[] | undefined): Promise<Network__Output[]> {
  const local = await nodeNetworks();
  const cluster =
    local === undefined || local.joined || managers !== undefined
      ? await withManagers(managers, listNetworks)
      : [];
  return [...(local?.networks ?? []), ...cluster].sort((a, b) => a.name.localeCompare(b.name));
}

/** `bridge`, `host`, `none`: the node's own, never removed or created by hand (Docker's message). */
function refusePredefined(ref: string): void {
  if (PREDEFINED_NETWORK_NAMES.includes(ref)) {
    throw new SwarmnetError(
      ErrorCode.PermissionDenied,
      `${ref} is a pre-defined network and cannot be removed`,
    );
  }
}

async function confirm(question: string): Promise<boolean> {
  process.stdout.write(question);
  const rl = createInterface({ input: process.stdin });
  const line = await new Promise<string>((resolve) => {
    rl.once("line", resolve);
    rl.once("close", () => resolve(""));
  });
  rl.close();
  return /^y(es)?$/i.test(line.trim());
}

interface CreateFlags {
  driver: string;
  subnet?: string[];
  gateway?: string[];
  ipRange?: string[];
  auxAddress?: string[];
  opt?: string[];
  label?: string[];
  attachable?: boolean;
  ingress?: boolean;
  internal?: boolean;
  ipamDriver: string;
  ipamOpt?: string[];
  scope?: string;
  manager?: string[];
}

export function register(program: Command): void {
  const network = program.command("network").description("manage networks (Docker's network commands)");
  const managerOption = ["--manager <addr>", "manager to talk to, host:port (repeatable)"] as const;

  network
    .command("create")
    .description("create a network")
    .argument("<name>", "network name")
    .option("-d, --driver <driver>", "overlay, bridge, macvlan or ipvlan", "bridge")
    .option("--subnet <cidr>", "subnet (repeatable)", collect)
    .option("--gateway <ip>", "gateway of the subnet at the same position (repeatable)", collect)
    .option(
      "--ip-range <cidr>",
      "allocate container IPs from this range of the subnet at the same position",
      collect,
    )
    .option("--aux-address <name=ip>", "address the network must not hand out (repeatable)", collect)
    .option(
      "-o, --opt <key=value>",
      "driver option, e.g. encrypted, com.docker.network.driver.mtu=1400",
      collect,
    )
    .option("--label <key=value>", "label (repeatable)", collect)
    .option("--attachable", "let standalone containers attach (swarm networks)")
    .option("--ingress", "make it the routing-mesh network (only one)")
    .option("--internal", "no external access")
    .option("--scope <scope>", "swarm for a cluster-wide macvlan or ipvlan network (default: the driver's)")
    .option("--ipam-driver <driver>", "IPAM driver", "default")
    .option("--ipam-opt <key=value>", "IPAM option (repeatable)", collect)
    .option(...managerOption, collect)
    .action(async (name: string, o: CreateFlags) => {
      const request = {
        name,
        driver: o.driver,
        subnets: o.subnet ?? [],
        gateways: o.gateway ?? [],
        ipRanges: o.ipRange ?? [],
        auxAddresses: o.auxAddress ?? [],
        options: keyValues("--opt", o.opt ?? []),
        labels: keyValues("--label", o.label ?? []),
        attachable: o.attachable === true,
        ingress: o.ingress === true,
        internal: o.internal === true,
        ipamDriver: o.ipamDriver,
        ipamOptions: keyValues("--ipam-opt", o.ipamOpt ?? []),
        scope: o.scope ?? "",
      };
      // Local-scope networks are this node's (checked by its agent); a request the rules
      // refuse anyway (-d bridge --attachable…) is refused by whoever gets it, alike.
      if (
        (o.scope ?? DRIVER_SCOPES[o.driver === "" ? DEFAULT_DRIVER : o.driver]) === "local" &&
        existsSync(agentSocket())
      ) {
        print((await withAgent((a) => a.createNetwork(request))).id);
        return;
      }
      await withManagers(o.manager, async (client) => {
        const n = await client.call<Network__Output>((c, opts, cb) => c.networks.Create(request, opts, cb));
        print(n.id);
      });
    });

  network
    .command("ls")
    .description("list networks: NETWORK ID, NAME, DRIVER, SCOPE")
    .option("-q, --quiet", "print IDs only")
    .option("--no-trunc", "do not truncate IDs")
    .option("-f, --filter <key=value>", `filter (${FILTER_KEYS.join(", ")}; repeatable)`, collect)
    .option("--format <format>", "table or json", "table")
    .option(...managerOption, collect)
    .action(
      async (o: {
        quiet?: boolean;
        trunc: boolean;
        filter?: string[];
        format: string;
        manager?: string[];
      }) => {
        const format = parseFormat(o.format);
        {
          const networks = filterNetworks(await allNetworks(o.manager), o.filter ?? []);
          const id = (n: Network__Output) => (o.trunc ? n.id.slice(0, SHORT_ID) : n.id);
          if (o.quiet) return print(networks.map(id).join("\n"));
          if (format === "json") {
            return printJson(
              networks.map((n) => ({
                ID: id(n),
                Name: n.name,
                Driver: n.driver,
                Scope: n.scope,
                Internal: n.internal,
                Attachable: n.attachable,
                Ingress: n.ingress,
                Labels: n.labels,
                CreatedAt: n.createdAt,
                ...(n.node === "" ? {} : { Node: n.node }),
              })),
            );
          }
          print(
            renderTable(
              ["NETWORK ID", "NAME", "DRIVER", "SCOPE"],
              networks.map((n) => [id(n), n.name, n.driver, n.scope]),
            ),
          );
        }
      },
    );

  network
    .command("inspect")
    .description("show networks in detail (a JSON array, as Docker's)")
    .argument("<network...>", "name, id or id prefix")
    .option(...managerOption, collect)
    .action(async (refs: string[], o: { manager?: string[] }) => {
      const all = await allNetworks(o.manager);
      const self = localCredentials()?.nodeId;
      printJson(
        refs.map((r) => {
          const n = resolveNetwork(all, r);
          // The node's own networks list this node's containers whatever its cluster id.
          return inspectView(n, n.node !== "" ? undefined : self);
        }),
      );
    });

  network
    .command("rm")
    .alias("remove")
    .description("remove networks (refused while a service or container uses one)")
    .argument("<network...>", "name, id or id prefix")
    .option(...managerOption, collect)
    .action(async (refs: string[], o: { manager?: string[] }) => {
      const local = new Set(((await nodeNetworks())?.networks ?? []).flatMap((n) => [n.name, n.id]));
      // Like Docker: remove what can be removed, then fail naming what could not.
      const failures: unknown[] = [];
      const remove = async (r: string, fn: () => Promise<unknown>) => {
        try {
          refusePredefined(r);
          await fn();
          print(r);
        } catch (err) {
          failures.push(err);
        }
      };
      const clusterRefs = refs.filter((r) => !local.has(r) || PREDEFINED_NETWORK_NAMES.includes(r));
      for (const r of refs.filter((x) => !clusterRefs.includes(x)))
        await remove(r, () => withAgent((a) => a.removeNetwork(r)));
      if (clusterRefs.length > 0)
        await withManagers(o.manager, async (client) => {
          for (const r of clusterRefs)
            await remove(r, () =>
              client.call<RemoveNetworkResponse__Output>((c, opts, cb) =>
                c.networks.Remove({ network: r }, opts, cb),
              ),
            );
        });
      if (failures.length === 1) throw failures[0];
      if (failures.length > 1)
        throw new SwarmnetError(ErrorCode.InUse, failures.map(errorMessage).join("; "));
    });

  network
    .command("prune")
    .description("remove every network nothing uses (never the ingress network)")
    .option("-f, --force", "do not ask for confirmation")
    .option(...managerOption, collect)
    .action(async (o: { force?: boolean; manager?: string[] }) => {
      if (!o.force) {
        const ok = await confirm(
          "WARNING! This will remove all custom networks not used by at least one container or service.\nAre you sure you want to continue? [y/N] ",
        );
        if (!ok) return;
      }
      const node = await nodeNetworks();
      const removed = node === undefined ? [] : (await withAgent((a) => a.pruneNetworks())).removed;
      if (node === undefined || node.joined || o.manager !== undefined)
        await withManagers(o.manager, async (client) => {
          const res = await client.call<PruneNetworksResponse__Output>((c, opts, cb) =>
            c.networks.Prune({}, opts, cb),
          );
          removed.push(...res.removed);
        });
      if (removed.length > 0) print(["Deleted Networks:", ...removed].join("\n"));
    });
}
