/** `swarmnet manager`: a manager process (gRPC in front of etcd). */
import type { Command } from "commander";
import { runManager } from "../manager/index.js";

export function register(program: Command): void {
  program
    .command("manager")
    .description("run a manager (stays in the foreground until SIGTERM)")
    .option("--node-name <name>", "the node this manager runs on (default: the hostname)")
    .option("--listen <addr>", "mutual-TLS gRPC listen address host:port", "127.0.0.1:2377")
    .option("--advertise-addr <addr>", "address agents and the CLI dial, host:port (default: --listen)")
    .option("--etcd <urls...>", "etcd endpoints (repeat or comma-separate; http:// on loopback only)", [
      "http://127.0.0.1:2379",
    ])
    .option("--etcd-ca <file>", "CA certificate of etcd's TLS certificates")
    .option("--etcd-cert <file>", "this manager's etcd client certificate")
    .option("--etcd-key <file>", "this manager's etcd client key")
    .option("--state-dir <dir>", "the node's state dir: its certificate, the KEK file, manager.sock")
    .option("--cert-poll <duration>", "how often the node's certificate files are checked (e.g. 1s)")
    .option("--heartbeat-period <duration>", "how often agents send heartbeats (e.g. 2s)")
    .option(
      "--tls-handshake-timeout <duration>",
      "close a connection that has not finished its TLS handshake by then (e.g. 10s)",
    )
    .option(
      "--keepalive-timeout <duration>",
      "close a connection whose keepalive ping is unanswered that long (e.g. 5s)",
    )
    .option("--node-down-grace <duration>", "how long a node may be down before its tasks move (e.g. 5s)")
    .option("--task-restart-delay <duration>", "pause before a failed task is replaced (e.g. 1s)")
    .option(
      "--metrics-addr <addr>",
      "loopback host:port serving metrics and the live page (default 127.0.0.1:9324)",
    )
    .action(
      async (o: {
        nodeName?: string;
        listen: string;
        advertiseAddr?: string;
        etcd: string[];
        etcdCa?: string;
        etcdCert?: string;
        etcdKey?: string;
        stateDir?: string;
        certPoll?: string;
        heartbeatPeriod?: string;
        tlsHandshakeTimeout?: string;
        keepaliveTimeout?: string;
        nodeDownGrace?: string;
        taskRestartDelay?: string;
        metricsAddr?: string;
      }) => {
        await runManager({
          nodeName: o.nodeName,
          listen: o.listen,
          advertiseAddr: o.advertiseAddr,
          etcd: o.etcd.flatMap((e) => e.split(",")),
          etcdCa: o.etcdCa,
          etcdCert: o.etcdCert,
          etcdKey: o.etcdKey,
          stateDir: o.stateDir,
          certPollMs: o.certPoll,
          heartbeatPeriodMs: o.heartbeatPeriod,
          tlsHandshakeTimeoutMs: o.tlsHandshakeTimeout,
          keepaliveTimeoutMs: o.keepaliveTimeout,
          nodeDownGraceMs: o.nodeDownGrace,
          taskRestartDelayMs: o.taskRestartDelay,
          metricsAddr: o.metricsAddr,
        });
      },
    );
}
