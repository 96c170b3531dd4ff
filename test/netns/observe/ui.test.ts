/**
 * Issue 15, the live picture, in a real browser (Debian's chromium via playwright-core,
 * headless, run inside n1's namespace where the manager serves the page on loopback):
 * every node and task is shown, networks with their marks, the published port and where
 * it leads; an agent killed shows its node down without a reload; the page asks nothing
 * of anything but loopback and shows no secret; nothing answers for it on the underlay or
 * under another host name (DNS rebinding). The screenshot is kept in
 * test-output/observe/live-page.png.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { isRoot } from "../../support/netns.js";
import { LabCluster } from "../../support/lab-cluster.js";
import { BRIEF_MONITOR, swarmnet } from "../../support/cli.js";
import { assertNoSecrets, tokenSecrets } from "../../support/no-secrets.js";
import { testOutputDir, UiBrowser } from "../../support/ui-browser-client.js";

describe("observe: the live picture in a browser (netns lab, 3 nodes)", function () {
  this.timeout(300_000);
  const lab = new LabCluster(3);
  let browser: UiBrowser | undefined;

  before(async function () {
    if (!isRoot) this.skip();
    await lab.up();
  });

  after(async () => {
    await browser?.close();
    if (isRoot) await lab.down();
  });

  it("`swarmnet ui` prints the page's address on a manager node, and refuses elsewhere in one line", async () => {
    assert.equal((await lab.ok(["ui"])).trim(), "http://127.0.0.1:9324/");
    const r = await lab.cli(["ui"], "n2");
    assert.equal(r.exitCode, 1);
    assert.match(
      r.stderr,
      /^swarmnet: no manager serves the live page on 127\.0\.0\.1:9324 .*run 'swarmnet ui' on a manager node$/,
    );
  });

  it("the page and metrics are on loopback only: not on the underlay, not under another host name", async () => {
    for (const url of ["http://100.64.1.1:9324/", "http://100.64.1.1:9323/metrics"]) {
      const fromClient = await lab.exec("client", [
        "curl",
        "-sS",
        "--max-time",
        "5",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        url,
      ]);
      assert.equal(fromClient.stdout, "000", `something answered ${url} from the client`);
    }
    const rebound = await lab.exec("n1", [
      "curl",
      "-sS",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-H",
      "Host: evil.example:9324",
      "http://127.0.0.1:9324/ui/state",
    ]);
    assert.equal(rebound.stdout, "421", "a request naming another host was answered");
  });

  it("shows every node and task, networks and ports; a killed node turns down live", async () => {
    await lab.ok(["network", "create", "-d", "overlay", "--attachable", "uinet"]);
    await lab.ok(["network", "create", "-d", "overlay", "-o", "encrypted", "secretnet"]);
    await lab.ok([
      "service",
      "create",
      ...BRIEF_MONITOR,
      "--name",
      "web",
      "--replicas",
      "3",
      "--network",
      "uinet",
      "--publish",
      "8080:80",
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "80",
    ]);
    const tasks = (await lab.tasks("web")).map((t) => t.Name);

    browser = UiBrowser.open(lab.name, "n1", "http://127.0.0.1:9324/");
    const shown = await browser.send({ expect: { nodes: lab.nodeNames, tasks } });
    assert.ok(shown.ok, shown.error);
    const html = shown.html ?? "";
    for (const n of lab.nodeNames) assert.match(html, new RegExp(`data-node="${n}" data-status="ready"`));
    assert.match(html, /data-network="secretnet" data-encrypted="true"/);
    assert.match(html, /data-network="uinet" data-encrypted="false"/);
    assert.match(html, /data-overlay="uinet"/);
    assert.match(html, /data-port="8080"/);
    assert.match(html, /\*:8080-&gt;80\/tcp/);

    // No secret on the page or in its data.
    const secrets = await tokenSecrets(lab);
    const state = (await lab.exec("n1", ["curl", "-sS", "http://127.0.0.1:9324/ui/state"])).stdout;
    assertNoSecrets(state, secrets, "the page's data");
    // The page's own style and script are code, not data.
    assertNoSecrets(
      html.replace(/<style>[\s\S]*<\/style>|<script>[\s\S]*<\/script>/g, ""),
      secrets,
      "the page",
    );

    const down = browser.send({ status: "n3", is: "down" });
    const kill = await swarmnet(["lab", "restart", "--name", lab.name, "--kill", "--stop-only", "n3"]);
    assert.equal(kill.exitCode, 0, kill.stderr);
    const seen = await down;
    assert.ok(seen.ok, `n3 never shown down: ${seen.error}`);

    const shot = join(testOutputDir("observe"), "live-page.png");
    assert.ok((await browser.send({ screenshot: shot })).ok);
    const quit = await browser.send({ quit: true });
    assert.deepEqual(quit.offLoopback, [], "the page asked something of a non-loopback address");
  });
});
