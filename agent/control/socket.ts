/** Where an agent's control socket lives: in its state folder (root-only, like the folder). */
import { join } from "node:path";

export function agentSocketPath(stateDir: string): string {
  return join(stateDir, "agent.sock");
}
