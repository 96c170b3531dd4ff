/**
 * Traffic tools for the encrypted-overlay tests and benchmark, run inside a namespace as
 * `node encryption-traffic.js <command> …` (through the executor's runIn). Each prints one
 * JSON object on stdout when it finishes, so the caller needs nothing but the exit.
 *
 *   tcp-sink   PORT SECONDS                  one connection; {bytes, sha256}
 *   tcp-source IP PORT BYTES RATE_BPS MARKER [CONNECT_S]
 *                                             bytes of a marker pattern, rate-limited if
 *                                             RATE_BPS > 0; retries connecting for
 *                                             CONNECT_S (default 10) seconds while the
 *                                             sink starts; {bytes, sha256}
 *   udp-listen PORT SECONDS                   {payloads: [utf8…]} received meanwhile
 *   udp-send   IP PORT HEX [BIND_IP]          one datagram; {sent}
 *
 * The pattern repeats MARKER followed by a counter, so a capture that sees plaintext
 * finds MARKER many times and one that sees ciphertext finds it never.
 */
import { createHash } from "node:crypto";
import { createSocket } from "node:dgram";
import { connect, createServer, type Socket } from "node:net";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

const CHUNK_BYTES = 64 * 1024;
const CONNECT_RETRY_S = 10;

function out(v: unknown): void {
  process.stdout.write(JSON.stringify(v) + "\n");
}

/** A 64 KB chunk: MARKER + " " + line counter, repeated. Deterministic per index. */
export function patternChunk(marker: string, index: number, bytes: number): Buffer {
  const parts: string[] = [];
  let len = 0;
  let line = index * 4096;
  while (len < bytes) {
    const s = `${marker} ${line++}\n`;
    parts.push(s);
    len += s.length;
  }
  return Buffer.from(parts.join(""), "utf8").subarray(0, bytes);
}

function tcpSink(port: number, seconds: number): void {
  const hash = createHash("sha256");
  let bytes = 0;
  const server = createServer((sock) => {
    server.close();
    sock.on("data", (d: Buffer) => {
      bytes += d.length;
      hash.update(d);
    });
    sock.on("end", () => {
      out({ bytes, sha256: hash.digest("hex") });
      process.exit(0);
    });
    sock.on("error", (e) => {
      out({ bytes, error: e.message });
      process.exit(1);
    });
  });
  server.listen(port);
  setTimeout(() => {
    out({ bytes, error: "timeout" });
    process.exit(1);
  }, seconds * 1000).unref();
}

async function connectWithRetry(ip: string, port: number, seconds: number): Promise<Socket> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(port, ip, () => resolve(s));
        s.once("error", reject);
      });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function tcpSource(
  ip: string,
  port: number,
  total: number,
  rateBps: number,
  marker: string,
  connectSeconds: number,
): Promise<void> {
  const sock = await connectWithRetry(ip, port, connectSeconds);
  const hash = createHash("sha256");
  const start = Date.now();
  let sent = 0;
  let index = 0;
  while (sent < total) {
    const n = Math.min(CHUNK_BYTES, total - sent);
    const chunk = patternChunk(marker, index++, n);
    hash.update(chunk);
    sent += n;
    if (!sock.write(chunk)) await new Promise((r) => sock.once("drain", r));
    if (rateBps > 0) {
      const due = start + (sent / rateBps) * 1000;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }
  await new Promise<void>((r) => sock.end(r));
  out({ bytes: sent, sha256: hash.digest("hex") });
}

function udpListen(port: number, seconds: number): void {
  const s = createSocket("udp4");
  const payloads: string[] = [];
  s.on("message", (m) => payloads.push(m.toString("utf8")));
  s.bind(port, () => {
    setTimeout(() => {
      out({ payloads });
      process.exit(0);
    }, seconds * 1000);
  });
}

function udpSend(ip: string, port: number, hex: string, bindIp: string | undefined): void {
  const s = createSocket("udp4");
  const send = () =>
    s.send(Buffer.from(hex, "hex"), port, ip, (err) => {
      out(err ? { sent: false, error: err.message } : { sent: true });
      s.close();
    });
  if (bindIp === undefined) send();
  else s.bind(0, bindIp, send);
}

async function main(): Promise<void> {
  const [cmd, ...a] = process.argv.slice(2);
  switch (cmd) {
    case "tcp-sink":
      return tcpSink(Number(a[0]), Number(a[1] ?? 60));
    case "tcp-source":
      return tcpSource(
        a[0] ?? "",
        Number(a[1]),
        Number(a[2]),
        Number(a[3] ?? 0),
        a[4] ?? "MARKER",
        Number(a[5] ?? CONNECT_RETRY_S),
      );
    case "udp-listen":
      return udpListen(Number(a[0]), Number(a[1] ?? 2));
    case "udp-send":
      return udpSend(a[0] ?? "", Number(a[1]), a[2] ?? "", a[3]);
    default:
      process.stderr.write(`unknown command ${String(cmd)}\n`);
      process.exit(2);
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((err: unknown) => {
    out({ error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  });
}
