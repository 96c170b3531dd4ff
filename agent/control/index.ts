/** Agent control (public face): the unix-socket gRPC service the node's CLI talks to. */
export { ControlServer } from "./server.js";
export { AgentClient } from "./client.js";
