/**
 * Drives the live page in a real browser for the tests and the benchmark: Debian's
 * chromium through playwright-core, headless, with background networking off. It runs
 * *inside* a lab node's namespace (the page is on that node's loopback), started with
 * `lab exec NODE -- node ui-browser.js URL`, and takes one JSON command per stdin line,
 * answering one JSON line each on stdout:
 *
 *   {"expect": {"nodes": [...], "tasks": [...]}}  → {"ok": true, "html": "<page>"}
 *   {"status": "n3", "is": "down"}                 → {"ok": true, "ms": <time to show it>}
 *   {"screenshot": "/path.png"}                    → {"ok": true}
 *   {"quit": true}                                 → {"ok": true, "offLoopback": [urls]}
 *
 * Every request the page makes to anything but loopback is aborted and reported: the
 * page must need nothing from elsewhere.
 */
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const WAIT_MS = 60_000;

interface Command {
  expect?: { nodes: string[]; tasks: string[] };
  status?: string;
  is?: string;
  screenshot?: string;
  quit?: boolean;
}

const reply = (v: object) => process.stdout.write(JSON.stringify(v) + "\n");

async function main(url: string): Promise<void> {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-default-apps",
      "--no-first-run",
      "--disable-domain-reliability",
      "--dns-prefetch-disable",
      "--disable-features=OptimizationHints,MediaRouter,Translate",
    ],
  });
  const offLoopback: string[] = [];
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.route("**/*", async (route) => {
    const host = new URL(route.request().url()).hostname;
    if (host === "127.0.0.1" || host === "localhost") return route.continue();
    offLoopback.push(route.request().url());
    return route.abort();
  });
  await page.goto(url);
  for await (const line of createInterface({ input: process.stdin })) {
    const c = JSON.parse(line) as Command;
    try {
      if (c.expect !== undefined) {
        for (const n of c.expect.nodes)
          await page.waitForSelector(`[data-node="${n}"]`, { timeout: WAIT_MS });
        for (const t of c.expect.tasks)
          await page.waitForSelector(`[data-task="${t}"][data-state="running"]`, { timeout: WAIT_MS });
        reply({ ok: true, html: await page.content() });
      } else if (c.status !== undefined) {
        const started = Date.now();
        await page.waitForSelector(`[data-node="${c.status}"][data-status="${c.is ?? "down"}"]`, {
          timeout: WAIT_MS,
        });
        reply({ ok: true, ms: Date.now() - started });
      } else if (c.screenshot !== undefined) {
        await page.screenshot({ path: c.screenshot, fullPage: true });
        reply({ ok: true });
      } else if (c.quit === true) {
        await browser.close();
        reply({ ok: true, offLoopback });
        return;
      }
    } catch (err) {
      reply({ ok: false, error: err instanceof Error ? err.message.split("\n")[0] : String(err) });
    }
  }
  await browser.close();
}

await main(process.argv[2] ?? "http://127.0.0.1:9324/");
