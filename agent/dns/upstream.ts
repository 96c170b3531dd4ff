/**
 * Forwarding to the node's upstream resolvers: a query the embedded DNS does not own goes,
 * as the client sent it, to each upstream in turn (the list twice) over UDP (a truncated answer is asked
 * again over TCP; a query that came over TCP goes over TCP), with a fresh random id and a
 * fresh socket per query, so an answer is accepted only from the server asked, on the
 * socket that asked, with the id it was given (spoofing needs to guess port and id).
 *
 * `undefined` means no upstream answered within the budget: the resolver answers SERVFAIL,
 * so a client never hangs on a dead upstream. In-flight forwards are bounded.
 */
import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import { isIPv6, Socket } from "node:net";
import type { DnsConfig } from "./config.js";
import { tcpFrame } from "./resolver.js";

export interface UpstreamServer {
  host: string;
  port: number;
}

const HEADER_BYTES = 12;
const QR = 0x80;
const TC = 0x02;

export class Upstream {
  private inFlight = 0;

  constructor(
    private readonly servers: () => readonly UpstreamServer[],
    private readonly config: Pick<DnsConfig, "forwardAttemptMs" | "forwardBudgetMs" | "maxForwardsInFlight">,
  ) {}

  get pending(): number {
    return this.inFlight;
  }

  /** The upstream's answer (with the client's id), or undefined: none answered in time. */
  async forward(query: Buffer, tcp: boolean): Promise<Buffer | undefined> {
    const servers = this.servers();
    if (servers.length === 0 || this.inFlight >= this.config.maxForwardsInFlight) return undefined;
    this.inFlight++;
    try {
      const deadline = Date.now() + this.config.forwardBudgetMs;
      // Each upstream twice (a lost datagram is retried), as long as the budget lasts.
      for (const server of [...servers, ...servers]) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        const timeoutMs = Math.min(left, this.config.forwardAttemptMs);
        const id = randomInt(0, 0x10000);
        const asked = withId(query, id);
        let answer = tcp ? undefined : await udpExchange(server, asked, id, timeoutMs);
        if (tcp || (answer !== undefined && (answer[2] ?? 0) & TC)) {
          answer = await tcpExchange(server, asked, id, Math.max(1, deadline - Date.now()));
        }
        if (answer !== undefined) return withId(answer, query.readUInt16BE(0));
      }
      return undefined;
    } finally {
      this.inFlight--;
    }
  }
}

function withId(message: Buffer, id: number): Buffer {
  const copy = Buffer.from(message);
  copy.writeUInt16BE(id, 0);
  return copy;
}

/** An answer to our query: long enough, a response, our id. */
function answers(message: Buffer, id: number): boolean {
  return message.length >= HEADER_BYTES && ((message[2] ?? 0) & QR) !== 0 && message.readUInt16BE(0) === id;
}

/**
 * One exchange with an upstream: `start` opens it and returns how to close it; the first
 * `done` (or the timeout) settles the answer and closes once.
 */
function exchange(
  timeoutMs: number,
  start: (done: (answer: Buffer | undefined) => void) => () => void,
): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    let close = () => {};
    const done = (answer: Buffer | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      close();
      resolve(answer);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    close = start(done);
  });
}

function udpExchange(server: UpstreamServer, query: Buffer, id: number, timeoutMs: number) {
  return exchange(timeoutMs, (done) => {
    const sock = dgram.createSocket(isIPv6(server.host) ? "udp6" : "udp4");
    sock.on("error", () => done(undefined));
    sock.on("message", (msg, from) => {
      if (from.address === server.host && from.port === server.port && answers(msg, id)) done(msg);
    });
    sock.send(query, server.port, server.host, (err) => {
      if (err) done(undefined);
    });
    return () => sock.close();
  });
}

function tcpExchange(server: UpstreamServer, query: Buffer, id: number, timeoutMs: number) {
  return exchange(timeoutMs, (done) => {
    const sock = new Socket();
    let buf = Buffer.alloc(0);
    sock.on("error", () => done(undefined));
    sock.on("close", () => done(undefined));
    sock.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
      done(answers(msg, id) ? Buffer.from(msg) : undefined);
    });
    sock.connect(server.port, server.host, () => sock.write(tcpFrame(query)));
    return () => sock.destroy();
  });
}
