/**
 * A TCP transfer with a checksum, to prove bytes crossed a datapath intact. Run inside a
 * namespace with `node dist/test/support/tcp-transfer.js`:
 *   listen IP PORT          accepts one connection, prints `<bytes> <sha256>` when it closes
 *   send IP PORT BYTES [BPS] sends BYTES of a deterministic pattern (at most BPS bytes per
 *                           second when given: a long-lived stream), prints `<bytes> <sha256>`
 * `transfer()` runs both through an executor and returns both lines.
 */
import { createHash } from "node:crypto";
import { createServer, connect } from "node:net";
import { fileURLToPath } from "node:url";
import type { Executor } from "../../common/executor.js";

const SELF = fileURLToPath(import.meta.url);
const CHUNK_BYTES = 64 * 1024;

function pattern(offset: number): Buffer {
  const b = Buffer.allocUnsafe(CHUNK_BYTES);
  for (let i = 0; i < CHUNK_BYTES; i += 4) b.writeUInt32BE((offset + i) >>> 0, i);
  return b;
}

async function listen(ip: string, port: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const server = createServer((sock) => {
      const hash = createHash("sha256");
      let bytes = 0;
      sock.on("data", (d: Buffer) => {
        bytes += d.length;
        hash.update(d);
      });
      sock.on("end", () => {
        process.stdout.write(`${bytes} ${hash.digest("hex")}\n`);
        sock.end();
        server.close();
        resolve();
      });
    });
    server.listen(port, ip, () => process.stderr.write("listening\n"));
  });
}

/** The bytes the pattern holds at stream offset `offset` (a multiple of 4): a marker to look for. */
export function patternBytes(offset: number, length: number): Buffer {
  return pattern(offset - (offset % CHUNK_BYTES)).subarray(
    offset % CHUNK_BYTES,
    (offset % CHUNK_BYTES) + length,
  );
}

async function send(ip: string, port: number, total: number, bytesPerSecond = 0): Promise<void> {
  const started = Date.now();
  const hash = createHash("sha256");
  const sock = connect(port, ip);
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  for (let sent = 0; sent < total; sent += CHUNK_BYTES) {
    const chunk = pattern(sent).subarray(0, Math.min(CHUNK_BYTES, total - sent));
    hash.update(chunk);
    if (!sock.write(chunk)) await new Promise((r) => sock.once("drain", r));
    if (bytesPerSecond > 0) {
      const due = started + ((sent + chunk.length) / bytesPerSecond) * 1000;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
  }
  await new Promise<void>((resolve) => sock.end(resolve));
  process.stdout.write(`${total} ${hash.digest("hex")}\n`);
}

export interface TransferResult {
  sent: string;
  received: string;
}

/** Sends `bytes` from `fromNetns` to `toIp:port` served in `toNetns`; both sides' `<bytes> <sha256>`. */
export async function transfer(
  ex: Executor,
  fromNetns: string,
  toNetns: string,
  toIp: string,
  port: number,
  bytes: number,
  bytesPerSecond = 0,
): Promise<TransferResult> {
  const server = ex.runIn(toNetns, [process.execPath, SELF, "listen", toIp, String(port)], {
    timeoutMs: 120_000,
  });
  await new Promise((r) => setTimeout(r, 400));
  const client = await ex.runIn(
    fromNetns,
    [process.execPath, SELF, "send", toIp, String(port), String(bytes), String(bytesPerSecond)],
    {
      timeoutMs: 120_000,
    },
  );
  const s = await server;
  return { sent: (client.stdout || client.stderr).trim(), received: (s.stdout || s.stderr).trim() };
}

if (process.argv[1] === SELF) {
  const [mode, ip = "", port = "0", bytes = "0", bps = "0"] = process.argv.slice(2);
  if (mode === "listen") await listen(ip, Number(port));
  else if (mode === "send") await send(ip, Number(port), Number(bytes), Number(bps));
  else {
    process.stderr.write("usage: tcp-transfer listen IP PORT | send IP PORT BYTES\n");
    process.exitCode = 2;
  }
}
