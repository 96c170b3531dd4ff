/** `swarmnet whoami`: registered here once its issue lands. */
import type { Command } from "commander";

export function register(_program: Command): void {}
