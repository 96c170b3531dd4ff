/**
 * `swarmnet ui`: prints the address of the live picture of the cluster, served by the
 * manager of this node on its loopback (`swarmnet manager --metrics-addr`), after checking
 * that it answers. Loads no manager code: one HTTP request.
 */
import type { Command } from "commander";
import { ErrorCode, SwarmnetError, errorMessage } from "../common/errors.js";
import { print } from "./output.js";

/** The managers' default `--metrics-addr` (manager/config.ts), where the page is served. */
const DEFAULT_UI_ADDR = "127.0.0.1:9324";

export function register(program: Command): void {
  program
    .command("ui")
    .description("print the address of the live picture of the cluster (served by this node's manager)")
    .option("--addr <host:port>", "the manager's --metrics-addr", DEFAULT_UI_ADDR)
    .action(async (o: { addr: string }) => {
      const url = `http://${o.addr}/`;
      try {
        const r = await fetch(`${url}ui/state`, { signal: AbortSignal.timeout(5_000) });
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
      } catch (err) {
        throw new SwarmnetError(
          ErrorCode.Unavailable,
          `no manager serves the live page on ${o.addr} (${errorMessage(err)}); run 'swarmnet ui' on a manager node`,
        );
      }
      print(url);
    });
}
