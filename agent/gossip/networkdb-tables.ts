/**
 * NetworkDB's table store: network → table → key → the newest version of that entry, and
 * what a subscriber may see of it. Pure: no timers, no network; NetworkDB feeds it events
 * and membership changes and forwards what it reports.
 *
 * Versions: (Lamport time, owner). A version replaces another when its time is larger,
 * or equal with an owner name that sorts higher — every member settles on the same one
 * whatever order events arrive in. A delete is a version too (a tombstone), kept until
 * reaped so a late, older put cannot resurrect the entry.
 *
 * Visibility: an entry is visible when it is not a tombstone and its owner is not dead.
 * A dead owner's entries are *hidden*, not deleted (unlike Docker's NetworkDB, moby#53141,
 * whose DNS answered NXDOMAIN after a short partition): subscribers get a delete, and an
 * add again the moment the owner is alive, unless the reap time passed first. A member
 * that *left* (or left the network) takes its entries with it: they become tombstones.
 *
 * Subscribers hear add (became visible), update (visible, new value or owner) and delete
 * (no longer visible) — never a change they could not observe.
 */
import { bytesEqual } from "./member-table.js";

export interface EntryVersion {
  owner: string;
  ltime: number;
  value: Uint8Array;
  deleted: boolean;
}

export interface StoredEntry extends EntryVersion {
  /** The owner is dead: kept but not visible. */
  hidden: boolean;
  /** When it became a tombstone or hidden (for reaping). */
  sinceMs: number;
}

export type ChangeType = "add" | "update" | "delete";

export interface TableChange {
  type: ChangeType;
  network: string;
  table: string;
  key: string;
  owner: string;
  value: Uint8Array;
}

export interface VisibleEntry {
  key: string;
  owner: string;
  value: Uint8Array;
  ltime: number;
}

export type ApplyResult = "newer" | "same" | "older";

const visible = (e: StoredEntry): boolean => !e.deleted && !e.hidden;

/** True when `a` is a newer version than `b`. */
export function isNewer(a: { ltime: number; owner: string }, b: { ltime: number; owner: string }): boolean {
  return a.ltime > b.ltime || (a.ltime === b.ltime && a.owner > b.owner);
}

export class NetworkTables {
  private readonly networks = new Map<string, Map<string, Map<string, StoredEntry>>>();

  constructor(private readonly onChange: (c: TableChange) => void) {}

  hasNetwork(network: string): boolean {
    return this.networks.has(network);
  }

  addNetwork(network: string): void {
    if (!this.networks.has(network)) this.networks.set(network, new Map());
  }

  /** Forgets a network (we left it); subscribers see every visible entry go. */
  dropNetwork(network: string): void {
    const tables = this.networks.get(network);
    if (tables === undefined) return;
    this.networks.delete(network);
    for (const [table, entries] of tables) {
      for (const [key, e] of entries) if (visible(e)) this.emit("delete", network, table, key, e);
    }
  }

  get(network: string, table: string, key: string): StoredEntry | undefined {
    return this.networks.get(network)?.get(table)?.get(key);
  }

  /**
   * Offers a version of an entry; applied when newer. `ownerDead` stores it hidden.
   * Ignored (reported "older") for a network we are not in.
   */
  apply(
    network: string,
    table: string,
    key: string,
    v: EntryVersion,
    ownerDead: boolean,
    nowMs: number,
  ): ApplyResult {
    const tables = this.networks.get(network);
    if (tables === undefined) return "older";
    let entries = tables.get(table);
    const cur = entries?.get(key);
    if (cur !== undefined) {
      if (!isNewer(v, cur)) return cur.ltime === v.ltime && cur.owner === v.owner ? "same" : "older";
    }
    const next: StoredEntry = { ...v, hidden: ownerDead, sinceMs: nowMs };
    if (entries === undefined) {
      entries = new Map();
      tables.set(table, entries);
    }
    entries.set(key, next);
    const was = cur !== undefined && visible(cur);
    const is = visible(next);
    if (!was && is) this.emit("add", network, table, key, next);
    else if (was && !is) this.emit("delete", network, table, key, cur);
    else if (was && is && (cur.owner !== next.owner || !bytesEqual(cur.value, next.value))) {
      this.emit("update", network, table, key, next);
    }
    return "newer";
  }

  /** The owner was declared dead: hide its entries. */
  hideOwner(owner: string, nowMs: number): number {
    let n = 0;
    this.forOwned(owner, undefined, (network, table, key, e) => {
      if (e.hidden) return;
      const was = visible(e);
      e.hidden = true;
      e.sinceMs = nowMs;
      n++;
      if (was) this.emit("delete", network, table, key, e);
    });
    return n;
  }

  /** The owner is alive again: show its entries. Returns how many were hidden. */
  unhideOwner(owner: string): number {
    let n = 0;
    this.forOwned(owner, undefined, (network, table, key, e) => {
      if (!e.hidden) return;
      e.hidden = false;
      n++;
      if (visible(e)) this.emit("add", network, table, key, e);
    });
    return n;
  }

  /**
   * The owner left (the cluster, or `network`): its entries become local tombstones at
   * their own version, so any member that has not heard yet converges on the same result.
   */
  deleteOwned(owner: string, network: string | undefined, nowMs: number): void {
    this.forOwned(owner, network, (net, table, key, e) => {
      if (e.deleted) return;
      const was = visible(e);
      e.deleted = true;
      e.sinceMs = nowMs;
      if (was) this.emit("delete", net, table, key, e);
    });
  }

  /** Visible entries of one table. */
  entries(network: string, table: string): VisibleEntry[] {
    const out: VisibleEntry[] = [];
    const entries = this.networks.get(network)?.get(table);
    if (entries === undefined) return out;
    for (const [key, e] of entries)
      if (visible(e)) out.push({ key, owner: e.owner, value: e.value, ltime: e.ltime });
    return out;
  }

  /** Every stored entry of a network (tombstones and hidden ones too): a bulk sync's payload. */
  *all(network: string): Generator<{ table: string; key: string; entry: StoredEntry }> {
    const tables = this.networks.get(network);
    if (tables === undefined) return;
    for (const [table, entries] of tables) for (const [key, entry] of entries) yield { table, key, entry };
  }

  /** Removes tombstones and hidden entries older than `reapMs`. */
  reap(nowMs: number, reapMs: number): number {
    let n = 0;
    for (const tables of this.networks.values()) {
      for (const [table, entries] of tables) {
        for (const [key, e] of entries) {
          if ((e.deleted || e.hidden) && nowMs - e.sinceMs >= reapMs) {
            entries.delete(key);
            n++;
          }
        }
        if (entries.size === 0) tables.delete(table);
      }
    }
    return n;
  }

  counts(): { entries: number; tombstones: number; hidden: number } {
    let entries = 0;
    let tombstones = 0;
    let hidden = 0;
    for (const tables of this.networks.values()) {
      for (const t of tables.values()) {
        for (const e of t.values()) {
          if (e.deleted) tombstones++;
          else if (e.hidden) hidden++;
          else entries++;
        }
      }
    }
    return { entries, tombstones, hidden };
  }

  /** Live entries per table name (over every network), for the metrics. */
  entriesByTable(): Map<string, number> {
    const out = new Map<string, number>();
    for (const tables of this.networks.values()) {
      for (const [name, t] of tables) {
        let n = 0;
        for (const e of t.values()) if (!e.deleted && !e.hidden) n++;
        out.set(name, (out.get(name) ?? 0) + n);
      }
    }
    return out;
  }

  private forOwned(
    owner: string,
    network: string | undefined,
    fn: (network: string, table: string, key: string, e: StoredEntry) => void,
  ): void {
    for (const [net, tables] of this.networks) {
      if (network !== undefined && net !== network) continue;
      for (const [table, entries] of tables) {
        for (const [key, e] of entries) if (e.owner === owner) fn(net, table, key, e);
      }
    }
  }

  private emit(type: ChangeType, network: string, table: string, key: string, e: EntryVersion): void {
    this.onChange({ type, network, table, key, owner: e.owner, value: e.value });
  }
}
