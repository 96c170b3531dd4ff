/**
 * The transport interface membership runs on: unreliable packets (UDP in production) and
 * reliable request/reply streams (TCP in production) for push-pull, the TCP ping fallback
 * and NetworkDB bulk sync. Addresses are "ip:port" strings.
 *
 * Why callbacks and not promises: the simulated network runs thousands of members on a
 * virtual clock inside one synchronous `advance()`. A promise continuation would run only
 * after `advance()` returns — at the wrong virtual time — so the protocol core speaks
 * callbacks and only the public API (join, leave) wraps them in promises.
 *
 * Ownership: a buffer handed to `sendPacket`/`request`/`reply` belongs to the transport
 * from then on; a buffer handed to a handler belongs to the handler.
 */

export interface TransportHandlers {
  /** A datagram arrived from `from` ("ip:port" of the sender's socket). */
  packet(data: Uint8Array, from: string): void;
  /** A stream request arrived; call `reply` once (or never, and the peer times out). */
  stream(data: Uint8Array, from: string, reply: (data: Uint8Array) => void): void;
}

export type RequestCallback = (err: Error | undefined, reply: Uint8Array | undefined) => void;

export interface Transport {
  /** The "ip:port" other members reach this one on. */
  readonly advertiseAddr: string;
  /** Starts delivering to `handlers`; called once by Memberlist.start(). */
  listen(handlers: TransportHandlers): void;
  /** Best effort: may be lost, duplicated never, reordered possibly. */
  sendPacket(to: string, data: Uint8Array): void;
  /** Opens a stream, sends `data`, waits for one reply; `done` is called exactly once. */
  request(to: string, data: Uint8Array, timeoutMs: number, done: RequestCallback): void;
  /** Stops listening and releases sockets; idempotent. */
  close(): void;
}

/** Splits "ip:port"; the port is undefined when missing or invalid. */
export function splitHostPort(addr: string): { host: string; port: number | undefined } {
  const i = addr.lastIndexOf(":");
  if (i < 0) return { host: addr, port: undefined };
  const port = Number(addr.slice(i + 1));
  const valid = Number.isInteger(port) && port > 0 && port < 65536;
  return { host: addr.slice(0, i), port: valid ? port : undefined };
}
