/**
 * Which objects a reconcile pass looks at closely — enters a container's namespace to
 * check its side of a link (interface up, address present).
 *
 * Looking at every container on every pass made the agent's work grow with its
 * containers: one `ip -n <container>` spawn per container per reconciler, on every 10 s
 * resync and on every `run` (#16 measured 31–35 % of a core at idle with 67 containers
 * per node, and `run` taking 8 s on such a node). So a pass trusts what it sees from the
 * node's side — a veth whose peer is gone or down has no carrier (no LOWER_UP) — and
 * looks closely only:
 *   - at everything on the first pass (adopting what a previous agent left), and
 *   - on each resync pass, at the next `perPass` keys in a fixed rotating order, so every
 *     object is checked again within ceil(N / perPass) resyncs (200 containers, 16 per
 *     pass, 10 s resyncs: every two minutes), at a cost that does not grow with N.
 * What only a close look finds (an address removed inside a container) is drift nobody
 * but a root process in the container causes; it is repaired on that rotation.
 */

/** Close looks per resync pass, per reconciler. */
export const DEEP_CHECKS_PER_RESYNC = 16;

export class DeepChecks {
  private first = true;
  private cursor = 0;

  constructor(private readonly perPass = DEEP_CHECKS_PER_RESYNC) {}

  /** The keys to look at closely in this pass (`keys`: every candidate, any order). */
  pick(keys: readonly string[], resync: boolean): ReadonlySet<string> {
    if (this.first) {
      this.first = false;
      return new Set(keys);
    }
    if (!resync || keys.length === 0) return new Set();
    if (keys.length <= this.perPass) return new Set(keys);
    const sorted = [...keys].sort();
    const start = this.cursor % sorted.length;
    this.cursor = start + this.perPass;
    const picked = sorted.slice(start, start + this.perPass);
    if (picked.length < this.perPass) picked.push(...sorted.slice(0, this.perPass - picked.length));
    return new Set(picked);
  }
}
