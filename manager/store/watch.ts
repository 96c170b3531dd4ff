/**
 * A watched prefix that never loses a change: `PrefixMirror` keeps an in-memory copy of
 * every key under a prefix and tells its subscribers about each change, in revision order.
 *
 *   start: list(prefix) at revision R → copy; watch from R + 1
 *   event batch at revision r → apply to the copy, emit (r strictly increases)
 *   compacted (the resume point is gone) → list again at R', emit the *difference*
 *     between the copy and the fresh listing as synthetic puts/deletes at R', watch
 *     from R' + 1
 *   watch failed for another reason → the same resync after a pause
 *
 * Subscribers therefore see one consistent stream of (key, value) changes whatever
 * happened to the watch; what they may miss after a compaction are intermediate values
 * of a key that changed several times, never its final value (state, not history, is
 * what the manager serves).
 */
import type { Logger } from "../../common/logger.js";
import { silentLogger } from "../../common/logger.js";
import type { CachedKvReader, Kv, KvEntry, KvEvent, KvWatch } from "./kv.js";

export interface MirrorChange {
  events: KvEvent[];
  revision: number;
  /** True when the events come from a resync after compaction or a failed watch. */
  resync: boolean;
}

export type MirrorListener = (change: MirrorChange) => void;

/** Pause before resyncing after a failed watch (etcd unreachable), doubling up to the cap. */
const RESYNC_BACKOFF_MS = 200;
const RESYNC_BACKOFF_MAX_MS = 5_000;

export class PrefixMirror implements CachedKvReader {
  private readonly entries = new Map<string, KvEntry>();
  private readonly listeners = new Set<MirrorListener>();
  private watch: KvWatch | undefined;
  private revision = 0;
  private running = false;
  private backoffMs = RESYNC_BACKOFF_MS;
  private resyncTimer: NodeJS.Timeout | undefined;
  /** Number of resyncs done (compactions survived), for tests and metrics. */
  resyncs = 0;

  constructor(
    private readonly kv: Kv,
    readonly prefix: string,
    private readonly log: Logger = silentLogger(),
  ) {}

  /** Loads the prefix and starts watching; resolves once the copy is complete. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const { entries, revision } = await this.kv.list(this.prefix);
    for (const e of entries) this.entries.set(e.key, e);
    this.revision = revision;
    this.watchFrom(revision + 1);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.resyncTimer !== undefined) clearTimeout(this.resyncTimer);
    await this.watch?.cancel();
    this.watch = undefined;
  }

  /** The revision the copy reflects. */
  get currentRevision(): number {
    return this.revision;
  }

  /** The local entry of `key` (synchronous; see `get` for the reader interface). */
  entry(key: string): KvEntry | undefined {
    return this.entries.get(key);
  }

  /** Entries under `subPrefix` (which must start with the mirror's prefix), sorted by key. */
  entriesUnder(subPrefix: string = this.prefix): KvEntry[] {
    return [...this.entries.values()].filter((e) => e.key.startsWith(subPrefix)).sort(byKey);
  }

  /** Whether reads of `key` (or a prefix) can be served here: started and under the prefix. */
  covers(key: string): boolean {
    return this.running && this.revision > 0 && key.startsWith(this.prefix);
  }

  async get(key: string): Promise<{ entry: KvEntry | undefined; revision: number }> {
    return { entry: this.entries.get(key), revision: this.revision };
  }

  async list(prefix: string): Promise<{ entries: KvEntry[]; revision: number }> {
    return { entries: this.entriesUnder(prefix), revision: this.revision };
  }

  subscribe(fn: MirrorListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Resolves once the copy reflects at least `revision` (e.g. after a local write). */
  waitFor(revision: number, timeoutMs = 10_000): Promise<boolean> {
    if (this.revision >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(false);
      }, timeoutMs);
      timer.unref();
      const off = this.subscribe(() => {
        if (this.revision < revision) return;
        clearTimeout(timer);
        off();
        resolve(true);
      });
    });
  }

  private watchFrom(start: number): void {
    this.watch = this.kv.watch(this.prefix, start, {
      events: (events, revision) => {
        if (!this.running || revision <= this.revision) return;
        this.backoffMs = RESYNC_BACKOFF_MS;
        for (const e of events) {
          if (e.type === "put") {
            const prev = this.entries.get(e.key);
            this.entries.set(e.key, {
              key: e.key,
              value: e.value,
              createRevision: prev?.createRevision ?? e.modRevision,
              modRevision: e.modRevision,
            });
          } else {
            this.entries.delete(e.key);
          }
        }
        this.revision = revision;
        this.emit({ events, revision, resync: false });
      },
      compacted: () => {
        this.log.warn({ prefix: this.prefix, revision: this.revision }, "watch compacted; resyncing");
        this.scheduleResync(0);
      },
      failed: (err) => {
        this.log.warn({ prefix: this.prefix, err: err.message }, "watch failed; resyncing");
        this.scheduleResync(this.backoffMs);
        this.backoffMs = Math.min(this.backoffMs * 2, RESYNC_BACKOFF_MAX_MS);
      },
    });
  }

  private scheduleResync(delayMs: number): void {
    if (!this.running) return;
    const old = this.watch;
    this.watch = undefined;
    void old?.cancel();
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      this.resync().catch((err: unknown) => {
        this.log.warn({ prefix: this.prefix, err: String(err) }, "resync failed; retrying");
        this.scheduleResync(this.backoffMs);
        this.backoffMs = Math.min(this.backoffMs * 2, RESYNC_BACKOFF_MAX_MS);
      });
    }, delayMs);
    this.resyncTimer.unref();
  }

  private async resync(): Promise<void> {
    const { entries, revision } = await this.kv.list(this.prefix);
    if (!this.running) return;
    const fresh = new Map(entries.map((e) => [e.key, e]));
    const events: KvEvent[] = [];
    for (const [key, e] of fresh) {
      const old = this.entries.get(key);
      if (old === undefined || old.modRevision !== e.modRevision) {
        events.push({ type: "put", key, value: e.value, modRevision: e.modRevision });
      }
    }
    for (const key of this.entries.keys()) {
      if (!fresh.has(key)) events.push({ type: "delete", key, value: "", modRevision: revision });
    }
    this.entries.clear();
    for (const [k, e] of fresh) this.entries.set(k, e);
    this.resyncs++;
    if (revision > this.revision) this.revision = revision;
    if (events.length > 0) this.emit({ events, revision: this.revision, resync: true });
    this.watchFrom(revision + 1);
  }

  private emit(change: MirrorChange): void {
    for (const fn of [...this.listeners]) fn(change);
  }
}

function byKey(a: KvEntry, b: KvEntry): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
