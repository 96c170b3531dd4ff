/**
 * `swarmnet service create|ls|ps|inspect|scale|update|publish|unpublish|rm`, with
 * `docker service …`'s flags and output. Published-port specs are parsed here with the
 * same module the managers use (common/publish-spec.ts), so a bad spec fails before any
 * call; the managers check again. `publish`/`unpublish` change a running service's ports
 * without restarting its tasks (one transaction each); they print the ports they added or
 * removed, as `service ls` shows them. `--update-monitor` goes to the managers as typed
 * (they parse and store it: one check, manager/services/service-spec.ts); the wait for
 * convergence reads it back from the service. Placement constraints (`--constraint`,
 * `--constraint-add/-rm`) go as typed too and are checked by the managers
 * (manager/services/placement-constraints.ts); `inspect` shows them as Docker's
 * Spec.TaskTemplate.Placement.Constraints.
 */
import type { Command } from "commander";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import {
  formatPublishedPort,
  parsePublishSpec,
  publishedPortFromWire,
  type PublishSpec,
} from "../common/publish-spec.js";
import type { ListServicesResponse__Output } from "../proto/generated/swarmnet/v1/ListServicesResponse.js";
import type { ListTasksResponse__Output } from "../proto/generated/swarmnet/v1/ListTasksResponse.js";
import type { PublishedPort, PublishedPort__Output } from "../proto/generated/swarmnet/v1/PublishedPort.js";
import type { RemoveServiceResponse__Output } from "../proto/generated/swarmnet/v1/RemoveServiceResponse.js";
import type { Service__Output } from "../proto/generated/swarmnet/v1/Service.js";
import type { Task__Output } from "../proto/generated/swarmnet/v1/Task.js";
import type { UpdateServiceRequest } from "../proto/generated/swarmnet/v1/UpdateServiceRequest.js";
import { collect, withManagers, type ManagerClient } from "./manager-client.js";
import { waitConverged } from "./service-progress.js";
import { keyValues } from "./network.js";
import { parseFormat, print, printJson, renderTable, type OutputFormat } from "./output.js";

const SHORT_ID = 12;
const managerOption = ["--manager <addr>", "manager to talk to, host:port (repeatable)"] as const;
const formatOption = ["--format <format>", "table or json", "table"] as const;
const detachOption = ["-d, --detach", "exit at once instead of waiting for the service to converge"] as const;
const quietOption = ["-q, --quiet", "suppress progress output"] as const;
const monitorOption = [
  "--update-monitor <duration>",
  "how long tasks must stay running to count as stable (ns|us|ms|s|m|h; default 5s)",
] as const;

interface WaitFlags {
  detach?: boolean;
  quiet?: boolean;
  format: string;
}

/**
 * Unless detached, waits for each service to converge, drawing the progress on stdout as
 * Docker does (on stderr with --format json, so stdout stays one JSON document).
 */
async function converge(client: ManagerClient, refs: readonly string[], o: WaitFlags): Promise<void> {
  if (o.detach === true) return;
  const out = o.format === "json" ? process.stderr : process.stdout;
  for (const ref of refs) {
    await waitConverged(client, ref, {
      tty: out.isTTY,
      write: (text) => {
        if (o.quiet !== true) out.write(text);
      },
    });
  }
}

function invalid(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, message);
}

function toWire(p: PublishSpec): PublishedPort {
  return { ...p, publishedPort: p.publishedPort ?? 0 };
}

function portText(p: PublishedPort__Output): string {
  return formatPublishedPort(publishedPortFromWire(p));
}

function wholeNumber(flag: string, raw: string): number {
  if (!/^\d+$/.test(raw)) throw invalid(`${flag} must be a whole number, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** "5 seconds ago", as Docker's CURRENT STATE column says it. */
export function ago(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return "";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 1) return "less than a second ago";
  if (s < 60) return `${s} second${s === 1 ? "" : "s"} ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? "" : "s"} ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} hour${h === 1 ? "" : "s"} ago`;
  return `${Math.round(h / 24)} days ago`;
}

const capital = (s: string) => (s === "" ? "" : (s[0]?.toUpperCase() ?? "") + s.slice(1));

/** One service as `docker service inspect` prints it. */
export function inspectView(s: Service__Output) {
  const ports = s.ports.map((p) => ({
    Protocol: p.protocol,
    TargetPort: p.targetPort,
    PublishedPort: p.publishedPort,
    PublishMode: p.mode,
  }));
  return {
    ID: s.id,
    Version: { Index: Number(s.version) },
    CreatedAt: s.createdAt,
    UpdatedAt: s.updatedAt,
    Spec: {
      Name: s.name,
      Labels: {},
      TaskTemplate: {
        ContainerSpec: { Command: s.command, Env: Object.entries(s.env).map(([k, v]) => `${k}=${v}`) },
        Networks: s.networks.filter((n) => n !== s.ingressNetworkId).map((n) => ({ Target: n })),
        // Docker leaves Constraints out when there are none (omitempty).
        Placement: s.constraints.length > 0 ? { Constraints: s.constraints } : {},
      },
      Mode: s.mode === "global" ? { Global: {} } : { Replicated: { Replicas: s.replicas } },
      // Docker's unit: a Go duration in nanoseconds (5 s = 5000000000).
      UpdateConfig: { Monitor: Number(s.updateMonitorMs) * 1_000_000 },
      EndpointSpec: { Mode: s.endpointMode, Ports: ports },
    },
    Endpoint: {
      Spec: { Mode: s.endpointMode, Ports: ports },
      Ports: ports,
      VirtualIPs: s.vips.map((v) => ({ NetworkID: v.networkId, Addr: `${v.ip}/${v.prefixLength}` })),
    },
    ServiceStatus: { RunningTasks: s.runningTasks, DesiredTasks: s.desiredTasks },
  };
}

function lsRow(s: Service__Output, trunc: boolean): string[] {
  return [
    trunc ? s.id.slice(0, SHORT_ID) : s.id,
    s.name,
    s.mode,
    `${s.runningTasks}/${s.desiredTasks}`,
    s.ports.map(portText).join(", "),
  ];
}

/** `service ps` rows: slot by slot, the current task first, older ones as ` \_ name`. */
export function psRows(tasks: readonly Task__Output[], trunc: boolean, now = Date.now()): string[][] {
  const seen = new Set<string>();
  return tasks.map((t) => {
    const slotKey = `${t.serviceId}/${t.slot === 0 ? t.nodeId : t.slot}`;
    const history = seen.has(slotKey);
    seen.add(slotKey);
    const failed = t.state === "failed" || t.state === "orphaned" || t.state === "pending";
    return [
      trunc ? t.id.slice(0, SHORT_ID) : t.id,
      history ? ` \\_ ${t.name}` : t.name,
      t.nodeName,
      capital(t.desiredState),
      `${capital(t.state)} ${ago(t.stateAt, now)}`.trim(),
      failed ? t.message : "",
      t.ports
        .filter((p) => p.mode === "host")
        .map(portText)
        .join(", "),
    ];
  });
}

function taskJson(t: Task__Output) {
  return {
    ID: t.id,
    Name: t.name,
    ContainerName: t.containerName,
    ServiceID: t.serviceId,
    Slot: t.slot,
    NodeID: t.nodeId,
    Node: t.nodeName,
    DesiredState: t.desiredState,
    CurrentState: t.state,
    StateAt: t.stateAt,
    Error: t.message,
    ExitCode: t.exitCode,
    Networks: t.networks.map((n) => ({ NetworkID: n.networkId, Addr: n.ip })),
    Ports: t.ports.map((p) => ({
      Protocol: p.protocol,
      TargetPort: p.targetPort,
      PublishedPort: p.publishedPort,
      PublishMode: p.mode,
    })),
  };
}

async function listServices(client: ManagerClient): Promise<Service__Output[]> {
  return (await client.call<ListServicesResponse__Output>((c, o, cb) => c.services.List({}, o, cb))).services;
}

async function update(client: ManagerClient, req: UpdateServiceRequest): Promise<Service__Output> {
  return client.call<Service__Output>((c, o, cb) => c.services.Update(req, o, cb));
}

/** Prints a service after a change: its name (table) or the inspect view (json). */
function printChanged(format: OutputFormat, s: Service__Output, lines: string[]): void {
  if (format === "json") printJson(inspectView(s));
  else print(lines.join("\n"));
}

interface CreateFlags extends WaitFlags {
  name?: string;
  replicas?: string;
  mode: string;
  network?: string[];
  publish?: string[];
  endpointMode: string;
  env?: string[];
  updateMonitor?: string;
  constraint?: string[];
  manager?: string[];
}

interface UpdateFlags extends WaitFlags {
  replicas?: string;
  networkAdd?: string[];
  networkRm?: string[];
  publishAdd?: string[];
  publishRm?: string[];
  updateMonitor?: string;
  constraintAdd?: string[];
  constraintRm?: string[];
  manager?: string[];
}

export function register(program: Command): void {
  const service = program.command("service").description("manage services (Docker's service commands)");

  service
    .command("create")
    .description("create a service: swarmnet service create --name N [options] -- CMD [ARG…]")
    .option("--name <name>", "service name")
    .option("--replicas <n>", "number of tasks (replicated mode; default 1)")
    .option("--mode <mode>", "replicated or global", "replicated")
    .option("--network <network>", "network to attach (repeatable)", collect)
    .option(
      "-p, --publish <spec>",
      "publish a port: [published:]target[/tcp|udp] or published=P,target=T,protocol=tcp|udp,mode=ingress|host (repeatable)",
      collect,
    )
    .option("--endpoint-mode <mode>", "vip or dnsrr", "vip")
    .option("-e, --env <key=value>", "environment variable (repeatable)", collect)
    .option(
      "--constraint <expr>",
      "placement constraint, e.g. node.labels.vm==yes or node.role!=manager (repeatable; all must hold)",
      collect,
    )
    .option(...monitorOption)
    .option(...detachOption)
    .option(...quietOption)
    .option(...formatOption)
    .option(...managerOption, collect)
    .argument("[command...]", "the program each task runs (after --)")
    .action(async (command: string[], o: CreateFlags) => {
      const format = parseFormat(o.format);
      const ports = (o.publish ?? []).map(parsePublishSpec).map(toWire);
      const replicas = o.replicas === undefined ? undefined : wholeNumber("--replicas", o.replicas);
      await withManagers(o.manager, async (client) => {
        const s = await client.call<Service__Output>((c, opts, cb) =>
          c.services.Create(
            {
              name: o.name ?? "",
              mode: o.mode,
              replicasSet: replicas !== undefined,
              replicas: replicas ?? 0,
              networks: o.network ?? [],
              ports,
              endpointMode: o.endpointMode,
              command,
              env: keyValues("--env", o.env ?? []),
              updateMonitor: o.updateMonitor ?? "",
              constraints: o.constraint ?? [],
            },
            opts,
            cb,
          ),
        );
        printChanged(format, s, [s.id]);
        await converge(client, [s.id], o);
      });
    });

  service
    .command("ls")
    .description("list services: ID, NAME, MODE, REPLICAS, PORTS")
    .option("-q, --quiet", "print IDs only")
    .option("--no-trunc", "do not truncate IDs")
    .option(...formatOption)
    .option(...managerOption, collect)
    .action(async (o: { quiet?: boolean; trunc: boolean; format: string; manager?: string[] }) => {
      const format = parseFormat(o.format);
      await withManagers(o.manager, async (client) => {
        const services = await listServices(client);
        if (o.quiet) return print(services.map((s) => (o.trunc ? s.id.slice(0, SHORT_ID) : s.id)).join("\n"));
        if (format === "json") {
          return printJson(
            services.map((s) => ({
              ID: s.id,
              Name: s.name,
              Mode: s.mode,
              Replicas: `${s.runningTasks}/${s.desiredTasks}`,
              Ports: s.ports.map(portText),
            })),
          );
        }
        print(
          renderTable(
            ["ID", "NAME", "MODE", "REPLICAS", "PORTS"],
            services.map((s) => lsRow(s, o.trunc)),
          ),
        );
      });
    });

  service
    .command("ps")
    .description("list the tasks of services (history below each slot's current task)")
    .argument("<service...>", "name, id or id prefix")
    .option("--no-trunc", "do not truncate IDs")
    .option(...formatOption)
    .option(...managerOption, collect)
    .action(async (refs: string[], o: { trunc: boolean; format: string; manager?: string[] }) => {
      const format = parseFormat(o.format);
      await withManagers(o.manager, async (client) => {
        const tasks: Task__Output[] = [];
        for (const ref of refs) {
          const res = await client.call<ListTasksResponse__Output>((c, opts, cb) =>
            c.services.ListTasks({ service: ref }, opts, cb),
          );
          tasks.push(...res.tasks);
        }
        if (format === "json") return printJson(tasks.map(taskJson));
        print(
          renderTable(
            ["ID", "NAME", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"],
            psRows(tasks, o.trunc),
          ),
        );
      });
    });

  service
    .command("inspect")
    .description("show services in detail (a JSON array, as Docker's)")
    .argument("<service...>", "name, id or id prefix")
    .option(...managerOption, collect)
    .action(async (refs: string[], o: { manager?: string[] }) => {
      await withManagers(o.manager, async (client) => {
        const out = [];
        for (const ref of refs) {
          out.push(
            inspectView(
              await client.call<Service__Output>((c, opts, cb) =>
                c.services.Inspect({ service: ref }, opts, cb),
              ),
            ),
          );
        }
        printJson(out);
      });
    });

  service
    .command("scale")
    .description("set the number of tasks of replicated services: SERVICE=REPLICAS…")
    .argument("<service=replicas...>", "e.g. web=5")
    .option(...detachOption)
    .option(...quietOption)
    .option(...formatOption)
    .option(...managerOption, collect)
    .action(async (pairs: string[], o: WaitFlags & { manager?: string[] }) => {
      const format = parseFormat(o.format);
      const wanted = pairs.map((p) => {
        const eq = p.indexOf("=");
        if (eq <= 0) throw invalid(`invalid scale argument ${JSON.stringify(p)}: use SERVICE=REPLICAS`);
        return { ref: p.slice(0, eq), replicas: wholeNumber("replicas", p.slice(eq + 1)) };
      });
      await withManagers(o.manager, async (client) => {
        const done: Service__Output[] = [];
        for (const w of wanted) {
          done.push(await update(client, { service: w.ref, replicasSet: true, replicas: w.replicas }));
        }
        if (format === "json") printJson(done.map(inspectView));
        else print(wanted.map((w) => `${w.ref} scaled to ${w.replicas}`).join("\n"));
        await converge(
          client,
          done.map((d) => d.id),
          o,
        );
      });
    });

  service
    .command("update")
    .description("change a service; ports and networks change on its running tasks in place")
    .argument("<service>", "name, id or id prefix")
    .option("--replicas <n>", "number of tasks (replicated mode)")
    .option("--network-add <network>", "attach a network (repeatable)", collect)
    .option("--network-rm <network>", "detach a network (repeatable)", collect)
    .option("--publish-add <spec>", "publish a port (repeatable; see service create)", collect)
    .option(
      "--publish-rm <spec>",
      "remove a published port: [published:]target[/proto] (repeatable)",
      collect,
    )
    .option("--constraint-add <expr>", "add a placement constraint (repeatable; see service create)", collect)
    .option("--constraint-rm <expr>", "remove a placement constraint the service has (repeatable)", collect)
    .option(...monitorOption)
    .option(...detachOption)
    .option(...quietOption)
    .option(...formatOption)
    .option(...managerOption, collect)
    .action(async (ref: string, o: UpdateFlags) => {
      const format = parseFormat(o.format);
      const replicas = o.replicas === undefined ? undefined : wholeNumber("--replicas", o.replicas);
      const req: UpdateServiceRequest = {
        service: ref,
        replicasSet: replicas !== undefined,
        replicas: replicas ?? 0,
        networkAdd: o.networkAdd ?? [],
        networkRm: o.networkRm ?? [],
        publishAdd: (o.publishAdd ?? []).map(parsePublishSpec).map(toWire),
        publishRm: (o.publishRm ?? []).map(parsePublishSpec).map(toWire),
        updateMonitor: o.updateMonitor ?? "",
        constraintAdd: o.constraintAdd ?? [],
        constraintRm: o.constraintRm ?? [],
      };
      await withManagers(o.manager, async (client) => {
        const s = await update(client, req);
        printChanged(format, s, [ref]);
        await converge(client, [s.id], o);
      });
    });

  for (const [name, add] of [
    ["publish", true],
    ["unpublish", false],
  ] as const) {
    service
      .command(name)
      .description(
        add
          ? "publish ports on a running service without restarting its tasks"
          : "stop publishing ports of a running service without restarting its tasks",
      )
      .argument("<service>", "name, id or id prefix")
      .argument("<spec...>", "[published:]target[/tcp|udp] or published=P,target=T,protocol=…,mode=…")
      .option(...detachOption)
      .option(...quietOption)
      .option(...formatOption)
      .option(...managerOption, collect)
      .action(async (ref: string, specs: string[], o: WaitFlags & { manager?: string[] }) => {
        const format = parseFormat(o.format);
        const ports = specs.map(parsePublishSpec).map(toWire);
        await withManagers(o.manager, async (client) => {
          const before =
            (await listServices(client)).find((s) => s.id === ref || s.name === ref)?.ports ?? [];
          const s = await update(client, {
            service: ref,
            ...(add ? { publishAdd: ports } : { publishRm: ports }),
          });
          const key = (p: PublishedPort__Output) => portText(p);
          const changed = add
            ? s.ports.filter((p) => !before.some((b) => key(b) === key(p)))
            : before.filter((b) => !s.ports.some((p) => key(p) === key(b)));
          printChanged(format, s, changed.map(portText));
          await converge(client, [s.id], o);
        });
      });
  }

  service
    .command("rm")
    .alias("remove")
    .description("remove services (their tasks are shut down)")
    .argument("<service...>", "name, id or id prefix")
    .option(...formatOption)
    .option(...managerOption, collect)
    .action(async (refs: string[], o: { format: string; manager?: string[] }) => {
      const format = parseFormat(o.format);
      await withManagers(o.manager, async (client) => {
        const removed: RemoveServiceResponse__Output[] = [];
        for (const ref of refs) {
          removed.push(
            await client.call<RemoveServiceResponse__Output>((c, opts, cb) =>
              c.services.Remove({ service: ref }, opts, cb),
            ),
          );
          if (format === "table") print(ref);
        }
        if (format === "json") printJson(removed.map((r) => ({ ID: r.id, Name: r.name })));
      });
    });
}
