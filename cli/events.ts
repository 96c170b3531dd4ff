/**
 * `swarmnet events`, as `docker events`: a stream of what happens in the cluster (nodes
 * joining, ready, down; networks and services created, updated, removed; task state
 * changes; key rotations by tag) from the first manager that answers.
 *
 *   --since / --until   RFC 3339 time, Unix seconds, or a duration back from now (10m);
 *                       with --until the command ends when that time passes
 *   -f type=… event=…   the same key twice: either value; different keys: both
 *   --format json       one JSON object per line (Docker's field names); default one
 *                       line per event: `TIME TYPE ACTION ID (k=v, …)`
 */
import type { Command } from "commander";
import type * as grpc from "@grpc/grpc-js";
import { ErrorCode, SwarmnetError } from "../common/errors.js";
import { fromGrpcError } from "../common/grpc-errors.js";
import type { ClusterEvent__Output } from "../proto/generated/swarmnet/v1/ClusterEvent.js";
import { collect, withManagers, type ManagerClient } from "./manager-client.js";

const FILTER_KEYS = { type: "types", event: "actions" } as const;

/** Docker's time arguments: RFC 3339 (or a date), Unix seconds, or a Go-style duration ago. */
export function parseEventTime(raw: string, nowMs: number): number {
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.round(Number(raw) * 1000);
  const d = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?$/.exec(raw);
  if (d !== null && raw !== "") {
    const [h, m, s] = [d[1], d[2], d[3]].map((x) => Number(x ?? 0)) as [number, number, number];
    return nowMs - ((h * 60 + m) * 60 + s) * 1000;
  }
  const t = Date.parse(raw);
  if (Number.isNaN(t)) {
    throw new SwarmnetError(
      ErrorCode.InvalidArgument,
      `invalid time ${JSON.stringify(raw)}: use RFC 3339 (2026-01-02T15:04:05Z), Unix seconds or a duration (10m)`,
    );
  }
  return t;
}

export function parseFilters(raw: readonly string[]): { types: string[]; actions: string[] } {
  const out = { types: [] as string[], actions: [] as string[] };
  for (const f of raw) {
    const i = f.indexOf("=");
    const key = f.slice(0, i);
    if (i <= 0 || !(key in FILTER_KEYS) || f.slice(i + 1) === "") {
      throw new SwarmnetError(ErrorCode.InvalidArgument, `invalid filter '${f}' (keys: type, event)`);
    }
    out[FILTER_KEYS[key as keyof typeof FILTER_KEYS]].push(f.slice(i + 1));
  }
  return out;
}

/** Docker's JSON fields for one event. */
export function eventJson(e: ClusterEvent__Output) {
  const ms = Number(e.timeMs);
  return {
    Type: e.type,
    Action: e.action,
    Actor: { ID: e.actorId, Attributes: e.attributes },
    scope: "swarm",
    time: Math.floor(ms / 1000),
    timeNano: `${ms}000000`,
  };
}

export function eventLine(e: ClusterEvent__Output): string {
  const attrs = Object.entries(e.attributes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
  const when = new Date(Number(e.timeMs)).toISOString().replace(/Z$/, "000000Z");
  return `${when} ${e.type} ${e.action} ${e.actorId}${attrs === "" ? "" : ` (${attrs})`}`;
}

/** Streams from the first manager that answers; resolves when the stream ends. */
async function stream(
  client: ManagerClient,
  request: object,
  onEvent: (e: ClusterEvent__Output) => void,
): Promise<void> {
  let last: SwarmnetError | undefined;
  for (const address of client.addresses) {
    let seen = false;
    try {
      await new Promise<void>((resolve, reject) => {
        const call = client.clientsFor(address).events.Stream(request);
        const stop = () => call.cancel();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        call.on("data", (e: ClusterEvent__Output) => {
          seen = true;
          onEvent(e);
        });
        call.on("end", resolve);
        call.on("error", (err: grpc.ServiceError) => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          // Cancelled by a signal: the person asked to stop.
          if (err.code === 1) resolve();
          else reject(fromGrpcError(err, `manager ${address}`));
        });
      });
      return;
    } catch (err) {
      if (!(err instanceof SwarmnetError) || err.code !== ErrorCode.Unavailable || seen) throw err;
      last = err;
    }
  }
  throw last ?? new SwarmnetError(ErrorCode.Unavailable, "no manager reachable");
}

export function register(program: Command): void {
  program
    .command("events")
    .description("stream what happens in the cluster (nodes, networks, services, tasks, key rotations)")
    .option("--since <time>", "show events since this time (RFC 3339, Unix seconds or a duration like 10m)")
    .option("--until <time>", "stream until this time, then exit")
    .option(
      "-f, --filter <key=value>",
      "filter: type=node|network|service|task|key, event=ACTION",
      collect,
      [],
    )
    .option("--format <format>", "json: one JSON object per line")
    .option("--manager <addr>", "manager to talk to, host:port (repeatable)", collect)
    .action(
      async (o: {
        since?: string;
        until?: string;
        filter: string[];
        format?: string;
        manager?: string[];
      }) => {
        if (o.format !== undefined && o.format !== "json") {
          throw new SwarmnetError(
            ErrorCode.InvalidArgument,
            `--format must be json, got ${JSON.stringify(o.format)} (templates are not supported)`,
          );
        }
        const now = Date.now();
        const since = o.since === undefined ? undefined : parseEventTime(o.since, now);
        const until = o.until === undefined ? undefined : parseEventTime(o.until, now);
        const filters = parseFilters(o.filter);
        const write =
          o.format === "json"
            ? (e: ClusterEvent__Output) => process.stdout.write(JSON.stringify(eventJson(e)) + "\n")
            : (e: ClusterEvent__Output) => process.stdout.write(eventLine(e) + "\n");
        const request = {
          hasSince: since !== undefined,
          sinceMs: String(since ?? 0),
          hasUntil: until !== undefined,
          untilMs: String(until ?? 0),
          ...filters,
        };
        await withManagers(o.manager, (client) => stream(client, request, write));
      },
    );
}
