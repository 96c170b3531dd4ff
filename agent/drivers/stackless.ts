/**
 * The shape of a driver with no kernel state of its own (host, null): no address, no
 * interface, no endpoint data, nothing to gossip, no reconciler. What it changes is
 * only where the container's process runs (`sandbox`), which the sandbox runtime does.
 */
import type { DriverEndpoint, JoinInfo, NetworkDriver, SandboxKind } from "./driver.js";

export abstract class StacklessDriver implements NetworkDriver {
  readonly needsAddress = false;
  readonly reconcilers = [];

  constructor(
    readonly name: string,
    readonly sandbox: SandboxKind,
  ) {}

  unavailable(): undefined {
    return undefined;
  }

  async createNetwork(): Promise<void> {}

  createEndpoint(): DriverEndpoint {
    return { mac: "", mtu: 0, driverData: {} };
  }

  join(): JoinInfo {
    return { gatewayBridge: false, ownGateway: false };
  }

  factData(): undefined {
    return undefined;
  }
}
