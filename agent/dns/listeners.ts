/**
 * The embedded DNS's sockets: per container, a UDP socket and a TCP server on
 * 127.0.0.11:53 bound inside the container's namespace and held by the agent (the
 * executor's `listenIn`), so the socket a query arrives on says which container asks —
 * no address mapping, no process per container.
 *
 * TCP: two-byte length framing, queries answered in order per connection, idle
 * connections closed, a bounded number per container. Failures of one client never
 * reach another.
 */
import type { NetnsListeners } from "../../common/executor.js";
import type { Logger } from "../../common/logger.js";
import type { Socket } from "node:net";
import type { DnsConfig } from "./config.js";
import { MAX_MESSAGE_BYTES, tcpFrame, type Resolver } from "./resolver.js";

interface Held {
  listeners: NetnsListeners;
  connections: Set<Socket>;
}

export class DnsListeners {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly resolver: Resolver,
    private readonly config: Pick<DnsConfig, "tcpIdleMs" | "maxTcpConnections">,
    private readonly log: Logger,
  ) {}

  has(containerId: string): boolean {
    return this.held.has(containerId);
  }

  ids(): string[] {
    return [...this.held.keys()];
  }

  /** Starts answering on `l` for `containerId` (replacing what it had). */
  attach(containerId: string, l: NetnsListeners): void {
    this.close(containerId);
    const h: Held = { listeners: l, connections: new Set() };
    this.held.set(containerId, h);
    l.udp.on("error", (err) => this.log.warn({ err: err.message, containerId }, "dns udp socket error"));
    l.udp.on("message", (msg, from) => {
      this.resolver
        .handle(msg, containerId, "udp")
        .then((out) => {
          if (out !== undefined && this.held.get(containerId) === h) l.udp.send(out, from.port, from.address);
        })
        .catch((err: unknown) => this.log.warn({ err, containerId }, "dns query failed"));
    });
    l.tcp.on("error", (err) => this.log.warn({ err: err.message, containerId }, "dns tcp server error"));
    l.tcp.on("connection", (sock) => this.serveTcp(containerId, h, sock));
  }

  close(containerId: string): void {
    const h = this.held.get(containerId);
    if (h === undefined) return;
    this.held.delete(containerId);
    h.listeners.udp.close();
    h.listeners.tcp.close();
    for (const s of h.connections) s.destroy();
  }

  closeAll(): void {
    for (const id of this.ids()) this.close(id);
  }

  private serveTcp(containerId: string, h: Held, sock: Socket): void {
    if (h.connections.size >= this.config.maxTcpConnections) {
      sock.destroy();
      return;
    }
    h.connections.add(sock);
    sock.setTimeout(this.config.tcpIdleMs, () => sock.destroy());
    sock.on("close", () => h.connections.delete(sock));
    sock.on("error", () => sock.destroy());
    let buf = Buffer.alloc(0);
    let queue = Promise.resolve();
    sock.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length > 2 + MAX_MESSAGE_BYTES + 2 + MAX_MESSAGE_BYTES) return sock.destroy();
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        queue = queue
          .then(async () => {
            const out = await this.resolver.handle(msg, containerId, "tcp");
            if (out === undefined) return void sock.destroy();
            if (!sock.destroyed) sock.write(tcpFrame(out));
          })
          .catch(() => void sock.destroy());
      }
    });
  }
}
