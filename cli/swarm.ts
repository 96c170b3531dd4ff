/**
 * `swarmnet swarm init|join|join-token|leave|inspect|update|rotate-keys`, as `docker
 * swarm …` has them. `init` and `join` run on the node that becomes part of the cluster:
 * they call the manager, then write the node's credentials into its agent's state dir,
 * where the agent picks them up and opens its dispatcher stream. `leave` does the
 * reverse. `inspect` shows the encryption keys by tag and role only (the managers never
 * send key bytes to the CLI), and the join tokens only with `--show-tokens`.
 */
import type { Command } from "commander";
import { parseDurationMs } from "../common/config.js";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { removeCredentials, writeCredentials } from "../agent/dispatcher/credentials.js";
import type { ClusterInfo__Output } from "../proto/generated/swarmnet/v1/ClusterInfo.js";
import type { JoinResponse__Output } from "../proto/generated/swarmnet/v1/JoinResponse.js";
import { collect, ManagerClient, withManagers } from "./manager-client.js";
import { localCredentials, nodeIdentity } from "./node-identity.js";
import { parseFormat, print, printJson } from "./output.js";

function parseIntFlag(flag: string, raw: string | undefined, min: number, max: number): number {
  if (raw === undefined) return 0;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `--${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return Number(raw);
}

/** `--key-rotation-interval`: "12h", "30m", "2s" or milliseconds; 0 = the default/unchanged. */
function parseInterval(raw: string | undefined): number {
  if (raw === undefined) return 0;
  try {
    const ms = parseDurationMs(raw);
    if (ms >= 1000) return Math.round(ms);
  } catch {
    // reported below
  }
  throw new SwarmnetError(
    ErrorCode.InvalidArgument,
    `--key-rotation-interval must be a duration of at least 1s like 12h, got ${JSON.stringify(raw)}`,
  );
}

/** 43200000 → "12h", 5400000 → "1h30m", 2000 → "2s", 1500 → "1500ms". */
export function formatDuration(ms: number): string {
  if (ms % 1000 !== 0 || ms === 0) return `${ms}ms`;
  const parts: [number, string][] = [
    [Math.floor(ms / 3_600_000), "h"],
    [Math.floor((ms % 3_600_000) / 60_000), "m"],
    [Math.floor((ms % 60_000) / 1000), "s"],
  ];
  return parts
    .filter(([n]) => n > 0)
    .map(([n, u]) => `${n}${u}`)
    .join("");
}

/** `swarm inspect`'s JSON: Docker's shape where it has one; key tags and roles, no bytes. */
export function inspectView(info: ClusterInfo__Output, tokens?: { worker: string; manager: string }) {
  const ring = (kind: string) =>
    info.keyTags
      .filter((k) => k.kind === kind)
      .map((k) => ({ Tag: Number(k.tag), Role: k.primary ? "primary" : "rx-only" }));
  const interval = Number(info.keyRotationIntervalMs);
  return {
    ID: info.id,
    CreatedAt: info.createdAt,
    Spec: {
      EncryptionConfig: { KeyRotationInterval: formatDuration(interval), KeyRotationIntervalMs: interval },
    },
    DefaultAddrPool: info.defaultAddrPools,
    SubnetSize: info.subnetSize,
    DataPathPort: info.dataPathPort,
    Leader: info.leader,
    Managers: info.managers,
    EncryptionKeys: {
      Data: ring("data"),
      Gossip: ring("gossip"),
      LastRotation: info.lastKeyRotationAt,
      NextRotation: info.nextKeyRotationAt,
    },
    ...(tokens === undefined ? {} : { JoinTokens: { Worker: tokens.worker, Manager: tokens.manager } }),
  };
}

/** "2 3* 4" (the primary starred), as the schedule's describeKeyRing prints a ring. */
function describeTags(info: ClusterInfo__Output, kind: string): string {
  return info.keyTags
    .filter((k) => k.kind === kind)
    .map((k) => `${Number(k.tag)}${k.primary ? "*" : ""}`)
    .join(" ");
}

function saveCredentials(stateDir: string, res: JoinResponse__Output): void {
  writeCredentials(stateDir, {
    clusterId: res.clusterId,
    nodeId: res.nodeId,
    nodeSecret: res.nodeSecret,
    role: res.role === "manager" ? "manager" : "worker",
    managers: res.managers,
    joinedAt: new Date().toISOString(),
  });
}

function refuseIfJoined(stateDir: string): void {
  if (localCredentials(stateDir) !== undefined) {
    throw new SwarmnetError(
      ErrorCode.AlreadyExists,
      "this node is already part of a swarm: run 'swarmnet swarm leave' first",
    );
  }
}

async function token(client: ManagerClient, role: "worker" | "manager", rotate = false): Promise<string> {
  const res = await client.call<{ token: string }>((c, o, cb) =>
    c.cluster.JoinToken({ role, rotate }, o, cb),
  );
  return res.token;
}

export function register(program: Command): void {
  const swarm = program
    .command("swarm")
    .description("manage the cluster: init, join, leave, join tokens, settings, key rotation");

  swarm
    .command("init")
    .description("create a cluster with this node as its first manager")
    .option("--advertise-addr <ip>", "this node's address other nodes reach it on")
    .option(
      "--default-addr-pool <cidr>",
      "pool overlay subnets are taken from (repeatable; default 10.0.0.0/8)",
      collect,
    )
    .option("--default-addr-pool-mask-length <n>", "prefix length of each overlay subnet (default 24)")
    .option("--data-path-port <port>", "UDP port of the VXLAN data path (default 4789)")
    .option("--key-rotation-interval <duration>", "how often encryption keys rotate, e.g. 12h (default)")
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .option("--state-dir <dir>", "this node's agent state dir (default from $SWARMNET_CONFIG)")
    .option("--format <format>", "table or json", "table")
    .action(
      async (o: {
        advertiseAddr?: string;
        defaultAddrPool?: string[];
        defaultAddrPoolMaskLength?: string;
        dataPathPort?: string;
        keyRotationInterval?: string;
        manager?: string[];
        stateDir?: string;
        format: string;
      }) => {
        const format = parseFormat(o.format);
        const me = nodeIdentity(o);
        refuseIfJoined(me.stateDir);
        const maskLength = parseIntFlag("default-addr-pool-mask-length", o.defaultAddrPoolMaskLength, 1, 30);
        const dataPathPort = parseIntFlag("data-path-port", o.dataPathPort, 1024, 49151);
        const keyRotationIntervalMs = parseInterval(o.keyRotationInterval);
        await withManagers(o.manager, async (client) => {
          const res = await client.call<JoinResponse__Output>((c, opts, cb) =>
            c.cluster.Init(
              {
                hostname: me.hostname,
                advertiseAddr: me.advertiseAddr,
                underlayAddrs: me.underlayAddrs,
                defaultAddrPools: o.defaultAddrPool ?? [],
                defaultAddrPoolMaskLength: maskLength,
                dataPathPort,
                keyRotationIntervalMs: String(keyRotationIntervalMs),
              },
              opts,
              cb,
            ),
          );
          saveCredentials(me.stateDir, res);
          const worker = await token(client, "worker");
          const manager = await token(client, "manager");
          const at = res.managers[0] ?? client.addresses[0] ?? "";
          if (format === "json") {
            return printJson({
              ClusterID: res.clusterId,
              NodeID: res.nodeId,
              WorkerToken: worker,
              ManagerToken: manager,
              Managers: res.managers,
            });
          }
          print(
            [
              `Swarm initialized: current node (${res.nodeId}) is now a manager.`,
              "",
              "To add a worker to this swarm, run the following command:",
              "",
              `    swarmnet swarm join --token ${worker} ${at}`,
              "",
              "To add a manager to this swarm, run the following command:",
              "",
              `    swarmnet swarm join --token ${manager} ${at}`,
            ].join("\n"),
          );
        });
      },
    );

  swarm
    .command("join")
    .description("join this node to a cluster with a join token")
    .requiredOption("--token <token>", "the join token (its role: worker or manager)")
    .option("--advertise-addr <ip>", "this node's address other nodes reach it on")
    .option("--state-dir <dir>", "this node's agent state dir (default from $SWARMNET_CONFIG)")
    .argument("<manager>", "a manager's address, host:port")
    .action(async (manager: string, o: { token: string; advertiseAddr?: string; stateDir?: string }) => {
      const me = nodeIdentity(o);
      refuseIfJoined(me.stateDir);
      await withManagers([manager], async (client) => {
        const res = await client.call<JoinResponse__Output>((c, opts, cb) =>
          c.cluster.Join(
            {
              token: o.token,
              hostname: me.hostname,
              advertiseAddr: me.advertiseAddr,
              underlayAddrs: me.underlayAddrs,
            },
            opts,
            cb,
          ),
        );
        saveCredentials(me.stateDir, {
          ...res,
          managers: res.managers.length > 0 ? res.managers : [manager],
        });
        print(`This node joined a swarm as a ${res.role}.`);
      });
    });

  swarm
    .command("join-token")
    .description("show (or rotate) the token that joins a worker or a manager")
    .argument("<role>", "worker or manager")
    .option("-q, --quiet", "print the token only")
    .option("--rotate", "replace the token; the old one stops working")
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .action(async (role: string, o: { quiet?: boolean; rotate?: boolean; manager?: string[] }) => {
      if (role !== "worker" && role !== "manager") {
        throw new SwarmnetError(
          ErrorCode.InvalidArgument,
          `role must be worker or manager, got ${JSON.stringify(role)}`,
        );
      }
      await withManagers(o.manager, async (client) => {
        const t = await token(client, role, o.rotate === true);
        if (o.quiet) return print(t);
        if (o.rotate) print(`Successfully rotated ${role} join token.\n`);
        print(
          `To add a ${role} to this swarm, run the following command:\n\n    swarmnet swarm join --token ${t} ${client.addresses[0] ?? ""}`,
        );
      });
    });

  swarm
    .command("leave")
    .description("take this node out of the cluster (a manager node needs --force)")
    .option("-f, --force", "leave even if this node is a manager")
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .option("--state-dir <dir>", "this node's agent state dir (default from $SWARMNET_CONFIG)")
    .action(async (o: { force?: boolean; manager?: string[]; stateDir?: string }) => {
      const me = nodeIdentity(o);
      const creds = localCredentials(me.stateDir);
      if (creds === undefined)
        throw new SwarmnetError(ErrorCode.NotFound, "this node is not part of a swarm");
      const managers = o.manager ?? (creds.managers.length > 0 ? creds.managers : undefined);
      await withManagers(managers, (client) =>
        client.call((c, opts, cb) =>
          c.cluster.Leave(
            { nodeId: creds.nodeId, nodeSecret: creds.nodeSecret, force: o.force === true },
            opts,
            cb,
          ),
        ),
      );
      removeCredentials(me.stateDir);
      print("Node left the swarm.");
    });

  swarm
    .command("inspect")
    .description("show the cluster's settings and encryption key tags (JSON; never key bytes)")
    .option("--show-tokens", "also show the worker and manager join tokens")
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .action(async (o: { showTokens?: boolean; manager?: string[] }) => {
      await withManagers(o.manager, async (client) => {
        const info = await client.call<ClusterInfo__Output>((c, opts, cb) => c.cluster.Inspect({}, opts, cb));
        const tokens = o.showTokens
          ? { worker: await token(client, "worker"), manager: await token(client, "manager") }
          : undefined;
        printJson([inspectView(info, tokens)]);
      });
    });

  swarm
    .command("update")
    .description("change the cluster's settings")
    .option("--key-rotation-interval <duration>", "how often encryption keys rotate, e.g. 12h, 30m, 2s")
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .action(async (o: { keyRotationInterval?: string; manager?: string[] }) => {
      const keyRotationIntervalMs = parseInterval(o.keyRotationInterval);
      if (keyRotationIntervalMs === 0) {
        throw new SwarmnetError(ErrorCode.InvalidArgument, "nothing to update: give --key-rotation-interval");
      }
      await withManagers(o.manager, async (client) => {
        const info = await client.call<ClusterInfo__Output>((c, opts, cb) =>
          c.cluster.Update({ keyRotationIntervalMs: String(keyRotationIntervalMs) }, opts, cb),
        );
        print(
          `Swarm updated: keys rotate every ${formatDuration(Number(info.keyRotationIntervalMs))}, next at ${info.nextKeyRotationAt}.`,
        );
      });
    });

  swarm
    .command("rotate-keys")
    .description("rotate the encryption keys (data plane and gossip) now")
    .option("--format <format>", "table or json", "table")
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .action(async (o: { format: string; manager?: string[] }) => {
      const format = parseFormat(o.format);
      await withManagers(o.manager, async (client) => {
        const info = await client.call<ClusterInfo__Output>((c, opts, cb) =>
          c.cluster.RotateKeys({}, opts, cb),
        );
        if (format === "json") return printJson(inspectView(info).EncryptionKeys);
        print(
          [
            "Encryption keys rotated (tags, primary starred):",
            `  data:   ${describeTags(info, "data")}`,
            `  gossip: ${describeTags(info, "gossip")}`,
            `Next rotation at ${info.nextKeyRotationAt}.`,
          ].join("\n"),
        );
      });
    });
}
