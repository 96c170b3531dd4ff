/** Sub-interface drivers (public face): macvlan here, ipvlan beside it (../ipvlan). */
export { MacvlanDriver, MACVLAN } from "./macvlan-driver.js";
export { SubInterfaceDriver, desiredSub } from "./sub-interface-driver.js";
export { SubInterfaceKernel } from "./kernel.js";
export { planSub, type SubStep } from "./plan.js";
export { parentNetwork, type ParentNetwork, type SubKind } from "../../../common/parent-network.js";
export { tempName } from "./names.js";
