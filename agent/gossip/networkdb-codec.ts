/**
 * NetworkDB's messages (proto/gossip.proto, NetworkDb*), carried inside membership's
 * opaque `user` field: network join/leave events, table events (put / delete), bulk
 * syncs and NetworkDB's part of a push-pull. Decoding never throws: a malformed message
 * is `undefined` and the caller counts it.
 */
import type protobuf from "protobufjs";
import { protoType } from "../../common/proto.js";
import { EMPTY_BYTES } from "./codec.js";

export type NetworkEventType = "join" | "leave";
export type TableEventType = "put" | "delete";

export interface NetworkEvent {
  type: NetworkEventType;
  ltime: number;
  node: string;
  networkId: string;
}

export interface TableEventMsg {
  type: TableEventType;
  ltime: number;
  owner: string;
  networkId: string;
  table: string;
  key: string;
  value: Uint8Array;
}

export interface BulkSync {
  networkId: string;
  entries: TableEventMsg[];
  sourceNode: string;
}

export interface NetworkDbState {
  networks: NetworkEvent[];
  networkLtime: number;
  tableLtime: number;
}

export type NetworkDbMessage =
  | { kind: "networkEvent"; networkEvent: NetworkEvent }
  | { kind: "tableEvent"; tableEvent: TableEventMsg }
  | { kind: "bulkSync"; bulkSync: BulkSync };

/** Enum numbers: only append, they are the protocol. */
const NET_TYPES: readonly NetworkEventType[] = ["join", "leave"];
const TABLE_TYPES: readonly TableEventType[] = ["put", "delete"];

let types: { message: protobuf.Type; state: protobuf.Type } | undefined;
function wire(): { message: protobuf.Type; state: protobuf.Type } {
  types ??= { message: protoType("NetworkDbMessage"), state: protoType("NetworkDbState") };
  return types;
}

const netToWire = (e: NetworkEvent) => ({ ...e, type: NET_TYPES.indexOf(e.type) });
const tableToWire = (e: TableEventMsg) => ({ ...e, type: TABLE_TYPES.indexOf(e.type) });

export function encodeNetworkDbMessage(m: NetworkDbMessage): Uint8Array {
  switch (m.kind) {
    case "networkEvent":
      return wire()
        .message.encode({ networkEvent: netToWire(m.networkEvent) })
        .finish();
    case "tableEvent":
      return wire()
        .message.encode({ tableEvent: tableToWire(m.tableEvent) })
        .finish();
    case "bulkSync":
      return wire()
        .message.encode({ bulkSync: { ...m.bulkSync, entries: m.bulkSync.entries.map(tableToWire) } })
        .finish();
  }
}

interface RawNet {
  type: number;
  ltime: number;
  node: string;
  networkId: string;
}
interface RawTable {
  type: number;
  ltime: number;
  owner: string;
  networkId: string;
  table: string;
  key: string;
  value: unknown;
}

function netFromRaw(r: RawNet): NetworkEvent | undefined {
  const type = NET_TYPES[r.type];
  if (type === undefined || r.node === "" || r.networkId === "") return undefined;
  return { type, ltime: r.ltime, node: r.node, networkId: r.networkId };
}

function tableFromRaw(r: RawTable): TableEventMsg | undefined {
  const type = TABLE_TYPES[r.type];
  if (type === undefined || r.owner === "" || r.networkId === "" || r.table === "" || r.key === "")
    return undefined;
  return {
    type,
    ltime: r.ltime,
    owner: r.owner,
    networkId: r.networkId,
    table: r.table,
    key: r.key,
    value: r.value instanceof Uint8Array ? r.value : EMPTY_BYTES,
  };
}

export function decodeNetworkDbMessage(buf: Uint8Array): NetworkDbMessage | undefined {
  try {
    const raw = wire().message.decode(buf) as unknown as {
      kind?: string;
      networkEvent?: RawNet;
      tableEvent?: RawTable;
      bulkSync?: { networkId: string; entries: RawTable[]; sourceNode: string };
    };
    switch (raw.kind) {
      case "networkEvent": {
        const e = raw.networkEvent && netFromRaw(raw.networkEvent);
        return e ? { kind: "networkEvent", networkEvent: e } : undefined;
      }
      case "tableEvent": {
        const e = raw.tableEvent && tableFromRaw(raw.tableEvent);
        return e ? { kind: "tableEvent", tableEvent: e } : undefined;
      }
      case "bulkSync": {
        const b = raw.bulkSync;
        if (!b) return undefined;
        const entries: TableEventMsg[] = [];
        for (const r of b.entries) {
          const e = tableFromRaw(r);
          if (e === undefined) return undefined;
          entries.push(e);
        }
        return { kind: "bulkSync", bulkSync: { networkId: b.networkId, entries, sourceNode: b.sourceNode } };
      }
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

export function encodeNetworkDbState(s: NetworkDbState): Uint8Array {
  return wire()
    .state.encode({ ...s, networks: s.networks.map(netToWire) })
    .finish();
}

export function decodeNetworkDbState(buf: Uint8Array): NetworkDbState | undefined {
  if (buf.length === 0) return { networks: [], networkLtime: 0, tableLtime: 0 };
  try {
    const raw = wire().state.decode(buf) as unknown as {
      networks: RawNet[];
      networkLtime: number;
      tableLtime: number;
    };
    const networks: NetworkEvent[] = [];
    for (const r of raw.networks) {
      const e = netFromRaw(r);
      if (e === undefined) return undefined;
      networks.push(e);
    }
    return { networks, networkLtime: raw.networkLtime, tableLtime: raw.tableLtime };
  } catch {
    return undefined;
  }
}
