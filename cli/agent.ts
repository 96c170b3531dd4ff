/** `swarmnet agent`: the per-node agent process (and `--probe`, the kernel capability probe). */
import type { Command } from "commander";
import { Executor } from "../common/executor.js";
import { formatCapabilities, probeKernel } from "../agent/probe.js";
import { runAgent } from "../agent/index.js";
import { withAgent } from "./agent-context.js";
import { parseFormat, print, printJson, renderTable } from "./output.js";

export function register(program: Command): void {
  const agent = program.command("agent");
  agent
    .command("members")
    .description("gossip members as this node's agent sees them")
    .option("--format <format>", "table or json", "table")
    .action(async (o: { format: string }) => {
      const format = parseFormat(o.format);
      const { members } = await withAgent((a) => a.members());
      if (format === "json") return printJson(members);
      print(
        renderTable(
          ["NAME", "ADDRESS", "STATE", "INCARNATION"],
          members.map((m) => [m.name, `${m.addr}:${m.port}`, m.state, String(m.incarnation)]),
        ),
      );
    });
  agent
    .command("resync")
    .description(
      "run every reconciler's resync pass now (re-read the kernel, repair drift) and show the counters",
    )
    .option("--format <format>", "table or json", "table")
    .action(async (o: { format: string }) => {
      const format = parseFormat(o.format);
      const { reconcilers } = await withAgent((a) => a.resync());
      if (format === "json") return printJson(reconcilers);
      print(
        renderTable(
          ["RECONCILER", "PASSES", "RESYNCS", "APPLIED", "SKIPPED", "FAILURES"],
          reconcilers.map((r) => [
            r.name,
            String(r.passes),
            String(r.resyncs),
            String(r.applied),
            String(r.skipped),
            String(r.failures),
          ]),
        ),
      );
    });
  agent
    .description("run the node agent (stays in the foreground until SIGTERM)")
    .option("--node-name <name>", "this node's name (default: the hostname)")
    .option("--advertise-addr <ip>", "this node's underlay address")
    .option("--manager <addr...>", "manager addresses host:port (repeat or comma-separate)")
    .option("--state-dir <dir>", "where the agent keeps its local state and control socket")
    .option("--netns-prefix <prefix>", "prefix of the namespaces this agent creates")
    .option(
      "--dns-upstream <ip:port...>",
      "resolvers the embedded DNS forwards other names to (default: the node's /etc/resolv.conf)",
    )
    .option("--metrics-addr <addr>", "loopback host:port serving Prometheus metrics (default 127.0.0.1:9323)")
    .option("--resync-interval <duration>", "period of the reconcilers' resync pass, e.g. 30s (default 30s)")
    .option(
      "--ingress-backend <backend>",
      "what balances published ports and VIPs: auto, nftables or ipvs (default auto)",
    )
    .option("--probe", "print the kernel capabilities and exit")
    .option("--format <format>", "with --probe: table or json", "table")
    .action(
      async (o: {
        nodeName?: string;
        advertiseAddr?: string;
        manager?: string[];
        stateDir?: string;
        netnsPrefix?: string;
        dnsUpstream?: string[];
        metricsAddr?: string;
        resyncInterval?: string;
        ingressBackend?: string;
        probe?: boolean;
        format: string;
      }) => {
        if (o.probe) {
          const format = parseFormat(o.format);
          const caps = await probeKernel(new Executor());
          return format === "json" ? printJson(caps) : print(formatCapabilities(caps));
        }
        await runAgent({
          nodeName: o.nodeName,
          advertiseAddr: o.advertiseAddr,
          managers: o.manager?.flatMap((m) => m.split(",")),
          stateDir: o.stateDir,
          netnsPrefix: o.netnsPrefix,
          dnsUpstreams: o.dnsUpstream?.flatMap((m) => m.split(",")),
          metricsAddr: o.metricsAddr,
          resyncIntervalMs: o.resyncInterval,
          ingressBackend: o.ingressBackend,
        });
      },
    );
}
