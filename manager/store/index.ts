/**
 * The manager's store: a typed layer over etcd (or an in-memory stand-in) with one
 * documented key layout, optimistic multi-key transactions and watches that survive
 * compaction. See `keys.ts` for the layout and `txn.ts`, `watch.ts` for the guarantees.
 */
export type { Kv, KvCompare, KvEntry, KvEvent, KvLease, KvOp, KvWatch, KvWatchListener } from "./kv.js";
export { MemoryKv } from "./memory-kv.js";
export { EtcdKv, type EtcdKvOptions } from "./etcd-kv.js";
export { keys, lastSegment, ROOT } from "./keys.js";
export * from "./records.js";
export { runTransaction, TxnContext, TXN_DEFAULTS, type TxnOptions, type TxnOutcome } from "./txn.js";
export { PrefixMirror, type MirrorChange, type MirrorListener } from "./watch.js";
export { Store, StoreTxn } from "./store.js";
