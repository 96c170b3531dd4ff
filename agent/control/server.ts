/**
 * The agent's control service: the `AgentControl` calls of proto/agent.proto as JSON over
 * HTTP/1.1 (http-api.ts says why not gRPC) on a unix socket in the agent's state folder,
 * for the CLI on the same node (`swarmnet run`, `ps`, `exec`, …). A socket file, not a TCP
 * port, mode 0600 (common/local-socket.ts): only local root can use it, and nothing
 * listens on the network for it. A request and its answer pass through the service's
 * protobuf serializers, so a handler sees what a gRPC server would hand it and the client
 * gets what a gRPC client would decode; a request that does not fit the message is
 * refused with one line (400), as is a body over 4 MiB (400) or an unknown call (404).
 *
 * Besides the container and local-network calls, two look into the reconcile loop:
 * `Reconcilers` answers its counters (passes, resync passes, applied, skipped, failures per
 * reconciler), and `Resync` runs every reconciler's resync pass at once — the periodic
 * pass, on demand — and answers when all finished, with the counters after them (or the
 * first error). `swarmnet agent resync` and the fast-path-vs-resync test use them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { MethodDefinition } from "@grpc/grpc-js";
import type { MethodDefinition as ServiceMethod } from "@grpc/proto-loader";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { listenLocalSocket } from "../../common/local-socket.js";
import { grpcPackageDefinition } from "../../common/proto.js";
import type { AgentControlDefinition } from "../../proto/generated/swarmnet/v1/AgentControl.js";
import type { Agent } from "../agent.js";
import { containerInfo, localNetworksInfo, reconcilerCounters } from "./convert.js";
import { CONTROL_SERVICE, httpStatusOf, type ControlErrorBody, type Method } from "./http-api.js";

const STOP_GRACE_DEFAULT_S = 10;
const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** `/swarmnet.v1.AgentControl/<Method>` (http-api.ts controlPath). */
const CALL_PATH = new RegExp(`^/${CONTROL_SERVICE.replace(/\./g, "\\.")}/(\\w+)$`);

/** Each call as a plain async function of the request (the generated gRPC types' shapes). */
type Handlers = {
  [M in Method]: AgentControlDefinition[M] extends ServiceMethod<
    infer _Req,
    infer Res,
    infer ReqOut,
    infer _ResOut
  >
    ? (request: ReqOut) => Promise<Res>
    : never;
};
type Codec = MethodDefinition<object, object>;

export class ControlServer {
  private server: Server | undefined;

  constructor(
    private readonly agent: Agent,
    readonly socketPath: string,
    /** Whether the node joined a cluster (its dispatcher stream is set up). */
    private readonly joined: () => boolean = () => false,
  ) {}

  async start(): Promise<void> {
    if (this.server !== undefined) return;
    const codecs = grpcPackageDefinition()[CONTROL_SERVICE] as unknown as Record<Method, Codec>;
    const handlers = this.handlers();
    const server = createServer((req, res) => void serve(codecs, handlers, req, res));
    await listenLocalSocket(server, this.socketPath);
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (s === undefined) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private handlers(): Handlers {
    const agent = this.agent;
    const containers = agent.containers;
    const node = agent.config.nodeName;
    const info = (c: Parameters<typeof containerInfo>[0]) => containerInfo(c, node, agent.dns);
    return {
      Info: async () => ({
        nodeName: node,
        advertiseAddr: agent.config.advertiseAddr ?? "",
        managers: agent.config.managers,
        netnsPrefix: agent.config.netnsPrefix,
        capabilities: agent.description() ?? null,
        joined: this.joined(),
        drivers: agent.drivers?.available() ?? [],
      }),
      Members: async () => ({ members: agent.members() }),
      Networks: async () => ({ networks: localNetworksInfo(agent) }),
      CreateNetwork: async (r) => {
        const n = await agent.networks.create(r);
        return localNetworksInfo(agent).find((w) => w.id === n.id) ?? {};
      },
      RemoveNetwork: async (r) => {
        const n = await agent.networks.remove(r.network);
        return { id: n.id, name: n.name };
      },
      PruneNetworks: async () => ({ removed: await agent.networks.prune() }),
      Run: async (r) =>
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
      List: async (r) => ({ containers: containers.list(r.all).map(info) }),
      Inspect: async (r) => info(containers.find(r.name)),
      Stop: async (r) =>
        info(await containers.stopContainer(r.name, (r.timeoutSeconds || STOP_GRACE_DEFAULT_S) * 1000)),
      Remove: async (r) => ({ id: (await containers.remove(r.name, r.force)).id }),
      Connect: async (r) =>
        info(
          await containers.connect(r.container, {
            network: r.network?.network ?? "",
            ip: r.network?.ip ? r.network.ip : undefined,
            aliases: r.network?.aliases ?? [],
          }),
        ),
      Disconnect: async (r) => info(await containers.disconnect(r.container, r.network, r.force)),
      Exited: async (r) => info(containers.exited(r.name, r.exitCode)),
      Reconcilers: async () => ({ reconcilers: reconcilerCounters(agent) }),
      Resync: async () => {
        await agent.resync();
        return { reconcilers: reconcilerCounters(agent) };
      },
    };
  }
}

/** Answers one HTTP request: a call of the service, or one line saying why not. */
async function serve(
  codecs: Record<Method, Codec>,
  handlers: Handlers,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    const method = CALL_PATH.exec(req.url ?? "")?.[1];
    if (req.method !== "POST" || method === undefined || !Object.hasOwn(handlers, method)) {
      throw new SwarmnetError(ErrorCode.NotFound, `no such call: ${req.method ?? ""} ${req.url ?? ""}`);
    }
    const codec = codecs[method as Method] as Codec;
    const body = await readBody(req);
    let request: object;
    try {
      request = codec.requestDeserialize(codec.requestSerialize(JSON.parse(body) as object));
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new SwarmnetError(ErrorCode.MalformedMessage, `malformed ${method} request: ${why}`);
    }
    const handler = handlers[method as Method] as (request: object) => Promise<object>;
    const answer = codec.responseDeserialize(codec.responseSerialize(await handler(request)));
    reply(res, 200, answer);
  } catch (err) {
    const e =
      err instanceof SwarmnetError
        ? err
        : new SwarmnetError(ErrorCode.Internal, err instanceof Error ? err.message : String(err));
    reply(res, httpStatusOf(e.code), { code: e.code, message: e.message } satisfies ControlErrorBody);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      // Past the limit the rest is read and dropped, so the refusal can still be answered.
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", () =>
      size > MAX_BODY_BYTES
        ? reject(new SwarmnetError(ErrorCode.MalformedMessage, `request larger than ${MAX_BODY_BYTES} bytes`))
        : resolve(Buffer.concat(chunks).toString("utf8")),
    );
    req.on("error", reject);
  });
}

function reply(res: ServerResponse, status: number, body: object): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
