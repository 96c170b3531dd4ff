/**
 * Sticky slot assignment for a balanced group (a published port or a VIP). The kernel
 * picks a backend as `numgen inc mod N` → slot → backend, so slots must be dense (0…N-1).
 * Keeping survivors where they were makes a change of one backend touch O(1) map elements
 * instead of reshuffling the group:
 *
 *   - a backend that stays keeps its slot;
 *   - a new backend takes the lowest free slot (a hole left by a removed one), else is
 *     appended;
 *   - holes still open are filled by moving the backends from the highest slots down.
 *
 * So replacing one backend rewrites one slot; adding one adds one slot; removing one
 * rewrites at most one slot and drops the last. Established connections never notice:
 * their NAT binding lives in conntrack, not in the map. New backends are placed in
 * sorted order so the result depends only on (previous, desired).
 */
import { parseIpv4 } from "../../common/net-addr.js";

export function assignSlots(previous: readonly string[] | undefined, desired: readonly string[]): string[] {
  const want = new Set(desired);
  const slots: (string | undefined)[] = (previous ?? []).map((b) => (want.has(b) ? b : undefined));
  const placed = new Set(slots.filter((b): b is string => b !== undefined));
  const incoming = [...want].filter((b) => !placed.has(b)).sort(compareAddresses);
  for (const b of incoming) {
    const hole = slots.indexOf(undefined);
    if (hole >= 0) slots[hole] = b;
    else slots.push(b);
  }
  // Fill the remaining holes from the top, so slots stay dense.
  for (;;) {
    while (slots.length > 0 && slots[slots.length - 1] === undefined) slots.pop();
    const hole = slots.indexOf(undefined);
    if (hole < 0) break;
    slots[hole] = slots.pop();
  }
  return slots as string[];
}

/** Orders dotted IPv4 text numerically (10.0.0.9 before 10.0.0.10); anything else as text. */
export function compareAddresses(a: string, b: string): number {
  const na = parseIpv4(a);
  const nb = parseIpv4(b);
  if (na !== undefined && nb !== undefined) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}
