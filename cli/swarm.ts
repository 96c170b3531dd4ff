/**
 * `swarmnet swarm init|join|join-token|leave|inspect|update|rotate-keys|unlock|unlock-key|ca`,
 * as `docker swarm …` has them. `init` and `join` run on the node that becomes part of
 * the cluster: the node makes its own key and CSR, gets its certificate (init: from the
 * manager of this node over its local socket; join: from the manager named, after
 * pinning its CA by the token's digest — join-flow.ts), then writes certificate and
 * membership into its state dir, where the agent picks them up and opens its dispatcher
 * stream. `leave` does the reverse. `unlock` talks to this node's manager over its local
 * socket. `inspect` shows the encryption keys by tag and role only (the managers never
 * send key bytes to the CLI), and the join tokens only with `--show-tokens`.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { parseDurationMs } from "../common/config.js";
import { ErrorCode, SwarmnetError, errorMessage, isSwarmnetError } from "../common/errors.js";
import { removeCredentials, writeCredentials } from "../agent/dispatcher/credentials.js";
import { readNodeTls, removeNodeTls, writeNodeTls, type NodeTlsFiles } from "../common/pki/node-files.js";
import type { CaStatus__Output } from "../proto/generated/swarmnet/v1/CaStatus.js";
import type { ClusterInfo__Output } from "../proto/generated/swarmnet/v1/ClusterInfo.js";
import type { JoinResponse__Output } from "../proto/generated/swarmnet/v1/JoinResponse.js";
import { joinFlow } from "./join-flow.js";
import { collect, ManagerClient, withDefaultPort, withLocalManager, withManagers } from "./manager-client.js";
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

/** A duration flag: "12h", "30m", "2s" or milliseconds; 0 = the default/unchanged. */
function parseDurationFlag(flag: string, raw: string | undefined, example: string): number {
  if (raw === undefined) return 0;
  try {
    const ms = parseDurationMs(raw);
    if (ms >= 1000) return Math.round(ms);
  } catch {
    // reported below
  }
  throw new SwarmnetError(
    ErrorCode.InvalidArgument,
    `--${flag} must be a duration of at least 1s like ${example}, got ${JSON.stringify(raw)}`,
  );
}

const parseInterval = (raw: string | undefined) => parseDurationFlag("key-rotation-interval", raw, "12h");
const parseCertExpiry = (raw: string | undefined) => parseDurationFlag("cert-expiry", raw, "2160h");

function parseAutolock(raw: string | boolean | undefined): string {
  if (raw === undefined) return "";
  if (raw === true || raw === "true") return "true";
  if (raw === "false") return "false";
  throw new SwarmnetError(
    ErrorCode.InvalidArgument,
    `--autolock must be true or false, got ${JSON.stringify(raw)}`,
  );
}

function unlockKeyText(key: string): string {
  return [
    "To unlock a swarm manager after it restarts, run the `swarmnet swarm unlock`",
    "command and provide the following key:",
    "",
    `    ${key}`,
    "",
    "Please remember to store this key in a password manager, since without it you",
    "will not be able to restart the manager.",
  ].join("\n");
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
  const expiry = Number(info.certExpiryMs);
  return {
    ID: info.id,
    CreatedAt: info.createdAt,
    Spec: {
      EncryptionConfig: {
        KeyRotationInterval: formatDuration(interval),
        KeyRotationIntervalMs: interval,
        AutoLockManagers: info.autolock,
      },
      CAConfig: { NodeCertExpiry: expiry === 0 ? "2160h" : formatDuration(expiry) },
      Orchestration: { TaskHistoryRetentionLimit: info.taskHistoryLimit },
    },
    TLSInfo: { TrustRootDigest: info.caDigest },
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

/** How long `swarm init` waits for its manager to serve once the certificate is written. */
const INIT_SERVING_WAIT_MS = 15_000;

/**
 * After `init` wrote the node's certificate: the manager serves its TLS address only once
 * it has read that certificate (it watches the state dir), and every later command goes
 * to that address — `swarm join-token` or a join right after init found the port closed.
 * So init returns once a call there succeeds, as the next command will make it. Bounded:
 * a manager slower than that still comes up, and init says so instead of failing (the
 * cluster exists).
 */
async function untilServing(stateDir: string): Promise<void> {
  const deadline = Date.now() + INIT_SERVING_WAIT_MS;
  for (;;) {
    try {
      await withManagers(
        undefined,
        (client) => client.call<ClusterInfo__Output>((c, opts, cb) => c.cluster.Inspect({}, opts, cb)),
        stateDir,
      );
      return;
    } catch (err) {
      if (!isSwarmnetError(err, ErrorCode.Unavailable)) throw err;
      if (Date.now() > deadline) {
        process.stderr.write(`swarmnet: warning: the manager does not serve yet: ${errorMessage(err)}\n`);
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The node's certificate, then its membership (the agent waits for both). */
function saveNode(
  stateDir: string,
  res: JoinResponse__Output,
  files: NodeTlsFiles,
  managers: string[],
): void {
  writeNodeTls(stateDir, files);
  writeCredentials(stateDir, {
    clusterId: res.clusterId,
    nodeId: res.nodeId,
    role: res.role === "manager" ? "manager" : "worker",
    managers,
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

/** How long `swarm ca --rotate` waits for every node (Docker waits until done; -d to detach). */
const CA_ROTATION_WAIT_MS = 300_000;

export interface LeaveSteps {
  force: boolean;
  /** The node has credentials or certificate files. */
  joined: boolean;
  /** Cluster.Leave on the managers, as this node. */
  tell: () => Promise<unknown>;
  /** Removes the node's membership and certificate files. */
  forget: () => void;
}

/**
 * `swarm leave [--force]`: the managers are told first, then the node forgets its
 * membership. A node the managers no longer count as a member (removed by another
 * manager: its certificate is refused) is out already, so it forgets its state with or
 * without --force; with --force the node leaves whatever the managers answer (none
 * reachable, say), as `docker swarm leave --force` always takes a node out of its swarm.
 * So a node is never stuck between "cannot leave" and "cannot join". `untold` says why
 * the managers were not told.
 */
export async function leaveSwarm(steps: LeaveSteps): Promise<{ untold?: string }> {
  if (!steps.joined) throw new SwarmnetError(ErrorCode.NotFound, "this node is not part of a swarm");
  let untold: string | undefined;
  try {
    await steps.tell();
  } catch (err) {
    if (!steps.force && !isSwarmnetError(err, ErrorCode.Unauthenticated)) throw err;
    untold = errorMessage(err);
  }
  steps.forget();
  return untold === undefined ? {} : { untold };
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
    .option("--autolock", "lock managers when they restart: they need the unlock key ('swarm unlock')")
    .option("--cert-expiry <duration>", "validity of node certificates, e.g. 2160h (default, 90 days)")
    .option("--state-dir <dir>", "this node's agent state dir (default from $SWARMNET_CONFIG)")
    .option("--format <format>", "table or json", "table")
    .action(
      async (o: {
        advertiseAddr?: string;
        defaultAddrPool?: string[];
        defaultAddrPoolMaskLength?: string;
        dataPathPort?: string;
        keyRotationInterval?: string;
        autolock?: boolean;
        certExpiry?: string;
        stateDir?: string;
        format: string;
      }) => {
        const format = parseFormat(o.format);
        const me = nodeIdentity(o);
        refuseIfJoined(me.stateDir);
        const maskLength = parseIntFlag("default-addr-pool-mask-length", o.defaultAddrPoolMaskLength, 1, 30);
        const dataPathPort = parseIntFlag("data-path-port", o.dataPathPort, 1024, 49151);
        const keyRotationIntervalMs = parseInterval(o.keyRotationInterval);
        const certExpiryMs = parseCertExpiry(o.certExpiry);
        // Loaded on use: the issuing library costs every CLI command start-up time.
        const { createCsr, generateKeyPair } = await import("../common/pki/x509.js");
        const key = await generateKeyPair();
        const csr = await createCsr(key);
        await withLocalManager(me.stateDir, async (client) => {
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
                csr,
                autolock: o.autolock === true,
                certExpiryMs: String(certExpiryMs),
              },
              opts,
              cb,
            ),
          );
          saveNode(
            me.stateDir,
            res,
            { keyPem: key.privateKeyPem, chainPem: res.certificate, trustPem: res.trustBundle },
            res.managers,
          );
          await untilServing(me.stateDir);
          const worker = await token(client, "worker");
          const manager = await token(client, "manager");
          const at = res.managers[0] ?? `${me.advertiseAddr}:2377`;
          if (format === "json") {
            return printJson({
              ClusterID: res.clusterId,
              NodeID: res.nodeId,
              WorkerToken: worker,
              ManagerToken: manager,
              Managers: res.managers,
              ...(res.unlockKey === "" ? {} : { UnlockKey: res.unlockKey }),
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
              ...(res.unlockKey === "" ? [] : ["", unlockKeyText(res.unlockKey)]),
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
    .argument("<manager>", "a manager's address, host[:port] (port 2377 when not given)")
    .action(async (manager: string, o: { token: string; advertiseAddr?: string; stateDir?: string }) => {
      // Bad input first, whatever the node's state.
      const address = withDefaultPort(manager);
      const me = nodeIdentity(o);
      refuseIfJoined(me.stateDir);
      const { response, files } = await joinFlow({
        token: o.token,
        address,
        hostname: me.hostname,
        advertiseAddr: me.advertiseAddr,
        underlayAddrs: me.underlayAddrs,
      });
      saveNode(me.stateDir, response, files, response.managers.length > 0 ? response.managers : [address]);
      print(`This node joined a swarm as a ${response.role}.`);
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
      const managers =
        o.manager ?? (creds !== undefined && creds.managers.length > 0 ? creds.managers : undefined);
      const outcome = await leaveSwarm({
        force: o.force === true,
        joined: creds !== undefined || readNodeTls(me.stateDir) !== undefined,
        tell: () =>
          withManagers(
            managers,
            (client) => client.call((c, opts, cb) => c.cluster.Leave({ force: o.force === true }, opts, cb)),
            me.stateDir,
          ),
        forget: () => {
          removeCredentials(me.stateDir);
          removeNodeTls(me.stateDir);
        },
      });
      if (outcome.untold !== undefined)
        process.stderr.write(`Warning: the managers were not told (${outcome.untold}); left anyway.\n`);
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
    .option("--cert-expiry <duration>", "validity of node certificates, e.g. 2160h")
    .option("--autolock [bool]", "true or false: lock managers when they restart")
    .option(
      "--task-history-limit <n>",
      "tasks kept per slot for 'service ps', the running one included (default 5)",
    )
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .action(
      async (o: {
        keyRotationInterval?: string;
        certExpiry?: string;
        autolock?: string | boolean;
        taskHistoryLimit?: string;
        manager?: string[];
      }) => {
        const keyRotationIntervalMs = parseInterval(o.keyRotationInterval);
        const certExpiryMs = parseCertExpiry(o.certExpiry);
        const autolock = parseAutolock(o.autolock);
        const taskHistoryLimit = parseIntFlag("task-history-limit", o.taskHistoryLimit, 1, 1000);
        if (keyRotationIntervalMs === 0 && certExpiryMs === 0 && autolock === "" && taskHistoryLimit === 0) {
          throw new SwarmnetError(
            ErrorCode.InvalidArgument,
            "nothing to update: give --key-rotation-interval, --cert-expiry, --autolock or --task-history-limit",
          );
        }
        await withManagers(o.manager, async (client) => {
          const info = await client.call<ClusterInfo__Output>((c, opts, cb) =>
            c.cluster.Update(
              {
                keyRotationIntervalMs: String(keyRotationIntervalMs),
                certExpiryMs: String(certExpiryMs),
                autolock,
                taskHistoryLimit,
              },
              opts,
              cb,
            ),
          );
          print(
            `Swarm updated: keys rotate every ${formatDuration(Number(info.keyRotationIntervalMs))}, next at ${info.nextKeyRotationAt}; ${info.taskHistoryLimit} tasks kept per slot.`,
          );
          if (autolock === "true") {
            const r = await client.call<{ unlockKey: string }>((c, opts, cb) =>
              c.cluster.UnlockKey({}, opts, cb),
            );
            print(unlockKeyText(r.unlockKey));
          }
        });
      },
    );

  swarm
    .command("unlock")
    .description("unlock this node's manager after a restart (autolock): reads the unlock key on stdin")
    .option("--state-dir <dir>", "this node's state dir (default from $SWARMNET_CONFIG)")
    .action(async (o: { stateDir?: string }) => {
      const me = nodeIdentity(o);
      if (process.stdin.isTTY) process.stderr.write("Please enter unlock key: ");
      const key = (readFileSync(0, "utf8").split("\n")[0] ?? "").trim();
      await withLocalManager(me.stateDir, (client) =>
        client.call((c, opts, cb) => c.cluster.Unlock({ unlockKey: key }, opts, cb)),
      );
    });

  swarm
    .command("unlock-key")
    .description("show (or rotate) the key that unlocks a restarted manager")
    .option("-q, --quiet", "print the key only")
    .option("--rotate", "make a new unlock key; the old one stops working")
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .action(async (o: { quiet?: boolean; rotate?: boolean; manager?: string[] }) => {
      await withManagers(o.manager, async (client) => {
        const r = await client.call<{ unlockKey: string }>((c, opts, cb) =>
          c.cluster.UnlockKey({ rotate: o.rotate === true }, opts, cb),
        );
        if (r.unlockKey === "") {
          throw new SwarmnetError(ErrorCode.Conflict, "no unlock key is set: autolock is off");
        }
        if (o.quiet) return print(r.unlockKey);
        if (o.rotate) print("Successfully rotated manager unlock key.\n");
        print(unlockKeyText(r.unlockKey));
      });
    });

  swarm
    .command("ca")
    .description("show the root CA certificate; --rotate replaces it (cross-signed, nobody drops)")
    .option("--rotate", "make a new root CA; nodes move to it without dropping a connection")
    .option("-d, --detach", "with --rotate: return at once instead of waiting for every node")
    .option("-q, --quiet", "with --rotate: no progress lines")
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .action(async (o: { rotate?: boolean; detach?: boolean; quiet?: boolean; manager?: string[] }) => {
      await withManagers(o.manager, async (client) => {
        const status = (fn: "Status" | "Rotate") =>
          client.call<CaStatus__Output>((c, opts, cb) => c.ca[fn]({}, opts, cb));
        let s = await status(o.rotate ? "Rotate" : "Status");
        if (o.rotate && !o.detach) {
          const deadline = Date.now() + CA_ROTATION_WAIT_MS;
          while (s.rotating && Date.now() < deadline) {
            if (!o.quiet)
              print(`rotating: ${s.nodesOnCurrent}/${s.nodes} nodes have a certificate of the new root`);
            await new Promise((r) => setTimeout(r, 1_000));
            s = await status("Status");
          }
          if (s.rotating) {
            throw new SwarmnetError(
              ErrorCode.Timeout,
              `the CA rotation is still in progress (${s.nodesOnCurrent}/${s.nodes} nodes): 'swarmnet swarm ca' shows it; down nodes must come back or be removed`,
            );
          }
          if (!o.quiet)
            print(`rotated: all ${s.nodes} nodes have a certificate of the new root; join tokens changed`);
        }
        print(s.rootCertificate.trimEnd());
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
