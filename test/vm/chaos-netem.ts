/**
 * Smoke VM group (vm-lab.test.ts registers it on its lab in every run: a few ping series,
 * well under a minute).
 * The chaos tool's `loss` and `delay` steps on a VM node, where Debian's kernel has netem
 * (this host's has not, so there they fall back to nftables loss and no delay): the
 * fault injector reaches the guest's kernel through the lab (guest-runner.ts), applies
 * `netem` on the VM's eth0, and the loss is measured from `client` — 30 % of n3's
 * packets out dropped shows as about 30 % of 200 ping replies missing (the bounds are
 * more than four standard deviations wide: a binomial count, not a timing). The delay
 * is checked as a lower bound on round trips, which a slow machine only lengthens.
 * `heal` removes the qdisc and every ping answers again. Pings are counted by sequence
 * number up to a deadline (bench/ping.ts), so a reply a loaded machine delays is not lost.
 */
import assert from "node:assert/strict";
import { Executor } from "../../common/executor.js";
import { FaultInjector } from "../../deploy/lab/chaos/faults.js";
import { LabAccess } from "../../deploy/lab/chaos/lab-access.js";
import { Observer } from "../../deploy/lab/chaos/observer.js";
import { Timeline } from "../../deploy/lab/chaos/timeline.js";
import { Lab } from "../../deploy/lab/lab.js";
import { parsePing, pingArgs, type PingSeries } from "../../bench/ping.js";
import { LabCli } from "../support/lab-cli.js";

const N3 = "100.64.1.3";
const PINGS = 200;
const LOSS_PERCENT = 30;
const DELAY_MS = 200;

interface PingCount extends PingSeries {
  /** Fastest round trip, ms (ping's summary line); NaN when none was answered. */
  minMs: number;
  out: string;
}

async function ping(cli: LabCli, count: number, intervalS: number): Promise<PingCount> {
  const r = await cli.exec("client", ...pingArgs(N3, count, intervalS));
  const rtt = /= ([\d.]+)\//.exec(r.stdout);
  return { ...parsePing(r.stdout, count), minMs: Number(rtt?.[1] ?? NaN), out: r.stdout + r.stderr };
}

/** Registers the suite; `lab()` names the VM lab (n3 a VM) once it is up. */
export function describeChaosNetemInVm(lab: () => string): void {
  describe("chaos loss and delay on a VM node (netem on Debian's kernel)", function () {
    this.timeout(600_000);
    const ex = new Executor();
    let cli: LabCli;
    let injector: FaultInjector;
    let access: LabAccess;

    before(function () {
      cli = new LabCli(lab());
      access = new LabAccess(ex, new Lab(ex), cli.lab);
      injector = new FaultInjector(access, new Timeline(), new Observer(access));
    });

    after(async () => {
      if (injector !== undefined) await injector.heal();
    });

    const qdisc = async () => {
      const k = access.kernel("n3");
      return k.ex.tc(["qdisc", "show", "dev", "eth0"], k.at);
    };

    it(`a loss step puts netem on the VM's link and about ${LOSS_PERCENT} % of the replies go missing`, async () => {
      const detail = await injector.impair(["n3"], { lossPercent: LOSS_PERCENT });
      assert.deepEqual(detail, [`n3: loss ${LOSS_PERCENT}% via netem`]);
      assert.match(await qdisc(), new RegExp(`netem .*loss ${LOSS_PERCENT}%`));
      const p = await ping(cli, PINGS, 0.02);
      assert.equal(p.sent, PINGS, p.out);
      const lost = p.sent - p.received;
      // Binomial(200, 0.3): mean 60, standard deviation 6.5.
      assert.ok(lost >= 30 && lost <= 90, `${lost} of ${p.sent} replies lost with ${LOSS_PERCENT} % loss`);
    });

    it(`a delay step adds at least ${DELAY_MS} ms to every round trip; heal removes netem, nothing is lost`, async () => {
      await injector.heal();
      const detail = await injector.impair(["n3"], { delayMs: DELAY_MS });
      assert.deepEqual(detail, [`n3: delay ${DELAY_MS}ms via netem`]);
      const slow = await ping(cli, 5, 0.2);
      assert.equal(slow.received, 5, slow.out);
      assert.ok(slow.minMs >= DELAY_MS, `fastest round trip ${slow.minMs} ms with ${DELAY_MS} ms delay`);
      await injector.heal();
      assert.doesNotMatch(await qdisc(), /netem/);
      const p = await ping(cli, 20, 0.05);
      assert.equal(p.received, p.sent, p.out);
    });
  });
}
