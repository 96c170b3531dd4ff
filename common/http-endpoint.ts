/**
 * The small HTTP listener a process serves its metrics (and, on managers, the live page)
 * on. It binds loopback only — the address is validated by `loopbackHostPort()` in the
 * process's config — because nothing here authenticates: on a lab node or a real host,
 * loopback means "whoever is already on this machine (or in this namespace)".
 *
 * Loopback alone does not keep out a web page the node's own browser opens: by DNS
 * rebinding, `evil.example` can come to resolve to 127.0.0.1 and its script read this
 * endpoint as "same origin". So a request must also *name* a loopback host (the `Host`
 * header: 127.x.y.z, [::1] or localhost), or it is refused with 421 and nothing served;
 * no CORS header is ever sent, so no other origin's script may read an answer.
 *
 * Routes are exact paths; a handler gets the request and response and owns the reply.
 * A handler that throws answers 500 with one line and no detail (no stack, no state).
 * Long-lived responses (server-sent events) are closed when the endpoint stops.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ErrorCode, SwarmnetError, errorMessage } from "./errors.js";
import type { Logger } from "./logger.js";

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export class HttpEndpoint {
  private readonly routes = new Map<string, RouteHandler>();
  private readonly server: Server;
  private readonly open = new Set<ServerResponse>();
  private bound = "";

  constructor(
    private readonly addr: string,
    private readonly log: Logger,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  route(path: string, handler: RouteHandler): this {
    this.routes.set(path, handler);
    return this;
  }

  /** host:port actually bound (the port is chosen by the kernel when 0 was asked). */
  get address(): string {
    return this.bound;
  }

  async start(): Promise<void> {
    const i = this.addr.lastIndexOf(":");
    const host = this.addr.slice(0, i);
    const port = Number(this.addr.slice(i + 1));
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", (err) =>
        reject(new SwarmnetError(ErrorCode.PortInUse, `cannot listen on ${this.addr}: ${errorMessage(err)}`)),
      );
      this.server.listen(port, host, () => resolve());
    });
    this.bound = `${host}:${(this.server.address() as AddressInfo).port}`;
    this.log.info({ address: this.bound, routes: [...this.routes.keys()] }, "http endpoint serving");
  }

  async stop(): Promise<void> {
    for (const res of this.open) res.end();
    this.open.clear();
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  /** Keeps a streaming response until the client goes or the endpoint stops. */
  hold(res: ServerResponse): void {
    this.open.add(res);
    res.on("close", () => this.open.delete(res));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!loopbackHostHeader(req.headers.host)) {
      res.writeHead(421, { "content-type": "text/plain" }).end("this endpoint answers loopback names only\n");
      return;
    }
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const handler = this.routes.get(path);
    if (handler === undefined || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    try {
      await handler(req, res);
    } catch (err) {
      this.log.warn({ path, err: errorMessage(err) }, "http handler failed");
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("internal error\n");
    }
  }
}

/** `Host` names a loopback address (any port): 127.x.y.z, [::1] or localhost. */
export function loopbackHostHeader(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.replace(/:\d+$/, "").toLowerCase();
  return name === "localhost" || name === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}
