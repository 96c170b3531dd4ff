/** Sandboxes (public face): container records, their store, and the netns+process runtime. */
export * from "./container.js";
export { ContainerStore } from "./container-store.js";
export { SandboxRuntime } from "./runtime.js";
export * from "./port-spec.js";
