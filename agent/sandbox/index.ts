/**
 * Sandboxes (public face): container records and their store, the netns+process runtime,
 * container lifecycle (`Containers`), `-p` specs and the node's port holders.
 */
export * from "./container.js";
export { ContainerStore } from "./container-store.js";
export { SandboxRuntime } from "./runtime.js";
export {
  Containers,
  type AttachOptions,
  type ContainerDeps,
  type RunOptions,
  type TaskAttachment,
} from "./containers.js";
export { allocateHostPorts, nodePorts, type NodePorts } from "./host-ports.js";
export * from "./port-spec.js";
