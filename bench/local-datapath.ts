/**
 * The local drivers' datapath, in a one-node lab with no swarm (local networks need none),
 * through the CLI as a user drives it: TCP throughput (iperf3) and ping RTT
 *
 *   underlay          client → the node's address (the reference)
 *   bridge            container → container on one user-defined bridge
 *   masquerade        bridge container → client, out through the node's masquerade
 *   dnat              client → the node's `-p` port → a bridge container
 *   macvlan           client → a macvlan container on the node's eth0
 *
 * and `run -p` returned → the port answers from client (p50/p99 over `runs`): a poller
 * started in the client namespace beforehand tries the port every few milliseconds and
 * prints when it first answers, so no CLI start is counted after `run` returns.
 */
import { randomBytes } from "node:crypto";
import { execa } from "execa";
import { CLI_MAIN } from "../deploy/lab/lab.js";

export interface LocalDatapathOptions {
  seconds: number;
  runs: number;
}

const CLIENT = "100.64.0.100";
const NODE = "100.64.1.1";
const MACVLAN_IP = "100.64.200.10";

interface Path {
  tcp_mbps: number;
  rtt_ms: number;
}

export async function runLocalDatapathBench(o: LocalDatapathOptions): Promise<Record<string, unknown>> {
  const lab = `l${randomBytes(3).toString("hex")}`;
  const cli = async (args: string[]) => {
    const r = await execa(process.execPath, [CLI_MAIN, ...args], {
      reject: false,
      env: { SWARMNET_LOG_LEVEL: "warn" },
    });
    if (r.exitCode !== 0) throw new Error(`swarmnet ${args.join(" ")}: ${String(r.stderr)}`);
    return String(r.stdout);
  };
  const inNs = (where: string, ...argv: string[]) =>
    cli(["lab", "exec", "--name", lab, where, "--", ...argv]);
  const sx = (...args: string[]) => inNs("n1", "swarmnet", ...args);
  const inContainer = (c: string, ...argv: string[]) => sx("exec", c, "--", ...argv);
  const ipOf = async (c: string, network: string) => {
    const info = JSON.parse(await sx("inspect", c)) as {
      NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
    }[];
    return info[0]?.NetworkSettings.Networks[network]?.IPAddress ?? "";
  };
  /** iperf3 from `from` to a server already listening at ip:port, and ping RTT to ip. */
  const measure = async (
    from: (...argv: string[]) => Promise<string>,
    ip: string,
    port = 5201,
  ): Promise<Path> => {
    const report = JSON.parse(
      await from("iperf3", "-c", ip, "-p", String(port), "-t", String(o.seconds), "-J"),
    ) as { end: { sum_received: { bits_per_second: number } } };
    const ping = await from("ping", "-c", "20", "-i", "0.05", "-q", ip);
    const rtt = /= [\d.]+\/([\d.]+)\//.exec(ping);
    return {
      tcp_mbps: Math.round(report.end.sum_received.bits_per_second / 1e6),
      rtt_ms: rtt ? Number(rtt[1]) : NaN,
    };
  };
  const client = (...argv: string[]) => inNs("client", ...argv);
  // One test each, then the server exits: nothing outlives the lab.
  const iperfServer = ["iperf3", "-s", "-1", "-D"];
  try {
    await cli(["lab", "up", "--name", lab, "--nodes", "1", "--no-init"]);
    await inNs("n1", ...iperfServer);
    const underlay = await measure(client, NODE);

    await sx("network", "create", "benchbr");
    await sx("run", "-d", "--name", "a", "--network", "benchbr", "--", "sleep", "3600");
    await sx("run", "-d", "--name", "b", "--network", "benchbr", "--", ...iperfServer.slice(0, 3));
    const bridge = await measure((...argv) => inContainer("a", ...argv), await ipOf("b", "benchbr"));

    await client(...iperfServer);
    const masquerade = await measure((...argv) => inContainer("a", ...argv), CLIENT);

    await sx("run", "-d", "--name", "w", "-p", "5301:5201", "--", ...iperfServer.slice(0, 3));
    const dnat = await measure(client, NODE, 5301);

    await sx(
      "network",
      "create",
      "-d",
      "macvlan",
      "--subnet",
      "100.64.0.0/16",
      "--ip-range",
      "100.64.200.0/24",
      "-o",
      "parent=eth0",
      "benchmv",
    );
    await sx(
      "run",
      "-d",
      "--name",
      "m",
      "--network",
      "benchmv",
      "--ip",
      MACVLAN_IP,
      "--",
      ...iperfServer.slice(0, 3),
    );
    const macvlan = await measure(client, MACVLAN_IP);

    const ready: number[] = [];
    for (let i = 0; i < o.runs; i++) ready.push(await portReady(lab, 18000 + i, sx));
    ready.sort((x, y) => x - y);
    const pct = (p: number) =>
      ready[Math.min(ready.length - 1, Math.ceil((p / 100) * ready.length) - 1)] ?? NaN;
    const ratio = (p: Path) => Number((p.tcp_mbps / underlay.tcp_mbps).toFixed(3));
    return {
      underlay,
      bridge: { ...bridge, vs_underlay: ratio(bridge) },
      masquerade: { ...masquerade, vs_underlay: ratio(masquerade) },
      dnat: { ...dnat, vs_underlay: ratio(dnat) },
      macvlan: { ...macvlan, vs_underlay: ratio(macvlan) },
      run_p_to_answer_ms: { p50: Math.round(pct(50)), p99: Math.round(pct(99)), runs: ready.length },
    };
  } finally {
    await cli(["lab", "down", "--name", lab]).catch(() => undefined);
  }
}

/** One `run -p PORT:80` → first answer from client, in ms after `run` returned. */
async function portReady(
  lab: string,
  port: number,
  sx: (...args: string[]) => Promise<string>,
): Promise<number> {
  const poll =
    `process.stdout.write("ready\\n");const end=Date.now()+30000;(async()=>{while(Date.now()<end){` +
    `try{const r=await fetch("http://${NODE}:${port}/",{signal:AbortSignal.timeout(300)});await r.text();` +
    `console.log(Date.now());return}catch{await new Promise(r=>setTimeout(r,2))}}console.log("NaN")})()`;
  const poller = execa(
    process.execPath,
    [CLI_MAIN, "lab", "exec", "--name", lab, "client", "--", process.execPath, "-e", poll],
    {
      reject: false,
    },
  );
  await new Promise<void>((resolve) => {
    poller.stdout?.on("data", (d: Buffer) => {
      if (String(d).includes("ready")) resolve();
    });
  });
  await sx("run", "-d", "--name", `p${port}`, "-p", `${port}:80`, "--", "swarmnet", "whoami", "--port", "80");
  const returned = Date.now();
  const answered = Number(
    String((await poller).stdout)
      .trim()
      .split("\n")
      .pop(),
  );
  await sx("rm", "-f", `p${port}`);
  return answered - returned;
}
