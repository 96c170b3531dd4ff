/** `swarmnet bench mesh`: registered here once its issue lands. */
import type { Command } from "commander";

export function register(_bench: Command): void {}
