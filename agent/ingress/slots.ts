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

export function assignSlots(previous: readonly string[] | undefined, desired: readonly string[]): string[] {
  if (previous === undefined || previous.length === 0) return sortedUnique(desired);
  const want = new Set(desired);
  const slots: (string | undefined)[] = (previous ?? []).map((b) => (want.has(b) ? b : undefined));
  const placed = new Set(slots.filter((b): b is string => b !== undefined));
  const incoming = sortAddresses([...want].filter((b) => !placed.has(b)));
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

/**
 * `desired` sorted and without duplicates. Lists usually arrive sorted already, so that is
 * checked first without allocating (a first build sees 100,000 backends).
 */
function sortedUnique(desired: readonly string[]): string[] {
  for (let i = 1; i < desired.length; i++) {
    const a = desired[i - 1] as string;
    const b = desired[i] as string;
    if (compareAddresses(a, b) >= 0) return dropAdjacentDuplicates(sortAddresses(desired));
  }
  return desired.slice();
}

function dropAdjacentDuplicates(sorted: string[]): string[] {
  return sorted.filter((b, i) => i === 0 || sorted[i - 1] !== b);
}

/** Sorts dotted IPv4 text numerically (10.0.0.9 before 10.0.0.10), anything else after, as text. */
export function sortAddresses(list: readonly string[]): string[] {
  // Keyed once per item: a comparator that parses would parse O(n log n) times.
  return list
    .map((text) => ({ text, key: ipv4Key(text) }))
    .sort((a, b) => a.key - b.key || (a.text < b.text ? -1 : a.text > b.text ? 1 : 0))
    .map((k) => k.text);
}

/** Orders dotted IPv4 text numerically, anything else after it, as text. */
export function compareAddresses(a: string, b: string): number {
  return ipv4Key(a) - ipv4Key(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** The address as a number, or 2^32 for text that is not a dotted quad (a char loop: hot path). */
function ipv4Key(text: string): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c >= 0 && c <= 9) {
      part = part * 10 + c;
      if (++digits > 3 || part > 255) return NOT_AN_ADDRESS;
    } else if (c === -2 && digits > 0 && dots < 3) {
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else return NOT_AN_ADDRESS;
  }
  return dots === 3 && digits > 0 ? value * 256 + part : NOT_AN_ADDRESS;
}

const NOT_AN_ADDRESS = 2 ** 32;
