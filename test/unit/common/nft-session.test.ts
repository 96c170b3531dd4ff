import assert from "node:assert/strict";
import { Executor, type CommandRunner, type LongLivedProcess } from "../../../common/executor.js";
import { NftSession } from "../../../common/nft-session.js";

/**
 * A stand-in for `nft -i`: answers every marker line as nft does (its error and caret
 * line), unless told to stay silent; counts the reactions registered on its end.
 */
class FakeNft implements LongLivedProcess {
  silent = false;
  reactions = 0;
  private listener: (chunk: string) => void = () => {};
  private end!: () => void;
  private readonly ended = new Promise<void>((r) => (this.end = r));
  readonly exited: Promise<void>;

  constructor() {
    this.exited = {
      then: (onfulfilled, onrejected) => {
        this.reactions++;
        return this.ended.then(onfulfilled, onrejected);
      },
    } as Promise<void>;
  }

  write(text: string): void {
    const marker = /^list table ip (swarmnet_tx_\d+)$/m.exec(text)?.[1];
    if (marker === undefined || this.silent) return;
    queueMicrotask(() =>
      this.listener(
        `Error: No such file or directory\nlist table ip ${marker}\n              ${"^".repeat(marker.length)}\n`,
      ),
    );
  }

  onOutput(listener: (chunk: string) => void): void {
    this.listener = listener;
  }

  kill(): void {
    this.end();
  }
}

function sessionOver(nft: FakeNft): NftSession {
  const runner: CommandRunner = {
    run: () => Promise.reject(new Error("no process expected")),
    open: () => nft,
  };
  return new NftSession(new Executor(runner));
}

describe("nft session (fake nft)", () => {
  it("keeps nothing per transaction on the process: one reaction to its end, however many transactions", async () => {
    const nft = new FakeNft();
    const session = sessionOver(nft);
    for (let i = 0; i < 50; i++) await session.apply("add element ip swarmnet vip_addrs { 10.0.0.1 }\n");
    assert.equal(session.stats.applied, 50);
    assert.equal(nft.reactions, 1);
    session.close();
  });

  it("a transaction waiting when nft ends fails, naming it; the next one starts a new nft", async () => {
    const first = new FakeNft();
    first.silent = true;
    const second = new FakeNft();
    const procs = [first, second];
    const session = new NftSession(
      new Executor({
        run: () => Promise.reject(new Error("no process expected")),
        open: () => procs.shift() as FakeNft,
      }),
    );
    const pending = session.apply("add element ip swarmnet vip_addrs { 10.0.0.1 }\n");
    await new Promise((r) => setImmediate(r));
    first.kill();
    await assert.rejects(pending, /nft session ended before swarmnet_tx_1 was applied/);
    await session.apply("add element ip swarmnet vip_addrs { 10.0.0.2 }\n");
    assert.deepEqual(session.stats, { applied: 1, failed: 1, starts: 2 });
    session.close();
  });
});
