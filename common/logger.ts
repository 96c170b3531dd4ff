/**
 * Structured logs (pino), one child logger per component: `createLogger("agent").child(
 * { component: "gossip" })`. Keys never reach a log: anything named like key material is
 * redacted by path as a second line of defence behind not logging it at all.
 * Level from SWARMNET_LOG_LEVEL (default info); tests set "silent".
 */
import { pino, type Logger } from "pino";

export type { Logger } from "pino";

const REDACT_PATHS = ["key", "keys", "secret", "token", "*.key", "*.keys", "*.secret", "*.token"];

export function createLogger(component: string, level?: string): Logger {
  return pino({
    level: level ?? process.env["SWARMNET_LOG_LEVEL"] ?? "info",
    base: { component, pid: process.pid },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that writes nothing, for unit tests and library use without a sink. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
