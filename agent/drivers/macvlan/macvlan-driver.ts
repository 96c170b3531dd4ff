/**
 * The macvlan driver (Docker's `macvlan`): containers with their own MAC and address on
 * the parent's segment, in bridge mode by default (private, vepa and passthru where the
 * kernel allows). See sub-interface-driver.ts.
 */
import type { Executor } from "../../../common/executor.js";
import type { KernelCapabilities } from "../../probe.js";
import { SubInterfaceDriver } from "./sub-interface-driver.js";

export const MACVLAN = "macvlan";

export class MacvlanDriver extends SubInterfaceDriver {
  constructor(ex: Executor, caps: () => KernelCapabilities | undefined) {
    super(MACVLAN, ex, caps);
  }
}
