/**
 * Full VM group (vm-lab.test.ts registers it on its lab when SWARMNET_VM_FULL=1; its
 * capture, guard and rotation checks also run in every run, cheaply, between the two VM
 * agents' tasks: kernel-esp-live.ts).
 * Kernel IPsec live: the encrypted-overlay acceptance scenario on the kernel backend
 * (test/netns/encryption/scenario.ts — two nodes, encrypted and plain overlays between
 * containers, a capture on the underlay holding only ESP for the encrypted VNI, forged
 * plaintext VXLAN and replays dropped and counted by the guard, ten key rotations during
 * a paced stream and pings losing nothing) run inside VM n2 of the shared lab, on
 * Debian's kernel, where the probe finds ESP with AES-GCM. On this host the same file
 * skips (no ESP); in the VM a skip is a failure.
 *
 * The guest runs under emulation (TCG): the scenario gets `SWARMNET_TEST_SLOWDOWN`
 * (test/support/slowdown.ts), so its waits are that much longer and its transfers that
 * much smaller, and n2's own agent is stopped meanwhile (an idle agent keeps about half
 * of the VM's one vCPU busy) and started again afterwards.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { swarmnet } from "../support/cli.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** Node and the kernel's datapath under TCG against the host (VM-NOTES.md: ~15–20×). */
const TCG_SLOWDOWN = 20;
/** The whole scenario under TCG on a loaded 2-core machine: a bound, not an expectation. */
const SCENARIO_TIMEOUT_MS = 1_500_000;

interface MochaJson {
  stats: { passes: number; failures: number; pending: number };
  failures: { fullTitle: string; err: { message: string } }[];
}

/** Registers the suite; `lab()` names the VM lab (n2 a VM) once it is up. */
export function describeKernelEspInVm(lab: () => string): void {
  describe("kernel IPsec in a VM (Debian kernel, ESP with AES-GCM)", function () {
    it("passes the encrypted-overlay scenario on the kernel backend, nothing skipped", async function () {
      this.timeout(SCENARIO_TIMEOUT_MS + 300_000);
      const name = lab();
      const mocha = `${ROOT}node_modules/.bin/mocha`;
      const spec = `${ROOT}dist/test/netns/encryption/kernel.test.js`;
      const env = `SWARMNET_LOG_LEVEL=warn SWARMNET_TEST_SLOWDOWN=${TCG_SLOWDOWN}`;
      const stop = await swarmnet(["lab", "restart", "--name", name, "--stop-only", "n2"]);
      assert.equal(stop.exitCode, 0, stop.stderr);
      let r;
      try {
        r = await swarmnet(
          [
            "lab",
            "exec",
            "--name",
            name,
            "n2",
            "--",
            "sh",
            "-c",
            `cd ${ROOT} && ${env} node ${mocha} --no-config --reporter json --timeout ${SCENARIO_TIMEOUT_MS} ${spec}`,
          ],
          {},
          SCENARIO_TIMEOUT_MS,
        );
      } finally {
        const start = await swarmnet(["lab", "restart", "--name", name, "n2"]);
        assert.equal(start.exitCode, 0, start.stderr);
      }
      const json = r.stdout.slice(r.stdout.indexOf("{"));
      const report = JSON.parse(json) as MochaJson;
      const failed = report.failures.map((f) => `${f.fullTitle}: ${f.err.message}`).join("\n");
      assert.equal(report.stats.failures, 0, failed);
      assert.equal(report.stats.pending, 0, "skipped in the VM: the probe found no ESP there");
      assert.ok(report.stats.passes >= 5, `only ${report.stats.passes} passed`);
    });
  });
}
