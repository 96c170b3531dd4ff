/**
 * The managers' IPAM is the pure IPAM in common/ipam (the agent allocates its local
 * networks with the same code): default pools, subnet allocation, IPAM configs from
 * Docker's flags, address allocation. The store decides nothing there; the network
 * service reads what is taken, calls these, and commits the result in one transaction.
 */
export * from "../../common/ipam/index.js";
