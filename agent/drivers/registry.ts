/**
 * The drivers this agent runs, by name: every driver the agent knows, minus those the
 * kernel cannot run (the probe decides, and the reason is kept for the error a user sees).
 * The agent reports `available()` to the managers with its node description, and a
 * container asking for a network whose driver is not here gets one clear line.
 */
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { KernelCapabilities } from "../probe.js";
import type { NetworkDriver } from "./driver.js";

export class DriverRegistry {
  private readonly drivers = new Map<string, NetworkDriver>();
  private readonly missing = new Map<string, string>();

  constructor(all: readonly NetworkDriver[], caps: KernelCapabilities) {
    for (const d of all) {
      const why = d.unavailable(caps);
      if (why === undefined) this.drivers.set(d.name, d);
      else this.missing.set(d.name, why);
    }
  }

  /** Names of the drivers that run here, sorted. */
  available(): string[] {
    return [...this.drivers.keys()].sort();
  }

  all(): NetworkDriver[] {
    return [...this.drivers.values()];
  }

  find(driver: string): NetworkDriver | undefined {
    return this.drivers.get(driver);
  }

  /** The driver of `network`, or a clear error naming why this node cannot use it. */
  get(driver: string, network: string): NetworkDriver {
    const d = this.drivers.get(driver);
    if (d !== undefined) return d;
    const why = this.missing.get(driver);
    throw new SwarmnetError(
      ErrorCode.Unsupported,
      why === undefined
        ? `network ${network} uses driver ${driver}, which this node's agent does not support (it supports ${this.available().join(", ")})`
        : `network ${network} uses driver ${driver}, which this node cannot run: ${why}`,
    );
  }
}
