/**
 * The VM test group's one shared lab: n1 a namespace manager, n2 and n3 VM workers
 * (`lab up --nodes 3 --vm n2,n3`). Booting VMs under TCG costs tens of seconds each, so
 * the group boots once: the first test file that asks brings the lab up, every later one
 * reuses it, and a root `after` hook takes it down when the run ends, whatever happened.
 * $SWARMNET_VM_TEST_LAB names an already running lab of that shape to use instead (while
 * developing a test: boots cost minutes on a loaded machine); it is taken down all the same.
 */
import { swarmnet } from "../support/cli.js";
import { uniqueLabName } from "../support/netns.js";

export interface SharedVmLab {
  /** The lab's name, once it is up (brought up on the first call). */
  lab(): Promise<string>;
  /** Takes it down now (idempotent); later `lab()` calls fail. */
  down(): Promise<void>;
}

/** Up to this long for the VMs to boot and their agents to join, on a loaded 2-core machine. */
export const VM_LAB_UP_TIMEOUT_MS = 1_500_000;

let name: string | undefined;
let up: Promise<string> | undefined;
let isDown = false;

export function vmLabReady(): SharedVmLab {
  return {
    lab() {
      if (isDown) return Promise.reject(new Error("the shared VM lab was already taken down"));
      const given = process.env["SWARMNET_VM_TEST_LAB"];
      name ??= given ?? uniqueLabName();
      const lab = name;
      if (given !== undefined) return Promise.resolve(lab);
      const args = ["lab", "up", "--name", lab, "--nodes", "3", "--vm", "n2,n3"];
      up ??= swarmnet(args, {}, VM_LAB_UP_TIMEOUT_MS).then((r) => {
        if (r.exitCode !== 0) throw new Error(`lab up --vm failed: ${r.stderr.trim()}`);
        return lab;
      });
      return up;
    },
    async down() {
      isDown = true;
      if (name !== undefined) await swarmnet(["lab", "down", "--name", name]);
    },
  };
}

after(async function () {
  this.timeout(120_000);
  if (name !== undefined && !isDown) await vmLabReady().down();
});
