/**
 * The production transport: UDP datagrams for probes and gossip, TCP streams for
 * push-pull, the TCP ping fallback and NetworkDB bulk sync — one port number for both,
 * as memberlist does (7946 by convention), so one firewall rule covers gossip.
 *
 * Stream framing: [u32 big-endian length][bytes], one request frame then one reply frame,
 * then the connection closes. A frame longer than `maxStreamBytes` or a stream that
 * outlives its deadline is cut. Everything the sockets report as an error becomes a
 * SwarmnetError (port in use, connection refused, timeout) at this one boundary; a
 * datagram that cannot be sent is dropped, as UDP would.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { silentLogger, type Logger } from "../../common/logger.js";
import { splitHostPort, type RequestCallback, type Transport, type TransportHandlers } from "./transport.js";

export interface UdpTcpTransportOptions {
  /** Address to bind, e.g. "0.0.0.0" or the node's underlay IP. */
  bindAddr: string;
  /** Port for both UDP and TCP; 0 picks a free one (tests). */
  bindPort: number;
  /** The IP other members reach us on; required when bindAddr is 0.0.0.0. */
  advertiseAddr?: string;
  /** Largest stream frame accepted (default 64 MiB, as the gossip config's maxStreamBytes). */
  maxStreamBytes?: number;
  /** Deadline of an incoming stream exchange (default 10 s). */
  streamTimeoutMs?: number;
  logger?: Logger;
}

const FRAME_HEADER = 4;

export class UdpTcpTransport implements Transport {
  readonly advertiseAddr: string;
  private handlers: TransportHandlers | undefined;
  private closed = false;
  private readonly streams = new Set<Socket>();
  private readonly maxStreamBytes: number;
  private readonly streamTimeoutMs: number;
  private readonly log: Logger;

  private constructor(
    private readonly udp: UdpSocket,
    private readonly tcp: Server,
    advertise: string,
    opts: UdpTcpTransportOptions,
  ) {
    this.advertiseAddr = advertise;
    this.maxStreamBytes = opts.maxStreamBytes ?? 64 * 1024 * 1024;
    this.streamTimeoutMs = opts.streamTimeoutMs ?? 10_000;
    this.log = (opts.logger ?? silentLogger()).child({ component: "gossip-transport" });
    udp.on("message", (msg, rinfo) => {
      if (this.handlers !== undefined) this.handlers.packet(msg, `${rinfo.address}:${rinfo.port}`);
    });
    udp.on("error", (err) => this.log.warn({ err: err.message }, "gossip UDP socket error"));
    tcp.on("connection", (conn) => this.serve(conn));
    tcp.on("error", (err) => this.log.warn({ err: err.message }, "gossip TCP listener error"));
  }

  /** Binds UDP and TCP on the same port. */
  static async create(opts: UdpTcpTransportOptions): Promise<UdpTcpTransport> {
    const advertiseIp = opts.advertiseAddr ?? opts.bindAddr;
    if (advertiseIp === "0.0.0.0" || advertiseIp === "") {
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        "gossip transport: an advertise address is required when binding 0.0.0.0",
      );
    }
    // With port 0, TCP picks the port and UDP takes the same one (retried if it is taken).
    for (let attempt = 0; ; attempt++) {
      const tcp = createServer();
      await listenTcp(tcp, opts.bindAddr, opts.bindPort);
      const port = (tcp.address() as { port: number }).port;
      const udp = createSocket({ type: "udp4" });
      try {
        await bindUdp(udp, opts.bindAddr, port);
      } catch (err) {
        tcp.close();
        udp.close();
        if (opts.bindPort === 0 && attempt < 10 && isAddrInUse(err)) continue;
        throw translateBindError(err, opts.bindAddr, port);
      }
      tcp.unref();
      udp.unref();
      return new UdpTcpTransport(udp, tcp, `${advertiseIp}:${port}`, opts);
    }
  }

  /** The bound port (useful with bindPort 0). */
  get port(): number {
    return splitHostPort(this.advertiseAddr).port ?? 0;
  }

  listen(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }

  sendPacket(to: string, data: Uint8Array): void {
    if (this.closed) return;
    const { host, port } = splitHostPort(to);
    if (port === undefined) return;
    this.udp.send(data, port, host, (err) => {
      if (err) this.log.debug({ to, err: err.message }, "gossip datagram not sent");
    });
  }

  request(to: string, data: Uint8Array, timeoutMs: number, done: RequestCallback): void {
    const { host, port } = splitHostPort(to);
    if (this.closed || port === undefined) {
      done(new SwarmnetError(ErrorCode.Unavailable, `gossip: cannot open a stream to ${to}`), undefined);
      return;
    }
    let finished = false;
    const conn = createConnection({ host, port });
    this.streams.add(conn);
    const finish = (err: Error | undefined, reply: Uint8Array | undefined): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.streams.delete(conn);
      conn.destroy();
      done(err, reply);
    };
    const timer = setTimeout(
      () =>
        finish(
          new SwarmnetError(ErrorCode.Timeout, `gossip: stream to ${to} timed out`, { retryable: true }),
          undefined,
        ),
      timeoutMs,
    );
    timer.unref();
    conn.on("connect", () => conn.write(frame(data)));
    readFrame(conn, this.maxStreamBytes, (err, reply) => {
      if (err !== undefined)
        finish(new SwarmnetError(ErrorCode.MalformedMessage, `gossip: ${to}: ${err}`), undefined);
      else finish(undefined, reply);
    });
    conn.on("error", (err: NodeJS.ErrnoException) =>
      finish(
        new SwarmnetError(
          ErrorCode.Unavailable,
          `gossip: stream to ${to} failed: ${err.code ?? err.message}`,
          {
            cause: err,
            retryable: true,
          },
        ),
        undefined,
      ),
    );
    conn.on("close", () =>
      finish(
        new SwarmnetError(ErrorCode.Unavailable, `gossip: ${to} closed the stream without a reply`),
        undefined,
      ),
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers = undefined;
    this.udp.close();
    this.tcp.close();
    for (const s of this.streams) s.destroy();
    this.streams.clear();
  }

  private serve(conn: Socket): void {
    if (this.closed) {
      conn.destroy();
      return;
    }
    this.streams.add(conn);
    const from = `${conn.remoteAddress ?? "?"}:${conn.remotePort ?? 0}`;
    conn.setTimeout(this.streamTimeoutMs, () => conn.destroy());
    conn.on("close", () => this.streams.delete(conn));
    conn.on("error", () => conn.destroy());
    readFrame(conn, this.maxStreamBytes, (err, data) => {
      if (err !== undefined || data === undefined || this.handlers === undefined) {
        if (err !== undefined) this.log.debug({ from, err }, "gossip stream refused");
        conn.destroy();
        return;
      }
      let replied = false;
      this.handlers.stream(data, from, (reply) => {
        if (replied || conn.destroyed) return;
        replied = true;
        conn.end(frame(reply));
      });
    });
  }
}

function frame(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + data.length);
  out.writeUInt32BE(data.length, 0);
  out.set(data, FRAME_HEADER);
  return out;
}

/** Reads one length-prefixed frame from `conn`; calls `cb` once. */
function readFrame(
  conn: Socket,
  maxBytes: number,
  cb: (err: string | undefined, data: Uint8Array | undefined) => void,
): void {
  const chunks: Buffer[] = [];
  let have = 0;
  let want = -1;
  let done = false;
  conn.on("data", (chunk: Buffer) => {
    if (done) return;
    chunks.push(chunk);
    have += chunk.length;
    if (want < 0 && have >= FRAME_HEADER) {
      want = Buffer.concat(chunks).readUInt32BE(0);
      if (want > maxBytes) {
        done = true;
        cb(`frame of ${want} bytes exceeds ${maxBytes}`, undefined);
        return;
      }
    }
    if (want >= 0 && have >= FRAME_HEADER + want) {
      done = true;
      const all = Buffer.concat(chunks);
      cb(undefined, all.subarray(FRAME_HEADER, FRAME_HEADER + want));
    }
  });
}

function listenTcp(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(translateBindError(err, host, port));
    server.once("error", onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

function bindUdp(socket: UdpSocket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off("error", reject);
      resolve();
    });
  });
}

function isAddrInUse(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === "EADDRINUSE";
}

function translateBindError(err: unknown, host: string, port: number): SwarmnetError {
  if (err instanceof SwarmnetError) return err;
  if (isAddrInUse(err)) {
    return new SwarmnetError(ErrorCode.PortInUse, `gossip: port ${port} on ${host} is in use`, {
      cause: err,
    });
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? String(err);
  return new SwarmnetError(ErrorCode.Unavailable, `gossip: cannot bind ${host}:${port}: ${code}`, {
    cause: err,
  });
}
