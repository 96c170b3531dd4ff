/**
 * The Events gRPC service: a server stream of the manager's event log. History first
 * (with `has_since`), then live events until the client cancels or `until_ms` passes —
 * `docker events --since/--until` semantics. Filters are validated here (one clear
 * message naming the bad value) so a wrong filter never opens a stream. Events are
 * cluster state: the caller needs a manager certificate (or the manager's local socket),
 * as every control API (authorization.ts); a worker gets Docker's "not a swarm manager".
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import { toGrpcError } from "../../common/grpc-errors.js";
import type { ClusterEvent as ClusterEventProto } from "../../proto/generated/swarmnet/v1/ClusterEvent.js";
import type { EventsHandlers } from "../../proto/generated/swarmnet/v1/Events.js";
import { authorize, type AuthorizationSource } from "../grpc/authorization.js";
import { EVENT_TYPES, matches, type ClusterEvent, type EventFilter, type EventLog } from "./event-log.js";

export function eventToProto(e: ClusterEvent): ClusterEventProto {
  return {
    type: e.type,
    action: e.action,
    actorId: e.actorId,
    attributes: e.attributes,
    timeMs: String(e.timeMs),
  };
}

function filterOf(types: string[], actions: string[]): EventFilter {
  for (const t of types) {
    if (!(EVENT_TYPES as readonly string[]).includes(t)) {
      throw new SwarmnetError(
        ErrorCode.InvalidArgument,
        `invalid filter 'type=${t}' (types: ${EVENT_TYPES.join(", ")})`,
      );
    }
  }
  return { types, actions };
}

export function eventsHandlers(log: EventLog, a: AuthorizationSource): EventsHandlers {
  return {
    Stream: async (call) => {
      const r = call.request;
      let filter: EventFilter;
      try {
        filter = filterOf(r.types, r.actions);
        await authorize(call, "manager", a);
      } catch (err) {
        call.emit("error", toGrpcError(err));
        return;
      }
      if (call.cancelled) return;
      const until = r.hasUntil ? Number(r.untilMs) : Infinity;
      const send = (e: ClusterEvent) => {
        if (e.timeMs <= until && matches(e, filter)) call.write(eventToProto(e));
      };
      const unsubscribe = log.subscribe(send);
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        unsubscribe();
        if (timer !== undefined) clearTimeout(timer);
      };
      call.on("cancelled", finish);
      call.on("error", finish);
      if (r.hasSince) for (const e of log.since(Number(r.sinceMs), filter)) send(e);
      if (Number.isFinite(until)) {
        timer = setTimeout(
          () => {
            finish();
            call.end();
          },
          Math.max(0, until - Date.now()),
        );
      }
    },
  };
}
