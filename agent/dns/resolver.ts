/**
 * The embedded resolver's answer to one DNS message from one container: decode (with
 * dns-packet), look the name up in the current name table, encode — or forward upstream.
 * Transport-free (listeners.ts carries the bytes), so unit tests drive it with buffers.
 *
 *   garbage, a response, too short or too long   no answer at all (nothing to reflect)
 *   opcode other than QUERY                      NOTIMP
 *   not exactly one question                     FORMERR
 *   a swarm name found                           A: the addresses, TTL 600; any other type
 *                                                (AAAA…): NOERROR with no answer, as Docker
 *   a swarm name not found                       NXDOMAIN (SERVFAIL while settling)
 *   anything else                                the node's upstreams' answer, or SERVFAIL
 *
 * UDP answers stay within 512 bytes (we do not speak EDNS): more addresses than fit are
 * cut and the answer marked truncated, so the client asks again over TCP and gets them all.
 */
import dnsPacket from "dns-packet";
import type { DnsConfig } from "./config.js";
import type { NameTable } from "./name-table.js";
import type { Upstream } from "./upstream.js";

export type Transport = "udp" | "tcp";

const HEADER_BYTES = 12;
/** Largest DNS message (TCP's two-byte length). */
export const MAX_MESSAGE_BYTES = 65_535;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
type Rcode = keyof typeof RCODE;

/** What happened to each query, one count each (the agent's metrics read it). */
export interface ResolverStats {
  /** A swarm name found: its addresses (or no answer for another type). */
  answered: number;
  /** A swarm-shaped name not found: NXDOMAIN. */
  notFound: number;
  /** Not known yet (the agent settling, a fresh network): SERVFAIL so the client retries. */
  notReady: number;
  /** Sent to the node's upstreams, which answered. */
  forwarded: number;
  /** Sent upstream and no upstream answered: SERVFAIL. */
  upstreamFailed: number;
  /** A query we do not serve: FORMERR (not one question) or NOTIMP (not QUERY). */
  malformed: number;
  /** Garbage or a response: no answer at all. */
  dropped: number;
}

export class Resolver {
  readonly stats: ResolverStats = {
    answered: 0,
    notFound: 0,
    notReady: 0,
    forwarded: 0,
    upstreamFailed: 0,
    malformed: 0,
    dropped: 0,
  };

  constructor(
    private readonly table: () => NameTable,
    private readonly upstream: Upstream,
    private readonly config: Pick<DnsConfig, "ttlSeconds" | "udpAnswerBytes">,
  ) {}

  /** The answer to `message` from container `containerId`, or undefined: send nothing. */
  async handle(message: Buffer, containerId: string, transport: Transport): Promise<Buffer | undefined> {
    const query = decodeQuery(message);
    if (query === undefined) {
      this.stats.dropped++;
      return undefined;
    }
    // Opcode QUERY is 0 (bits 11–14 of the flags).
    if (((query.flags ?? 0) & 0x7800) !== 0) {
      this.stats.malformed++;
      return this.reply(query, "NOTIMP", [], transport);
    }
    const q = query.questions?.[0];
    if (q === undefined || query.questions?.length !== 1) {
      this.stats.malformed++;
      return this.reply(query, "FORMERR", [], transport);
    }
    const table = this.table();
    const look = table.lookup(table.networksOf(containerId) ?? [], q.name);
    switch (look.kind) {
      case "found": {
        this.stats.answered++;
        const ips = q.type === "A" && q.class === "IN" ? look.ips : [];
        const ttl = this.config.ttlSeconds;
        return this.reply(
          query,
          "NOERROR",
          ips.map((ip) => ({ name: q.name, type: "A" as const, class: "IN" as const, ttl, data: ip })),
          transport,
        );
      }
      case "notFound":
        this.stats.notFound++;
        return this.reply(query, "NXDOMAIN", [], transport);
      case "retry":
        this.stats.notReady++;
        return this.reply(query, "SERVFAIL", [], transport);
      case "forward": {
        const answer = await this.upstream.forward(message, transport === "tcp");
        if (answer !== undefined && (transport === "tcp" || answer.length <= MAX_MESSAGE_BYTES)) {
          this.stats.forwarded++;
          return answer;
        }
        this.stats.upstreamFailed++;
        return this.reply(query, "SERVFAIL", [], transport);
      }
    }
  }

  private reply(
    query: dnsPacket.Packet,
    rcode: Rcode,
    answers: dnsPacket.Answer[],
    transport: Transport,
  ): Buffer {
    const flags =
      ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) |
      dnsPacket.RECURSION_AVAILABLE |
      (rcode === "NOERROR" || rcode === "NXDOMAIN" ? dnsPacket.AUTHORITATIVE_ANSWER : 0) |
      RCODE[rcode];
    const packet = (list: dnsPacket.Answer[], truncated: boolean) =>
      dnsPacket.encode({
        id: query.id ?? 0,
        type: "response",
        flags: flags | (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0),
        questions: query.questions ?? [],
        answers: list,
      });
    let out = packet(answers, false);
    if (transport === "udp" && out.length > this.config.udpAnswerBytes) {
      // Each answer is the same size: keep as many as fit.
      const per = (out.length - packet([], false).length) / answers.length;
      const fit = Math.max(0, Math.floor((this.config.udpAnswerBytes - packet([], true).length) / per));
      out = packet(answers.slice(0, fit), true);
    }
    return out;
  }
}

/** A message as DNS over TCP carries it: a two-byte length, then the message. */
export function tcpFrame(message: Buffer): Buffer {
  const frame = Buffer.alloc(2 + message.length);
  frame.writeUInt16BE(message.length, 0);
  message.copy(frame, 2);
  return frame;
}

/** A query we may answer, or undefined for garbage and anything that is not a query. */
function decodeQuery(message: Buffer): dnsPacket.DecodedPacket | undefined {
  if (message.length < HEADER_BYTES || message.length > MAX_MESSAGE_BYTES) return undefined;
  // A response is never answered (two resolvers must not ping-pong).
  if (((message[2] ?? 0) & 0x80) !== 0) return undefined;
  try {
    return dnsPacket.decode(message);
  } catch {
    return undefined;
  }
}
