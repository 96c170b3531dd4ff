/**
 * Garbage connections to a TCP port, from inside a lab namespace (issue 17, point 4): a
 * small Node program run with `-e` by `lab exec`, so the connections come from where an
 * attacker would stand (the `client` namespace) and cost one process, not one per
 * connection. Connection i is of kind i mod 6:
 *
 *   0  random bytes (256–2,048), then closed
 *   1  the HTTP/2 preface and a bad frame (random type, length, flags), in plaintext
 *   2  the HTTP/2 preface only, held open for `holdMs`
 *   3  TLS (no client certificate, ALPN h2), then the preface and bad frames
 *   4  TLS, then the preface only, held open for `holdMs`
 *   5  nothing at all, held open for `holdMs`
 *
 * At most `parallel` are open at once. Prints one JSON line: how many were made, how many
 * finished a TLS handshake, how many the server closed before the client did.
 */
export const GARBAGE_PROGRAM = String.raw`
const net = require("node:net");
const tls = require("node:tls");
const crypto = require("node:crypto");
const [host, portText, countText, parallelText, holdText] = process.argv.slice(1);
const port = Number(portText), count = Number(countText), parallel = Number(parallelText), holdMs = Number(holdText);
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const badFrame = () => {
  const len = crypto.randomInt(0, 64);
  const head = Buffer.alloc(9);
  head.writeUIntBE(crypto.randomInt(0, 1 << 24), 0, 3);
  head[3] = crypto.randomInt(0, 256);
  head[4] = crypto.randomInt(0, 256);
  head.writeUInt32BE(crypto.randomInt(0, 2 ** 31), 5);
  return Buffer.concat([head, crypto.randomBytes(len)]);
};
let made = 0, tlsOk = 0, serverClosed = 0;
function one(i) {
  return new Promise((resolve) => {
    const kind = i % 6;
    let done = false;
    const finish = () => { if (!done) { done = true; clearTimeout(guard); resolve(); } };
    const guard = setTimeout(() => { sock.destroy(); finish(); }, holdMs + 10000);
    const hold = () => setTimeout(() => { sock.destroy(); finish(); }, holdMs);
    const useTls = kind === 3 || kind === 4;
    const sock = useTls
      ? tls.connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ["h2"], servername: "swarm-manager" })
      : net.connect({ host, port });
    sock.on("error", () => finish());
    sock.on("close", () => { if (!done) serverClosed++; finish(); });
    sock.on("data", () => {});
    sock.on(useTls ? "secureConnect" : "connect", () => {
      made++;
      if (useTls) tlsOk++;
      if (kind === 0) sock.end(crypto.randomBytes(crypto.randomInt(256, 2049)));
      else if (kind === 1) sock.end(Buffer.concat([PREFACE, badFrame()]));
      else if (kind === 3) sock.end(Buffer.concat([PREFACE, badFrame(), badFrame()]));
      else if (kind === 2 || kind === 4) { sock.write(PREFACE); hold(); }
      else hold();
    });
  });
}
(async () => {
  let next = 0;
  const worker = async () => { while (next < count) await one(next++); };
  await Promise.all(Array.from({ length: parallel }, worker));
  process.stdout.write(JSON.stringify({ made, tlsOk, serverClosed }) + "\n");
})();
`;
