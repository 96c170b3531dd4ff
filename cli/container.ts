/**
 * Containers on this node: `swarmnet run | exec | ps | stop | rm | inspect`. A container
 * is a network namespace plus a process, made by this node's agent. `run` without `-d`
 * runs the process attached to this terminal (the agent builds the sandbox, this process
 * runs the command in it and reports its exit).
 */
import type { Command } from "commander";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { Executor } from "../common/executor.js";
import type { ContainerInfo__Output } from "../proto/generated/swarmnet/v1/ContainerInfo.js";
import { formatMapping, parsePortSpec } from "../agent/sandbox/port-spec.js";
import { withAgent } from "./agent-context.js";
import { parseFormat, print, printJson, renderTable } from "./output.js";

const collect = (v: string, prev: string[]) => [...prev, v];
/** The container's namespace; undefined for a host-network container (it runs in the node's). */
const sandboxOf = (c: ContainerInfo__Output): string | undefined => (c.netns === "" ? undefined : c.netns);
/** The container's own resolv.conf (embedded DNS), bound over /etc/resolv.conf for its commands. */
const resolvConfOf = (c: ContainerInfo__Output): string | undefined =>
  c.resolvConf === "" ? undefined : c.resolvConf;
const stripDashes = (argv: string[]) => (argv[0] === "--" ? argv.slice(1) : argv);

function networksOf(c: ContainerInfo__Output): string {
  return c.endpoints.map((e) => (e.ip === "" ? e.networkName : `${e.networkName}:${e.ip}`)).join(",");
}

/** Docker-shaped inspect output. */
function inspectView(c: ContainerInfo__Output): object {
  return {
    Id: c.id,
    Name: c.name,
    Created: c.createdAt,
    Node: c.nodeName,
    Path: c.command[0] ?? "",
    Args: c.command.slice(1),
    State: { Status: c.status, Pid: c.pid, ExitCode: c.exitCode },
    NetworkSettings: {
      // A host-network container has no namespace of its own.
      SandboxKey: c.netns === "" ? "" : `/run/netns/${c.netns}`,
      Networks: Object.fromEntries(
        c.endpoints.map((e) => [
          e.networkName,
          {
            NetworkID: e.networkId,
            IPAddress: e.ip,
            IPPrefixLen: e.prefixLength,
            MacAddress: e.mac,
            Gateway: e.gateway,
            Aliases: e.aliases,
            DNSNames: e.dnsNames.length > 0 ? e.dnsNames : null,
            Interface: e.ifname,
          },
        ]),
      ),
    },
  };
}

/** `network connect|disconnect` act on this node's containers, so they live with them. */
function registerNetworkAttach(program: Command): void {
  const network = program.commands.find((c) => c.name() === "network") ?? program.command("network");
  network
    .command("connect")
    .description("connect a running container on this node to a network, on the fly")
    .option("--alias <alias>", "network-scoped alias (repeatable)", collect, [])
    .option("--ip <ip>", "static IPv4 address")
    .argument("<network>")
    .argument("<container>")
    .action(async (net: string, container: string, o: { alias: string[]; ip?: string }) => {
      await withAgent((a) =>
        a.connect({ container, network: { network: net, ip: o.ip ?? "", aliases: o.alias } }),
      );
    });
  network
    .command("disconnect")
    .description("disconnect a container on this node from a network")
    .option("-f, --force", "succeed even if it is not connected")
    .argument("<network>")
    .argument("<container>")
    .action(async (net: string, container: string, o: { force?: boolean }) => {
      await withAgent((a) => a.disconnect({ container, network: net, force: o.force ?? false }));
    });
}

export function register(program: Command): void {
  registerNetworkAttach(program);
  program
    .command("run")
    .description("run a command in a new container (a network namespace plus a process) on this node")
    .option("--name <name>", "container name")
    .option(
      "--network <net>",
      "network to join (repeatable; overlay networks must be --attachable)",
      collect,
      [],
    )
    .option("--ip <ip>", "static IPv4 address on the first network")
    .option("--network-alias <alias>", "alias on the first network (repeatable)", collect, [])
    .option("-e, --env <k=v>", "environment variable (repeatable)", collect, [])
    .option(
      "-p, --publish <spec>",
      "publish [ip:][hostPort:]containerPort[/proto], ranges allowed (repeatable)",
      collect,
      [],
    )
    .option("--expose <port[/proto]>", "a port the container listens on, for -P (repeatable)", collect, [])
    .option("-P, --publish-all", "publish every --expose'd port on a random host port")
    .option("-d, --detach", "run in the background and print the container id")
    .argument("<command...>", "the command, after --")
    .passThroughOptions()
    .action(
      async (
        command: string[],
        o: {
          name?: string;
          network: string[];
          ip?: string;
          networkAlias: string[];
          env: string[];
          detach?: boolean;
          publish: string[];
          expose: string[];
          publishAll?: boolean;
        },
      ) => {
        const argv = stripDashes(command);
        // Docker's answers to options that need a user-defined network.
        const predefined = o.network.length === 0 || ["host", "none", "bridge"].includes(o.network[0] ?? "");
        if (o.ip !== undefined && predefined) {
          throw new SwarmnetError(
            ErrorCode.InvalidArgument,
            "user specified IP address is supported on user defined networks only",
          );
        }
        if (o.networkAlias.length > 0 && predefined) {
          throw new SwarmnetError(
            ErrorCode.InvalidArgument,
            "network-scoped alias is supported only for containers in user defined networks",
          );
        }
        if (o.network.includes("host") && (o.publish.length > 0 || o.publishAll === true))
          process.stderr.write("WARNING: Published ports are discarded when using host network mode\n");
        const ports = [
          ...o.publish.flatMap(parsePortSpec),
          ...(o.publishAll ? o.expose.flatMap((e) => parsePortSpec(e)) : []),
        ];
        const env = Object.fromEntries(
          o.env.map((kv) => [kv.split("=")[0] ?? kv, kv.split("=").slice(1).join("=")]),
        );
        const c = await withAgent((agent) =>
          agent.run({
            name: o.name ?? "",
            networks: o.network.map((network, i) => ({
              network,
              ip: i === 0 ? (o.ip ?? "") : "",
              aliases: i === 0 ? o.networkAlias : [],
            })),
            command: argv,
            env,
            detach: o.detach ?? false,
            ports,
          }),
        );
        if (o.detach) return print(c.id);
        const code = await new Executor().interactive(
          sandboxOf(c),
          argv,
          { ...env, SWARMNET_TASK_NAME: c.name },
          resolvConfOf(c),
        );
        await withAgent((agent) => agent.exited(c.name, code));
        process.exitCode = code;
      },
    );

  program
    .command("port")
    .description("list a container's published ports: 80/tcp -> 0.0.0.0:32768")
    .argument("<container>")
    .action(async (name: string) => {
      const c = await withAgent((agent) => agent.inspect(name));
      for (const p of c.ports) {
        print(formatMapping({ ...p, protocol: p.protocol === "udp" ? "udp" : "tcp" }));
      }
    });

  program
    .command("exec")
    .description("run a command inside a running container")
    .argument("<container>", "container name or id")
    .argument("<command...>", "the command, after --")
    .passThroughOptions()
    .action(async (name: string, command: string[]) => {
      const c = await withAgent((agent) => agent.inspect(name));
      process.exitCode = await new Executor().interactive(
        sandboxOf(c),
        stripDashes(command),
        { SWARMNET_TASK_NAME: c.name },
        resolvConfOf(c),
      );
    });

  program
    .command("ps")
    .description("list containers on this node")
    .option("-a, --all", "include stopped containers")
    .option("--format <format>", "table or json", "table")
    .action(async (o: { all?: boolean; format: string }) => {
      const format = parseFormat(o.format);
      const { containers } = await withAgent((agent) => agent.list(o.all ?? false));
      if (format === "json") return printJson(containers);
      print(
        renderTable(
          ["CONTAINER ID", "NAME", "COMMAND", "STATUS", "NETWORKS"],
          containers.map((c) => [
            c.id.slice(0, 12),
            c.name,
            JSON.stringify(c.command.join(" ").slice(0, 30)),
            c.status === "exited" ? `exited (${c.exitCode})` : c.status,
            networksOf(c),
          ]),
        ),
      );
    });

  program
    .command("stop")
    .description("stop containers (SIGTERM, then SIGKILL after the timeout)")
    .option("-t, --time <seconds>", "seconds to wait before killing", "10")
    .argument("<containers...>")
    .action(async (names: string[], o: { time: string }) => {
      for (const name of names) print((await withAgent((a) => a.stop(name, Number(o.time)))).name);
    });

  program
    .command("rm")
    .description("remove containers, their namespaces and endpoints")
    .option("-f, --force", "stop running containers first")
    .argument("<containers...>")
    .action(async (names: string[], o: { force?: boolean }) => {
      for (const name of names) {
        await withAgent((a) => a.remove(name, o.force ?? false));
        print(name);
      }
    });

  program
    .command("inspect")
    .description("show containers as JSON: networks, IPs, MACs, gateway")
    .argument("<containers...>")
    .action(async (names: string[]) => {
      const out = [];
      for (const name of names) out.push(inspectView(await withAgent((a) => a.inspect(name))));
      printJson(out);
    });
}
