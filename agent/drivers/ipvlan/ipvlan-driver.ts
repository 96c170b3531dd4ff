/**
 * The ipvlan driver (Docker's `ipvlan`): like macvlan, but every container shares the
 * parent's MAC (`ipvlan_mode=l2`, the default), or is routed by the parent (`l3`, `l3s`:
 * no ARP on the segment, a device default route). Kernels without ipvlan (this
 * machine's) lack the driver: the registry refuses its networks naming the probe's
 * missing feature, and nothing is created. See ../macvlan/sub-interface-driver.ts.
 */
import type { Executor } from "../../../common/executor.js";
import type { KernelCapabilities } from "../../probe.js";
import { SubInterfaceDriver } from "../macvlan/sub-interface-driver.js";

export const IPVLAN = "ipvlan";

export class IpvlanDriver extends SubInterfaceDriver {
  constructor(ex: Executor, caps: () => KernelCapabilities | undefined) {
    super(IPVLAN, ex, caps);
  }
}
