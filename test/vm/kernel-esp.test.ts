/**
 * Kernel IPsec live: the encrypted-overlay acceptance scenario on the kernel backend
 * (test/netns/encryption/scenario.ts — two nodes, encrypted and plain overlays between
 * containers, a capture on the underlay holding only ESP for the encrypted VNI, forged
 * plaintext VXLAN and replays dropped and counted by the guard, ten key rotations during
 * a paced stream and pings losing nothing) run inside VM n2 of the shared lab, on
 * Debian's kernel, where the probe finds ESP with AES-GCM. On this host the same file
 * skips (no ESP); in the VM a skip is a failure.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { cachedKernelVersions } from "../../deploy/vm/kernel-cache.js";
import { swarmnet } from "../support/cli.js";
import { isRoot } from "../support/netns.js";
import { VM_LAB_UP_TIMEOUT_MS, vmLabReady } from "./support.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** Ten rotations 2 s apart plus a 10 MB transfer through ESP under TCG, on a loaded machine. */
const SCENARIO_TIMEOUT_MS = 1_500_000;

interface MochaJson {
  stats: { passes: number; failures: number; pending: number };
  failures: { fullTitle: string; err: { message: string } }[];
}

describe("kernel IPsec in a VM (Debian kernel, ESP with AES-GCM)", function () {
  const shared = vmLabReady();

  before(async function () {
    this.timeout(VM_LAB_UP_TIMEOUT_MS);
    if (!isRoot || cachedKernelVersions().length === 0) this.skip();
    await shared.lab();
  });

  it("passes the encrypted-overlay scenario on the kernel backend, nothing skipped", async function () {
    this.timeout(SCENARIO_TIMEOUT_MS);
    const mocha = `${ROOT}node_modules/.bin/mocha`;
    const spec = `${ROOT}dist/test/netns/encryption/kernel.test.js`;
    const r = await swarmnet(
      [
        "lab",
        "exec",
        "--name",
        await shared.lab(),
        "n2",
        "--",
        "sh",
        "-c",
        `cd ${ROOT} && SWARMNET_LOG_LEVEL=warn node ${mocha} --no-config --reporter json --timeout ${SCENARIO_TIMEOUT_MS} ${spec}`,
      ],
      {},
      SCENARIO_TIMEOUT_MS,
    );
    const json = r.stdout.slice(r.stdout.indexOf("{"));
    const report = JSON.parse(json) as MochaJson;
    const failed = report.failures.map((f) => `${f.fullTitle}: ${f.err.message}`).join("\n");
    assert.equal(report.stats.failures, 0, failed);
    assert.equal(report.stats.pending, 0, "skipped in the VM: the probe found no ESP there");
    assert.ok(report.stats.passes >= 5, `only ${report.stats.passes} passed`);
  });
});
