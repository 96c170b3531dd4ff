/**
 * Readiness of a task's process: whether it listens on its service's target ports yet.
 *
 * A task's container runs its process the moment it is wired, but a program takes a
 * while before it listens (a Node program: half a second, seconds on a loaded node).
 * Docker's mesh sends requests to a task from the moment it runs, so every replacement or
 * scaled-up task answers "connection refused" for that while, unless the image has a
 * health check. swarmnet waits without one: a task names its service (and so becomes a
 * backend of every node's mesh and a `tasks.SERVICE` answer) only once its process
 * listens on every published target port — TCP sockets in LISTEN, UDP sockets bound.
 *
 * The check reads the process's own view of its namespace's sockets, /proc/PID/net/tcp
 * (and tcp6, udp, udp6): no program is spawned, whatever the number of tasks. A process
 * that has not listened after `timeoutMs` becomes a backend anyway, with a warning: the
 * port may simply be one it opens late, and it must not be worse off than in Docker.
 */
import { readFileSync } from "node:fs";
import type { PublishedPort } from "../../common/cluster-types.js";

export const READINESS_DEFAULTS = {
  /**
   * How often a waiting task's sockets are read: a few small file reads per waiting task,
   * and only while one waits; every poll interval is added, half of it on average, to a
   * new task's time to serve (issue 16: 100 ms cost ~50 ms of every scale-up).
   */
  pollMs: 20,
  /** After this, a task that still does not listen is a backend anyway (see the header). */
  timeoutMs: 60_000,
};

/** "80/tcp": the form a port keeps in a container record and in messages. */
export type ReadyPort = `${number}/${"tcp" | "udp"}`;

/** The distinct target ports of a task's published ports. */
export function readyPorts(ports: readonly Pick<PublishedPort, "targetPort" | "protocol">[]): ReadyPort[] {
  return [...new Set(ports.map((p): ReadyPort => `${p.targetPort}/${p.protocol}`))].sort();
}

/** TCP LISTEN; for UDP, 07 (close) is how a bound, unconnected socket shows. */
const LISTENING_STATE = { tcp: "0A", udp: "07" } as const;

/**
 * The local ports in `text` (a /proc/net/{tcp,udp}[6] table) whose sockets listen:
 * "sl local_address rem_address st …", the address as hex "0100007F:1F90".
 */
export function listeningInTable(text: string, protocol: "tcp" | "udp"): Set<number> {
  const ports = new Set<number>();
  for (const line of text.split("\n").slice(1)) {
    const [, local, , st] = line.trim().split(/\s+/);
    if (local === undefined || st !== LISTENING_STATE[protocol]) continue;
    const port = parseInt(local.slice(local.lastIndexOf(":") + 1), 16);
    if (Number.isInteger(port)) ports.add(port);
  }
  return ports;
}

/** The ports of `wanted` that process `pid` does not listen on yet (its namespace's sockets). */
export function notListening(pid: number, wanted: readonly ReadyPort[]): ReadyPort[] {
  const listening = { tcp: new Set<number>(), udp: new Set<number>() };
  for (const protocol of ["tcp", "udp"] as const) {
    if (!wanted.some((p) => p.endsWith(`/${protocol}`))) continue;
    for (const table of [protocol, `${protocol}6`]) {
      try {
        for (const port of listeningInTable(readFileSync(`/proc/${pid}/net/${table}`, "utf8"), protocol))
          listening[protocol].add(port);
      } catch {
        // no IPv6 in the namespace, or the process just exited (liveness reports that)
      }
    }
  }
  return wanted.filter((p) => {
    const [port, protocol] = p.split("/") as [string, "tcp" | "udp"];
    return !listening[protocol].has(Number(port));
  });
}
