/**
 * `swarmnet whoami [--port 80]`: the built-in task program the demo and the tests run as
 * a service. It answers HTTP (any method, any path) and, on the same UDP port, echoes
 * datagrams, both with who answered, so a client can see which task the mesh picked and
 * from which address the connection arrived (the masquerade address for ingress, the
 * client itself for host mode). Runs until SIGTERM or SIGINT.
 *
 * The answer is plain text, one `Key: value` per line, in this order (a contract: the
 * tests and the demo parse it with `parseWhoami`):
 *
 *   Task: web.1            $SWARMNET_TASK_NAME, else the hostname
 *   Node: n2               $SWARMNET_NODE, else "unknown"
 *   IP: 10.255.0.5         one line per IPv4 address of the task, loopback left out, sorted
 *   RemoteAddr: 10.255.0.2:40412
 *   Echo: hello            UDP only: the datagram received, trimmed
 */
import { createServer, type Server } from "node:http";
import { createSocket, type Socket } from "node:dgram";
import { hostname, networkInterfaces } from "node:os";
import type { Command } from "commander";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { compareAddresses } from "../agent/ingress/slots.js";

export interface WhoamiAnswer {
  task: string;
  node: string;
  ips: string[];
  remoteAddr: string;
  echo: string | undefined;
}

export function register(program: Command): void {
  program
    .command("whoami")
    .description("a tiny task program: answers HTTP and UDP with its task name, node and addresses")
    .option("--port <port>", "TCP and UDP port to answer on", "80")
    .action(async (o: { port: string }) => {
      await serveWhoami(parsePort(o.port));
    });
}

function parsePort(raw: string): number {
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 65535))
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `--port must be a port in 1..65535, got ${JSON.stringify(raw)}`,
    );
  return n;
}

export function ownIpv4Addresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) out.push(a.address);
  return [...new Set(out)].sort(compareAddresses);
}

/** The answer text for a peer at `remote`; `echo` only for UDP. */
export function whoamiText(remote: string, echo?: string): string {
  const lines = [
    `Task: ${process.env["SWARMNET_TASK_NAME"] || hostname()}`,
    `Node: ${process.env["SWARMNET_NODE"] || "unknown"}`,
    ...ownIpv4Addresses().map((ip) => `IP: ${ip}`),
    `RemoteAddr: ${remote}`,
  ];
  if (echo !== undefined) lines.push(`Echo: ${echo}`);
  return lines.join("\n") + "\n";
}

/** Parses an answer; throws on text that is not one. */
export function parseWhoami(text: string): WhoamiAnswer {
  const answer: WhoamiAnswer = { task: "", node: "", ips: [], remoteAddr: "", echo: undefined };
  for (const line of text.split("\n")) {
    const m = /^(Task|Node|IP|RemoteAddr|Echo): ?(.*)$/.exec(line);
    if (!m) continue;
    const value = m[2] ?? "";
    if (m[1] === "Task") answer.task = value;
    else if (m[1] === "Node") answer.node = value;
    else if (m[1] === "IP") answer.ips.push(value);
    else if (m[1] === "RemoteAddr") answer.remoteAddr = value;
    else answer.echo = value;
  }
  if (answer.task === "")
    throw new SwarmnetError(
      ErrorCode.MalformedMessage,
      `not a whoami answer: ${JSON.stringify(text.slice(0, 80))}`,
    );
  return answer;
}

async function serveWhoami(port: number): Promise<void> {
  const http = createServer((req, res) => {
    const remote = `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? "?"}`;
    const body = whoamiText(remote);
    res.writeHead(200, {
      "content-type": "text/plain; charset=utf-8",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  });
  const udp = createSocket("udp4");
  udp.on("message", (msg, rinfo) => {
    udp.send(
      whoamiText(`${rinfo.address}:${rinfo.port}`, msg.toString("utf8").trim()),
      rinfo.port,
      rinfo.address,
    );
  });
  await Promise.all([listen(http, port), bind(udp, port)]);
  process.stdout.write(`whoami: ${whoamiText("-").split("\n")[0] ?? ""} on port ${port} (tcp, udp)\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      http.closeAllConnections();
      http.close();
      udp.close();
      resolve();
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (err) => reject(portError("tcp", port, err)));
    server.listen(port, "0.0.0.0", () => resolve());
  });
}

function bind(socket: Socket, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once("error", (err) => reject(portError("udp", port, err)));
    socket.bind(port, "0.0.0.0", () => resolve());
  });
}

function portError(proto: string, port: number, err: Error): SwarmnetError {
  const inUse = (err as NodeJS.ErrnoException).code === "EADDRINUSE";
  return new SwarmnetError(
    inUse ? ErrorCode.PortInUse : ErrorCode.Unavailable,
    `whoami: cannot listen on ${proto} port ${port}: ${err.message}`,
    { cause: err },
  );
}
