/** The bridge driver (public face): Docker's single-host bridge networks. */
export { BridgeDriver, bridgeNetworks, desiredBridges } from "./bridge-driver.js";
export { BridgeKernel } from "./kernel.js";
export { planBridges, type BridgeStep } from "./plan.js";
export { renderIsolation, ISOLATION_TABLE } from "./isolation.js";
export { bridgeVeth } from "./names.js";
export { BRIDGE, bridgeDevice, bridgeNetwork, type BridgeNetwork } from "./options.js";
export type { BridgeDesired, BridgeEndpoint, ObservedBridges } from "./model.js";
