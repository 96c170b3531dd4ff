/**
 * Quorum loss as a person sees it (issue 17): a call to a store without quorum fails in
 * about slowCallMs + probeTimeoutMs with the quorum message, calls while quorum is known
 * lost fail at once without reaching the store, and the first probe that finds a
 * majority again lets calls through. Fake probes and calls; real timers (short ones).
 */
import assert from "node:assert/strict";
import { ErrorCode, SwarmnetError, isSwarmnetError } from "../../../common/errors.js";
import { fromGrpcError, transportReason } from "../../../common/grpc-errors.js";
import { translate } from "../../../manager/store/etcd-kv.js";
import { hasQuorum, StoreHealth } from "../../../manager/store/store-health.js";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";

const MEMBERS = ["https://a:2379", "https://b:2379", "https://c:2379"];
const OPTS = { slowCallMs: 50, probeTimeoutMs: 100, recheckMs: 30 } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const unreachable = (err: unknown) => isSwarmnetError(err, ErrorCode.Unavailable);

/** Members that answer their probe; the others hang until the probe's timeout. */
function fakeMembers(up: Set<string>) {
  return (endpoint: string, timeoutMs: number) =>
    up.has(endpoint)
      ? Promise.resolve()
      : sleep(timeoutMs).then(() => Promise.reject(new Error("deadline exceeded")));
}

describe("store health: quorum loss fails fast and in words", () => {
  it("majority: more than half of the members", () => {
    assert.equal(hasQuorum({ reachable: 2, members: 3 }), true);
    assert.equal(hasQuorum({ reachable: 1, members: 3 }), false);
    assert.equal(hasQuorum({ reachable: 1, members: 2 }), false);
    assert.equal(hasQuorum({ reachable: 1, members: 1 }), true);
  });

  it("a hanging call on a store without quorum fails within slowCall + probe timeout, then at once; restored → works", async () => {
    const up = new Set([MEMBERS[0] as string]);
    const health = new StoreHealth({ ...OPTS, endpoints: MEMBERS, probe: fakeMembers(up) });
    let reached = 0;
    const hang = () => {
      reached++;
      return new Promise<string>(() => {});
    };
    const started = Date.now();
    await assert.rejects(
      health.guard(hang, unreachable),
      (e: unknown) =>
        isSwarmnetError(e, ErrorCode.QuorumLost) &&
        /^the cluster store has lost quorum \(1 of 3 members reachable\): restore a member or see README\.md#/.test(
          e.message,
        ),
    );
    const took = Date.now() - started;
    assert.ok(took < OPTS.slowCallMs + OPTS.probeTimeoutMs + 500, `failed after ${took} ms`);
    // Known lost: the next call fails without reaching the store.
    await assert.rejects(health.guard(hang, unreachable), /lost quorum/);
    assert.equal(reached, 1);
    // One member back: the recheck finds 2 of 3 and calls go through again.
    up.add(MEMBERS[1] as string);
    for (let i = 0; i < 100 && health.lostView !== undefined; i++) await sleep(20);
    assert.equal(await health.guard(async () => "answer", unreachable), "answer");
    health.close();
  });

  it("a slow call on a healthy store is not cut short; a failure with quorum held stays what it was", async () => {
    const health = new StoreHealth({ ...OPTS, endpoints: MEMBERS, probe: fakeMembers(new Set(MEMBERS)) });
    assert.equal(
      await health.guard(() => sleep(200).then(() => "late but fine"), unreachable),
      "late but fine",
    );
    const refused = new SwarmnetError(
      ErrorCode.Unavailable,
      "the cluster store (etcd) did not answer get in time: try again",
    );
    await assert.rejects(
      health.guard(() => Promise.reject(refused), unreachable),
      (e: unknown) => e === refused,
    );
    health.close();
  });

  it("a silent member is reported, probed again until it answers, then reported back", async () => {
    const up = new Set([MEMBERS[0] as string, MEMBERS[1] as string]);
    const seen = new Map<string, boolean>();
    const health = new StoreHealth({
      ...OPTS,
      endpoints: MEMBERS,
      probe: fakeMembers(up),
      onMember: (e, answered) => seen.set(e, answered),
    });
    assert.deepEqual(await health.probeRound(), { reachable: 2, members: 3 });
    assert.equal(health.lostView, undefined, "2 of 3 is quorum");
    assert.equal(seen.get(MEMBERS[2] as string), false);
    up.add(MEMBERS[2] as string);
    for (let i = 0; i < 100 && seen.get(MEMBERS[2] as string) !== true; i++) await sleep(20);
    assert.equal(seen.get(MEMBERS[2] as string), true, "rechecked until it answered");
    health.close();
  });

  it("probes that miss their deadline while calls succeed (a loaded machine) are no verdict, and a majority is never isolated", async () => {
    const seen = new Map<string, boolean>();
    const health = new StoreHealth({
      ...OPTS,
      endpoints: MEMBERS,
      probe: fakeMembers(new Set([MEMBERS[0] as string])), // two members' status answers are late
      onMember: (e, answered) => seen.set(e, answered),
    });
    // A slow call starts a round; it succeeds while the round runs: quorum is proven.
    assert.equal(await health.guard(() => sleep(80).then(() => "ok"), unreachable), "ok");
    await sleep(OPTS.probeTimeoutMs + 50);
    assert.equal(health.lostView, undefined, "a call succeeded during the round");
    assert.equal(seen.size, 0, "no member isolated on a round without a majority of answers");
    assert.equal(await health.guard(() => Promise.resolve("next"), unreachable), "next");
    health.close();
  });

  it("etcd errors in the store's words: no library text", () => {
    const breaker = new Error("Execution prevented because the circuit breaker is open");
    const refused = new Error(
      "14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 100.64.1.2:2379 Resolution note: …",
    );
    for (const [err, want] of [
      [breaker, /^the cluster store \(etcd\) cannot be reached for get: try again$/],
      [refused, /^the cluster store \(etcd\) cannot be reached for get: try again$/],
      [new Error("4 DEADLINE_EXCEEDED: Deadline exceeded"), /did not answer get in time/],
      [new Error("etcdserver: mvcc: required revision has been compacted"), /revision was compacted/],
      [
        new Error("etcdserver: request is too large"),
        /^the cluster store refused get: etcdserver: request is too large$/,
      ],
    ] as const) {
      const t = translate("get", err);
      assert.match(t.message, want);
      assert.doesNotMatch(t.message, /Resolution note|circuit breaker|ECONNREFUSED|Last error/);
    }
  });

  it("gRPC transport failures in a few words; a server's own code and message pass through", () => {
    const err = (code: status, details: string, sent?: string): ServiceError => {
      const metadata = new Metadata();
      if (sent !== undefined) metadata.set("swarmnet-code", sent);
      return Object.assign(new Error(details), { code, details, metadata });
    };
    const dump =
      "No connection established. Last error: Error: connect ECONNREFUSED 100.64.1.1:2377 (2025-01-01T00:00:00.000Z). Resolution note: …";
    const e = fromGrpcError(err(status.UNAVAILABLE, dump), "manager 100.64.1.1:2377");
    assert.equal(e.message, "cannot reach manager 100.64.1.1:2377: connection refused (is it running?)");
    assert.equal(e.code, ErrorCode.Unavailable);
    assert.equal(
      transportReason(status.DEADLINE_EXCEEDED, "Deadline exceeded after 15.001s"),
      "no answer in time",
    );
    assert.equal(
      transportReason(
        status.DEADLINE_EXCEEDED,
        "Deadline exceeded after 119.838s,name resolution: 0.676s,metadata filters: 0.002s,LB pick: 1.703s",
      ),
      "no answer in time",
    );
    const quorum = fromGrpcError(
      err(
        status.UNAVAILABLE,
        "the cluster store has lost quorum (1 of 3 members reachable): …",
        ErrorCode.QuorumLost,
      ),
      "manager x",
    );
    // Not Unavailable: the manager answered, so the CLI does not try every other manager.
    assert.equal(quorum.code, ErrorCode.QuorumLost);
    assert.match(quorum.message, /^the cluster store has lost quorum/);
  });
});
