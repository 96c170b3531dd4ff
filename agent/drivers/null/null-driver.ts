/**
 * The `null` driver (Docker's `none` network): a container on it gets a namespace of its
 * own holding only `lo` — no interface, no address, no route. The sandbox runtime makes
 * that namespace; the driver has no kernel state of its own, hence no reconciler. Like
 * Docker, a container on `none` may be on no other network.
 */
import type { JoinInfo, NetworkDriver } from "../driver.js";

export const NULL = "null";

export class NullDriver implements NetworkDriver {
  readonly name = NULL;
  readonly sandbox = "none" as const;
  readonly needsAddress = false;
  readonly reconcilers = [];

  unavailable(): undefined {
    return undefined;
  }

  async createNetwork(): Promise<void> {}

  createEndpoint() {
    return { mac: "", mtu: 0, driverData: {} };
  }

  join(): JoinInfo {
    return { gatewayBridge: false };
  }

  factData(): undefined {
    return undefined;
  }
}
