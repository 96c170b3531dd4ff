/**
 * The cost of looking (issue 15), in a 3-node lab with a 3-replica published service:
 *
 *   agent_cpu_percent_{unscraped,scraped}  n2's agent process CPU (user + system, % of one
 *                                          core) over --seconds without anyone scraping,
 *                                          then with `/metrics` scraped every second
 *   agent_rss_mb_{unscraped,scraped}       its resident memory at the end of each period
 *   scrape_ms_p50 / p99                    one scrape's wall time, from inside the node
 *   page_down_ms_p50 / p99                 the agent of n3 killed (SIGKILL) → the live page
 *                                          in chromium shows n3 down, over --runs kills
 *                                          (the agent is started again between runs)
 *
 * It also saves the page's screenshot to docs/live-page.png (the README shows it).
 *
 *   node dist/bench/observe.js [--seconds 60] [--runs 10]
 */
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { cli, cpuPercent, flag, labSwarmnet, pct, processUsage } from "./lab-cli.js";
import { CLI_MAIN } from "../deploy/lab/lab.js";
import { readState } from "../deploy/lab/state.js";
import { testOutputDir, UiBrowser } from "../test/support/ui-browser-client.js";

const seconds = flag("seconds", 60);
const runs = flag("runs", 10);
const lab = `o${randomBytes(3).toString("hex")}`;

const sx = labSwarmnet(lab);

function agentPid(node: string): number {
  const p = readState(lab)?.processes.find((x) => x.node === node && x.kind === "agent");
  if (p === undefined) throw new Error(`no agent on ${node}`);
  return p.pid;
}

/** CPU % and RSS of n2's agent over `seconds`, while `during` runs. */
async function measure(during: (end: number) => Promise<void>): Promise<{ cpu: number; rssMb: number }> {
  const pid = agentPid("n2");
  const a = processUsage(pid);
  await during(a.at + seconds * 1000);
  const b = processUsage(pid);
  return { cpu: cpuPercent(b.ticks - a.ticks, b.at - a.at), rssMb: b.rssMb };
}

try {
  await cli(["lab", "up", "--name", lab, "--nodes", "3"]);
  await sx("n1", "network", "create", "-d", "overlay", "--attachable", "benchnet");
  await sx(
    "n1",
    "service",
    "create",
    "--name",
    "web",
    "--replicas",
    "3",
    "--network",
    "benchnet",
    "--publish",
    "8080:80",
    "--",
    "swarmnet",
    "whoami",
    "--port",
    "80",
  );
  await new Promise((r) => setTimeout(r, 5_000));

  const unscraped = await measure((end) => new Promise((r) => setTimeout(r, end - Date.now())));
  // One scraper process inside n2 for the whole period (no process start per scrape).
  const scrapeTimes: number[] = [];
  const scraped = await measure(async (end) => {
    const script =
      `const end=${end};const t=[];(async()=>{while(Date.now()<end){const s=performance.now();` +
      `const r=await fetch("http://127.0.0.1:9323/metrics");await r.text();t.push(performance.now()-s);` +
      `await new Promise(r=>setTimeout(r,Math.max(0,1000-(performance.now()-s))))}console.log(JSON.stringify(t))})()`;
    const r = await execa(process.execPath, [
      CLI_MAIN,
      "lab",
      "exec",
      "--name",
      lab,
      "n2",
      "--",
      process.execPath,
      "-e",
      script,
    ]);
    scrapeTimes.push(...(JSON.parse(String(r.stdout)) as number[]));
  });

  const browser = UiBrowser.open(lab, "n1", "http://127.0.0.1:9324/");
  const downMs: number[] = [];
  try {
    const shown = await browser.send({ expect: { nodes: ["n1", "n2", "n3"], tasks: [] } });
    if (!shown.ok) throw new Error(`page: ${shown.error}`);
    for (let i = 0; i < runs; i++) {
      const up = await browser.send({ status: "n3", is: "ready" });
      if (!up.ok) throw new Error(`n3 not shown ready: ${up.error}`);
      const down = browser.send({ status: "n3", is: "down" });
      await cli(["lab", "restart", "--name", lab, "--kill", "--stop-only", "n3"]);
      const seen = await down;
      if (!seen.ok || seen.ms === undefined) throw new Error(`n3 not shown down: ${seen.error}`);
      downMs.push(seen.ms);
      await cli(["lab", "restart", "--name", lab, "n3"]);
    }
    await browser.send({ status: "n3", is: "ready" });
    const shot = join(testOutputDir("observe"), "bench-live-page.png");
    await browser.send({ screenshot: shot });
    const kept = fileURLToPath(new URL("../../docs/live-page.png", import.meta.url));
    mkdirSync(dirname(kept), { recursive: true });
    copyFileSync(shot, kept);
    await browser.send({ quit: true });
  } finally {
    await browser.close();
  }
  process.stdout.write(
    JSON.stringify(
      {
        seconds,
        runs,
        agent_cpu_percent_unscraped: unscraped.cpu,
        agent_cpu_percent_scraped: scraped.cpu,
        agent_rss_mb_unscraped: unscraped.rssMb,
        agent_rss_mb_scraped: scraped.rssMb,
        scrapes: scrapeTimes.length,
        scrape_ms_p50: pct(scrapeTimes, 50),
        scrape_ms_p99: pct(scrapeTimes, 99),
        page_down_ms_p50: pct(downMs, 50),
        page_down_ms_p99: pct(downMs, 99),
        page_down_ms: downMs,
      },
      null,
      2,
    ) + "\n",
  );
} finally {
  await cli(["lab", "down", "--name", lab]).catch(() => undefined);
}
