/**
 * The VM control protocol's framing, shared by the host client (guest-client.ts), the
 * relay (ctl-relay.ts) and the guest daemon (guest-daemon.ts).
 *
 * Two layers, so the relay stays a dumb pipe:
 *   - a *session* (one host client ↔ the daemon) is a byte stream of frames
 *     `[kind u8][length u32 BE][payload]`: the client's request (JSON), stdin chunks and
 *     stdin EOF; the daemon's stdout/stderr chunks, then an exit or reply (JSON);
 *   - the *link* (relay ↔ daemon over the one virtio-serial port) carries many sessions:
 *     `[session u32 BE][kind u8][length u32 BE][payload]` where kind is data (a slice of
 *     that session's byte stream) or close (the session ended on that side).
 * Payloads are at most MAX_PAYLOAD bytes; a longer length is a broken peer.
 */
export const SessionFrame = {
  Request: 1,
  Stdin: 2,
  StdinEof: 3,
  Stdout: 4,
  Stderr: 5,
  /** JSON `{ code, signal }`: the exec'd process ended. */
  Exit: 6,
  /** JSON answer to a non-exec request: `{ ok: true, … }` or `{ ok: false, error }`. */
  Reply: 7,
} as const;

export const LinkFrame = { Data: 1, Close: 2 } as const;

export const MAX_PAYLOAD = 1 << 20;

export function sessionFrame(kind: number, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(5);
  head.writeUInt8(kind, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

export function linkFrame(session: number, kind: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt32BE(session, 0);
  head.writeUInt8(kind, 4);
  head.writeUInt32BE(payload.length, 5);
  return Buffer.concat([head, payload]);
}

/** Splits a byte stream into frames with a fixed-size header ending in a u32 length. */
class FrameReader<F> {
  private buf: Buffer = Buffer.alloc(0);
  constructor(
    private readonly headerBytes: number,
    private readonly parse: (head: Buffer, payload: Buffer) => F,
  ) {}

  push(chunk: Buffer): F[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: F[] = [];
    for (;;) {
      if (this.buf.length < this.headerBytes) break;
      const len = this.buf.readUInt32BE(this.headerBytes - 4);
      if (len > MAX_PAYLOAD) throw new Error(`control frame of ${len} bytes exceeds ${MAX_PAYLOAD}`);
      if (this.buf.length < this.headerBytes + len) break;
      out.push(
        this.parse(
          this.buf.subarray(0, this.headerBytes),
          this.buf.subarray(this.headerBytes, this.headerBytes + len),
        ),
      );
      this.buf = this.buf.subarray(this.headerBytes + len);
    }
    return out;
  }
}

export interface SessionMessage {
  kind: number;
  payload: Buffer;
}

export interface LinkMessage {
  session: number;
  kind: number;
  payload: Buffer;
}

export function sessionReader(): FrameReader<SessionMessage> {
  return new FrameReader(5, (h, p) => ({ kind: h.readUInt8(0), payload: Buffer.from(p) }));
}

export function linkReader(): FrameReader<LinkMessage> {
  return new FrameReader(9, (h, p) => ({
    session: h.readUInt32BE(0),
    kind: h.readUInt8(4),
    payload: Buffer.from(p),
  }));
}

/** What a host client may ask the guest daemon. */
export type GuestRequest =
  | { op: "exec"; argv: string[]; env: Record<string, string>; stdin: boolean }
  | { op: "spawn"; argv: string[]; env: Record<string, string>; logFile: string }
  | { op: "kill"; pid: number; signal: NodeJS.Signals }
  | { op: "alive"; pids: number[] }
  | { op: "exists"; path: string };

export type GuestReply =
  { ok: true; pid?: number; alive?: boolean[]; exists?: boolean } | { ok: false; error: string };
