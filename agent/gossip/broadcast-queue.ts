/**
 * The transmit-limited broadcast queue (memberlist's TransmitLimitedQueue). Every state
 * change a member learns is queued once, already encoded, and piggy-backed on outgoing
 * packets (pings, acks, gossip) until it has been sent `limit()` times, where
 * limit = retransmitMult × ⌈log10(N + 1)⌉ is read at each take so it follows N.
 *
 * Rules:
 *   - Messages sent fewer times go first; among equals the newest goes first, so fresh
 *     news overtakes old news.
 *   - A message with a key (a member's name, a NetworkDB entry) invalidates the queued
 *     message with the same key: only the newest word about a thing is worth bytes.
 *   - `take` packs into a byte budget: a message that does not fit is skipped, a smaller
 *     one behind it may still go.
 *
 * Shape, for speed at thousands of members: one doubly linked list per transmit count
 * (O(1) insert, unlink and invalidate) and a key map. A take walks the lists from count 0
 * up and stops once the budget cannot hold even the smallest message.
 */

interface Item {
  key: string | undefined;
  bytes: Uint8Array;
  /** Bytes this message occupies inside a compound packet, framing included. */
  cost: number;
  transmits: number;
  prev: Item | undefined;
  next: Item | undefined;
  onDone: ((sent: boolean) => void) | undefined;
}

/** Stop scanning once this many messages in a row did not fit. */
const MAX_SKIPPED_PER_TAKE = 64;

export class BroadcastQueue {
  private heads: (Item | undefined)[] = [];
  private readonly byKey = new Map<string, Item>();
  private count = 0;
  private minCost = Infinity;
  private readonly picked: Item[] = [];

  /**
   * @param limit the current retransmit limit (called on every take)
   * @param costOf bytes a message of `length` bytes takes inside a packet, framing included
   */
  constructor(
    private readonly limit: () => number,
    private readonly costOf: (length: number) => number,
  ) {}

  /** Messages waiting to be sent (again). */
  get depth(): number {
    return this.count;
  }

  /**
   * Queues `bytes` (one encoded message). `onDone(true)` runs when it has been sent
   * `limit()` times, `onDone(false)` when a newer message with the same key replaced it
   * or the queue was reset.
   */
  enqueue(key: string | undefined, bytes: Uint8Array, onDone?: (sent: boolean) => void): void {
    if (key !== undefined) {
      const old = this.byKey.get(key);
      if (old !== undefined) this.drop(old, false);
    }
    const cost = this.costOf(bytes.length);
    const item: Item = { key, bytes, cost, transmits: 0, prev: undefined, next: undefined, onDone };
    if (key !== undefined) this.byKey.set(key, item);
    this.insertHead(item);
    this.count++;
    if (cost < this.minCost) this.minCost = cost;
  }

  /**
   * Appends messages that fit in `budgetBytes` to `out`, counts one transmission for each,
   * and returns the bytes used.
   */
  take(budgetBytes: number, out: Uint8Array[]): number {
    if (this.count === 0) return 0;
    const limit = this.limit();
    let remaining = budgetBytes;
    let skipped = 0;
    const picked = this.picked;
    scan: for (let t = 0; t < this.heads.length; t++) {
      for (let item = this.heads[t]; item !== undefined; item = item.next) {
        if (remaining < this.minCost || skipped >= MAX_SKIPPED_PER_TAKE) break scan;
        if (item.transmits >= limit) {
          picked.push(item); // past a lowered limit: retire it below
          continue;
        }
        if (item.cost > remaining) {
          skipped++;
          continue;
        }
        skipped = 0;
        remaining -= item.cost;
        out.push(item.bytes);
        picked.push(item);
      }
    }
    for (const item of picked) {
      this.unlink(item);
      item.transmits++;
      if (item.transmits >= limit) {
        this.forget(item);
        item.onDone?.(true);
      } else {
        this.insertHead(item);
      }
    }
    picked.length = 0;
    if (this.count === 0) this.minCost = Infinity;
    return budgetBytes - remaining;
  }

  /** Drops every message (their onDone sees false). */
  reset(): void {
    for (const head of this.heads) {
      for (let item = head; item !== undefined; item = item.next) item.onDone?.(false);
    }
    this.heads = [];
    this.byKey.clear();
    this.count = 0;
    this.minCost = Infinity;
  }

  private drop(item: Item, sent: boolean): void {
    this.unlink(item);
    this.forget(item);
    item.onDone?.(sent);
  }

  private forget(item: Item): void {
    if (item.key !== undefined && this.byKey.get(item.key) === item) this.byKey.delete(item.key);
    this.count--;
  }

  private insertHead(item: Item): void {
    const t = item.transmits;
    while (this.heads.length <= t) this.heads.push(undefined);
    const head = this.heads[t];
    item.prev = undefined;
    item.next = head;
    if (head !== undefined) head.prev = item;
    this.heads[t] = item;
  }

  private unlink(item: Item): void {
    if (item.prev !== undefined) item.prev.next = item.next;
    else this.heads[item.transmits] = item.next;
    if (item.next !== undefined) item.next.prev = item.prev;
    item.prev = undefined;
    item.next = undefined;
  }
}
