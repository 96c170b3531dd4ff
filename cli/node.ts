/**
 * `swarmnet node ls|inspect|rm|promote|demote|update`, as `docker node …`: the managers'
 * view of every node — status from its agent's dispatcher stream and heartbeats,
 * availability, role, the leader mark, and (inspect) its labels, platform and the kernel
 * capabilities its agent reported. `update --label-add/--label-rm` change its labels.
 * `rm` revokes the node's certificate; `promote|demote` change the role it is authorized
 * as (its certificate follows at its next heartbeat).
 */
import type { Command } from "commander";
import { resolveNode } from "../manager/cluster/index.js";
import type { NodeInfo__Output } from "../proto/generated/swarmnet/v1/NodeInfo.js";
import type { ListNodesResponse__Output } from "../proto/generated/swarmnet/v1/ListNodesResponse.js";
import { collect, ManagerClient, withManagers } from "./manager-client.js";
import { localCredentials } from "./node-identity.js";
import { parseFormat, print, printJson, renderTable } from "./output.js";

const capital = (s: string) => (s === "" ? "" : s[0]?.toUpperCase() + s.slice(1));

async function listNodes(client: ManagerClient): Promise<NodeInfo__Output[]> {
  const res = await client.call<ListNodesResponse__Output>((c, o, cb) => c.nodes.List({}, o, cb));
  return res.nodes;
}

/** Docker's `node inspect` shape, plus the capabilities the agent reported. */
function inspectView(n: NodeInfo__Output) {
  return {
    ID: n.id,
    CreatedAt: n.createdAt,
    UpdatedAt: n.updatedAt,
    Spec: { Labels: n.labels, Role: n.role, Availability: n.availability },
    Description: {
      Hostname: n.hostname,
      Platform: { Architecture: n.capabilities?.arch ?? "", OS: n.capabilities?.os ?? "" },
      Kernel:
        n.capabilities === null || n.capabilities === undefined
          ? null
          : { Release: n.capabilities.kernelRelease },
      Capabilities:
        n.capabilities?.features.map((f) => ({ Name: f.name, Available: f.available, Detail: f.detail })) ??
        [],
      UnderlayAddrs: n.underlayAddrs,
    },
    Status: { State: n.status, Addr: n.advertiseAddr, Manager: n.sessionManager },
    ...(n.role === "manager"
      ? {
          ManagerStatus: {
            Leader: n.managerStatus === "Leader",
            Reachability: n.managerStatus === "Unreachable" ? "unreachable" : "reachable",
          },
        }
      : {}),
  };
}

export function register(program: Command): void {
  const node = program.command("node").description("list, inspect and remove the cluster's nodes");

  node
    .command("ls")
    .description("list nodes: ID, HOSTNAME, STATUS, AVAILABILITY, MANAGER STATUS")
    .option("-q, --quiet", "print IDs only")
    .option("--format <format>", "table or json", "table")
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .action(async (o: { quiet?: boolean; format: string; manager?: string[] }) => {
      const format = parseFormat(o.format);
      const self = localCredentials()?.nodeId;
      await withManagers(o.manager, async (client) => {
        const nodes = await listNodes(client);
        if (o.quiet) return print(nodes.map((n) => n.id).join("\n"));
        if (format === "json") {
          return printJson(
            nodes.map((n) => ({
              ID: n.id,
              Hostname: n.hostname,
              Status: capital(n.status),
              Availability: capital(n.availability),
              ManagerStatus: n.managerStatus,
              Role: n.role,
              Addr: n.advertiseAddr,
              Self: n.id === self,
            })),
          );
        }
        print(
          renderTable(
            ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS"],
            nodes.map((n) => [
              n.id + (n.id === self ? " *" : ""),
              n.hostname,
              capital(n.status),
              capital(n.availability),
              n.managerStatus,
            ]),
          ),
        );
      });
    });

  node
    .command("inspect")
    .description("show nodes in detail (JSON), including their kernel capabilities")
    .argument("<node...>", "node id, id prefix, hostname, or 'self'")
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .action(async (refs: string[], o: { manager?: string[] }) => {
      await withManagers(o.manager, async (client) => {
        const nodes = await listNodes(client);
        const self = localCredentials()?.nodeId ?? "";
        printJson(refs.map((r) => inspectView(resolveNode(nodes, r === "self" ? self : r))));
      });
    });

  node
    .command("rm")
    .description("remove nodes from the cluster (a ready node or a manager needs --force)")
    .argument("<node...>", "node id, id prefix or hostname")
    .option("-f, --force", "remove even if the node is ready or a manager")
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .action(async (refs: string[], o: { force?: boolean; manager?: string[] }) => {
      await withManagers(o.manager, async (client) => {
        for (const r of refs) {
          await client.call((c, opts, cb) => c.nodes.Remove({ node: r, force: o.force === true }, opts, cb));
          print(r);
        }
      });
    });

  node
    .command("update")
    .description("change a node's labels (placement constraints' node.labels.KEY)")
    .argument("<node>", "node id, id prefix, hostname, or 'self'")
    .option("--label-add <key[=value]>", "add or update a node label (repeatable)", collect)
    .option("--label-rm <key>", "remove a node label (repeatable)", collect)
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .action(async (ref: string, o: { labelAdd?: string[]; labelRm?: string[]; manager?: string[] }) => {
      const node = ref === "self" ? (localCredentials()?.nodeId ?? "") : ref;
      await withManagers(o.manager, async (client) => {
        await client.call<NodeInfo__Output>((c, opts, cb) =>
          c.nodes.Update({ node, labelAdd: o.labelAdd ?? [], labelRm: o.labelRm ?? [] }, opts, cb),
        );
        print(ref);
      });
    });

  for (const [name, role] of [
    ["promote", "manager"],
    ["demote", "worker"],
  ] as const) {
    node
      .command(name)
      .description(role === "manager" ? "make nodes managers" : "make manager nodes workers")
      .argument("<node...>", "node id, id prefix or hostname")
      .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
      .action(async (refs: string[], o: { manager?: string[] }) => {
        await withManagers(o.manager, async (client) => {
          for (const r of refs) {
            const n = await client.call<NodeInfo__Output>((c, opts, cb) =>
              c.nodes.SetRole({ node: r, role }, opts, cb),
            );
            print(
              role === "manager"
                ? `Node ${n.hostname} promoted to a manager in the swarm.`
                : `Manager ${n.hostname} demoted in the swarm.`,
            );
          }
        });
      });
  }
}
