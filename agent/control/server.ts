/**
 * The agent's control service: gRPC on a unix socket in the agent's state folder, for the
 * CLI on the same node (`swarmnet run`, `ps`, `exec`, …). A socket file, not a TCP port,
 * mode 0600 (common/local-socket.ts): only local root can use it, and nothing listens on
 * the network for it.
 *
 * Besides the container and local-network calls, two look into the reconcile loop:
 * `Reconcilers` answers its counters (passes, resync passes, applied, skipped, failures per
 * reconciler), and `Resync` runs every reconciler's resync pass at once — the periodic
 * pass, on demand — and answers when all finished, with the counters after them (or the
 * first error). `swarmnet agent resync` and the fast-path-vs-resync test use them.
 */
import * as grpc from "@grpc/grpc-js";
import { bindLocalSocket } from "../../common/local-socket.js";
import { unary } from "../../common/grpc-errors.js";
import { grpcPackageDefinition } from "../../common/proto.js";
import type { ProtoGrpcType } from "../../proto/generated/swarmnet.js";
import type { AgentControlHandlers } from "../../proto/generated/swarmnet/v1/AgentControl.js";
import type { Agent } from "../agent.js";
import { containerInfo, localNetworksInfo, reconcilerCounters } from "./convert.js";

const STOP_GRACE_DEFAULT_S = 10;

export class ControlServer {
  private server: grpc.Server | undefined;

  constructor(
    private readonly agent: Agent,
    readonly socketPath: string,
    /** Whether the node joined a cluster (its dispatcher stream is set up). */
    private readonly joined: () => boolean = () => false,
  ) {}

  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const proto = grpc.loadPackageDefinition(grpcPackageDefinition()) as unknown as ProtoGrpcType;
    const server = new grpc.Server();
    server.addService(proto.swarmnet.v1.AgentControl.service, this.handlers());
    await bindLocalSocket(server, this.socketPath);
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (s === undefined) return;
    this.server = undefined;
    await new Promise<void>((resolve) => s.tryShutdown(() => resolve()));
  }

  private handlers(): AgentControlHandlers {
    const agent = this.agent;
    const containers = agent.containers;
    const node = agent.config.nodeName;
    const info = (c: Parameters<typeof containerInfo>[0]) => containerInfo(c, node, agent.dns);
    return {
      Info: unary(async () => ({
        nodeName: node,
        advertiseAddr: agent.config.advertiseAddr ?? "",
        managers: agent.config.managers,
        netnsPrefix: agent.config.netnsPrefix,
        capabilities: agent.description() ?? null,
        joined: this.joined(),
        drivers: agent.drivers?.available() ?? [],
      })),
      Members: unary(async () => ({ members: agent.members() })),
      Networks: unary(async () => ({ networks: localNetworksInfo(agent) })),
      CreateNetwork: unary(async (r) => {
        const n = await agent.networks.create(r);
        return localNetworksInfo(agent).find((w) => w.id === n.id) ?? {};
      }),
      RemoveNetwork: unary(async (r) => {
        const n = await agent.networks.remove(r.network);
        return { id: n.id, name: n.name };
      }),
      PruneNetworks: unary(async () => ({ removed: await agent.networks.prune() })),
      Run: unary(async (r) =>
        info(
          await containers.run({
            name: r.name === "" ? undefined : r.name,
            networks: r.networks.map((n) => ({
              network: n.network,
              ip: n.ip === "" ? undefined : n.ip,
              aliases: n.aliases,
            })),
            command: r.command,
            env: r.env,
            detach: r.detach,
            ports: r.ports.map((p) => ({
              hostIp: p.hostIp,
              hostPort: p.hostPort,
              containerPort: p.containerPort,
              protocol: p.protocol === "udp" ? "udp" : "tcp",
            })),
          }),
        ),
      ),
      List: unary(async (r) => ({ containers: containers.list(r.all).map(info) })),
      Inspect: unary(async (r) => info(containers.find(r.name))),
      Stop: unary(async (r) =>
        info(await containers.stopContainer(r.name, (r.timeoutSeconds || STOP_GRACE_DEFAULT_S) * 1000)),
      ),
      Remove: unary(async (r) => ({ id: (await containers.remove(r.name, r.force)).id })),
      Connect: unary(async (r) =>
        info(
          await containers.connect(r.container, {
            network: r.network?.network ?? "",
            ip: r.network?.ip ? r.network.ip : undefined,
            aliases: r.network?.aliases ?? [],
          }),
        ),
      ),
      Disconnect: unary(async (r) => info(await containers.disconnect(r.container, r.network, r.force))),
      Exited: unary(async (r) => info(containers.exited(r.name, r.exitCode))),
      Reconcilers: unary(async () => ({ reconcilers: reconcilerCounters(agent) })),
      Resync: unary(async () => {
        await agent.resync();
        return { reconcilers: reconcilerCounters(agent) };
      }),
    };
  }
}
