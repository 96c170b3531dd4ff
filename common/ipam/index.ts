/**
 * IPAM, pure: default pools, subnet allocation that keeps clear of every taken prefix
 * (other networks, node underlays), a network's IPAM config from Docker's flags, and
 * address allocation inside a subnet. The store decides nothing here; the network
 * service reads what is taken, calls these, and commits the result in one transaction.
 */
export {
  GLOBAL_DEFAULT_POOLS,
  GLOBAL_DEFAULT_SUBNET_SIZE,
  LOCAL_DEFAULT_POOLS,
  LOCAL_DEFAULT_SUBNET_SIZE,
  localDefaultPools,
  poolSpecs,
  type PoolSpec,
} from "./pools.js";
export { allocateSubnet, checkSubnetFree, mergeIntervals, type TakenPrefix } from "./subnets.js";
export {
  allocateAddress,
  checkStaticAddress,
  isAssignable,
  nextFreeAddress,
  type AddressSpace,
} from "./addresses.js";
export {
  formatIpamConfig,
  parseIpamRequest,
  resolveIpam,
  type IpamRequest,
  type ParsedIpamConfig,
  type ResolvedIpamConfig,
} from "./ipam-config.js";
