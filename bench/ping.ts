/**
 * A series of pings whose verdict does not depend on how late a reply is: `ping -c N`
 * alone stops waiting `max(2 × max RTT, interval)` after its last probe, so one reply
 * delayed by a busy machine reads as a lost packet (CI failed on that: 19 of 20 in a
 * batch whose last reply came late). With `-w` ping waits until a deadline two seconds
 * after the last probe — and keeps probing until it has N replies — so the answered
 * probes are counted by sequence number (1..N), never from ping's own totals.
 */

/** Seconds ping may run: the probes, then two seconds for the last replies. */
export function pingDeadlineS(count: number, intervalS: number): number {
  return Math.ceil(count * intervalS) + 2;
}

/** `ping` arguments for `count` probes `intervalS` apart, numeric output, the deadline above. */
export function pingArgs(ip: string, count: number, intervalS: number): string[] {
  const deadline = String(pingDeadlineS(count, intervalS));
  return ["ping", "-n", "-c", String(count), "-i", String(intervalS), "-w", deadline, ip];
}

export interface PingSeries {
  /** Probes sent, of the `count` asked for. */
  sent: number;
  /** Of those, how many were answered (each once, however late before the deadline). */
  received: number;
  /** Mean RTT of the answered probes, ms; NaN when none was. */
  avgMs: number;
}

/** Reads the output of `pingArgs(…, count, …)`. */
export function parsePing(stdout: string, count: number): PingSeries {
  const answered = new Set<number>();
  const rtts: number[] = [];
  for (const m of stdout.matchAll(/icmp_seq=(\d+) .*time=([\d.]+) ms/g)) {
    const seq = Number(m[1]);
    if (seq > count || answered.has(seq)) continue;
    answered.add(seq);
    rtts.push(Number(m[2]));
  }
  const transmitted = Number(/(\d+) packets transmitted/.exec(stdout)?.[1] ?? 0);
  return {
    sent: Math.min(count, transmitted),
    received: answered.size,
    avgMs: rtts.length > 0 ? rtts.reduce((a, b) => a + b, 0) / rtts.length : NaN,
  };
}
