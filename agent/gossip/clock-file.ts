/**
 * The ceilings of a member's Lamport clocks on disk (`STATE_DIR/gossip-clocks.json`), so a
 * restarted agent's NetworkDB starts above every time its previous process used
 * (lamport-clock.ts says why that matters). Written whole to a temporary file and renamed
 * over the old one: a crash mid-write leaves the previous ceilings, which still cover every
 * time issued before it. An unreadable file is reported and the clocks start at 0 — the
 * behaviour before this file existed, not a reason to refuse to start.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { durableClockPair, type ClockCeilings, type DurableLamportClock } from "./lamport-clock.js";

function readCeilings(file: string, log: Logger): ClockCeilings {
  let raw: string;
  try {
    raw = readFileSync(file, "utf8");
  } catch {
    return { network: 0, table: 0 }; // a first start
  }
  try {
    const v = JSON.parse(raw) as Partial<ClockCeilings>;
    const ok = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0;
    if (ok(v.network) && ok(v.table)) return { network: v.network, table: v.table };
    throw new Error("not {network, table} as whole numbers");
  } catch (err) {
    log.warn({ file, err: errorMessage(err) }, "gossip clock file unreadable; clocks start at 0");
    return { network: 0, table: 0 };
  }
}

/** The member's two clocks, starting at the saved ceilings and saving new ones to `file`. */
export function durableClocks(
  file: string,
  log: Logger,
): { network: DurableLamportClock; table: DurableLamportClock } {
  const ceilings = readCeilings(file, log);
  mkdirSync(dirname(file), { recursive: true });
  return durableClockPair(ceilings, (c) => {
    writeFileSync(`${file}.tmp`, JSON.stringify(c));
    renameSync(`${file}.tmp`, file);
  });
}
