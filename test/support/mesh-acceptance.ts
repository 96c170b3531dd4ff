/**
 * The routing mesh's acceptance checks, shared by both engines: nftables in the netns
 * topology (test/netns/ingress/mesh.test.ts, namespaces on this host) and IPVS in the VM
 * lab (test/vm/ipvs-mesh.ts, Debian's kernel in the VM workers). A test drives its own
 * mesh (`Mesh.apply` there, the CLI on a live cluster here) and then asks the same
 * questions through a `MeshLab`, which only knows how to reach its nodes:
 *
 *   expectBalanced     every request answered, round robin over exactly these tasks
 *   expectOnly         every request answered, by these tasks only (after a removal)
 *   expectHostMode     a host-mode port answers on the nodes running its task, with the
 *                      client's own address, and nowhere else
 *   holdConnections    established connections through a node, held open and idle (a
 *                      request's first lines sent, the rest on `finish`)
 *   expectLongBinding  the mesh's entry for a held connection lives for days, not minutes
 *   expectRemovalReset after backends were removed: held connections to them are reset
 *                      (not black-holed), those to the survivors still answer
 *
 * Answers are `swarmnet whoami`'s text (the netns backends run it; the VM tasks' CGI,
 * test/vm/ipvs-responder, prints the same lines); a task is named by `MeshLab.task`.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { WhoamiAnswer } from "../../cli/whoami.js";

export interface MeshLab {
  /** The namespace on this host of the client outside the cluster, and its address. */
  readonly clientNetns: string;
  readonly clientAddr: string;
  /** A node's address, where published ports answer. */
  addr(node: string): string;
  /** The URL of the tasks' answer at `host:port`. */
  url(host: string, port: number): string;
  /** `n` sequential GETs from `from` (the client, a node or a container role); undefined where nothing answered. */
  gets(from: string, url: string, n: number): Promise<(WhoamiAnswer | undefined)[]>;
  /** The name tests give the task that answered. */
  task(answer: WhoamiAnswer): string;
  /** Seconds left on `node`'s mesh entry for the client's connection from `clientPort`; undefined if none. */
  connectionTimeoutS(node: string, clientPort: number): Promise<number | undefined>;
}

function tasksOf(lab: MeshLab, answers: readonly (WhoamiAnswer | undefined)[]): string[] {
  return answers.map((a) => (a === undefined ? "<none>" : lab.task(a)));
}

function addressOnly(remote: string): string {
  return remote.replace(/:\d+$/, "");
}

/**
 * `n` requests from `from` to `url` all answered, round robin over exactly `tasks` (each
 * answers n / tasks.length of them); with `remote`, every backend saw that source address.
 */
export async function expectBalanced(
  lab: MeshLab,
  from: string,
  url: string,
  n: number,
  tasks: readonly string[],
  remote?: string,
): Promise<WhoamiAnswer[]> {
  const answers = await lab.gets(from, url, n);
  const names = tasksOf(lab, answers);
  const want = [...tasks].sort();
  assert.deepEqual([...new Set(names)].sort(), want, `${from} -> ${url}: ${names.join(" ")}`);
  for (const t of want)
    assert.equal(
      names.filter((x) => x === t).length,
      n / want.length,
      `round robin, ${from} -> ${url}: ${names.join(" ")}`,
    );
  const got = answers as WhoamiAnswer[];
  if (remote !== undefined)
    for (const a of got)
      assert.equal(addressOnly(a.remoteAddr), remote, `${lab.task(a)} saw ${a.remoteAddr}, not ${remote}`);
  return got;
}

/** `n` requests from `from` to `url` all answered, each by one of `tasks`. */
export async function expectOnly(
  lab: MeshLab,
  from: string,
  url: string,
  n: number,
  tasks: readonly string[],
): Promise<void> {
  const names = tasksOf(lab, await lab.gets(from, url, n));
  assert.ok(
    names.every((t) => tasks.includes(t)),
    `${from} -> ${url}: only ${tasks.join(",")} may answer: ${names.join(" ")}`,
  );
}

/**
 * A host-mode port: on each node of `answering`, requests from the client are answered
 * by that node's task (named), not masqueraded (the task sees the client's address); the
 * `silent` nodes do not answer at all.
 */
export async function expectHostMode(
  lab: MeshLab,
  port: number,
  answering: Readonly<Record<string, string>>,
  silent: readonly string[],
): Promise<void> {
  for (const [node, task] of Object.entries(answering)) {
    const answers = await lab.gets("client", lab.url(lab.addr(node), port), 3);
    assert.deepEqual(tasksOf(lab, answers), [task, task, task], `host port ${port} on ${node}`);
    for (const a of answers)
      assert.equal(addressOnly(a?.remoteAddr ?? ""), lab.clientAddr, `no masquerade on ${node}`);
  }
  for (const node of silent) {
    const answers = await lab.gets("client", lab.url(lab.addr(node), port), 1);
    assert.deepEqual(answers, [undefined], `${node} runs no task: nothing answers its port ${port}`);
  }
}

export type HeldOutcome =
  | { kind: "answered"; answer: WhoamiAnswer }
  | { kind: "reset"; code: string }
  | { kind: "closed" }
  | { kind: "timeout" };

export interface HeldConnections {
  /** The client's source port of each held connection. */
  ports: number[];
  /** Sends the rest of each request; what happened to each connection, in order. */
  finish(): Promise<HeldOutcome[]>;
  /** Ends the client process (idempotent; `finish` does it too). */
  kill(): void;
}

/**
 * Node script run in the client's namespace: opens `count` connections one after the
 * other, sends a request's first lines on each, prints their ports as a JSON line; every
 * `heartbeatMs` sends one more header line (busybox httpd gives up on a request whose
 * next header line takes 60 s); on "finish" on stdin ends each request and prints one
 * JSON line of outcomes. An error before that is the connection's outcome.
 */
const HOLDER = `
const net = require("node:net");
const [host, port, count, path, heartbeatMs, answerMs] = process.argv.slice(1).map((v, i) => (i === 0 || i === 3 ? v : Number(v)));
const conns = [];
const open = (i) => {
  if (i === count) return process.stdout.write(JSON.stringify({ ports: conns.map((c) => c.port) }) + "\\n");
  const c = { port: 0, data: "", outcome: undefined, sock: net.connect(port, host) };
  conns.push(c);
  c.sock.on("connect", () => { c.port = c.sock.localPort; c.sock.write("GET " + path + " HTTP/1.0\\r\\nHost: mesh\\r\\n"); open(i + 1); });
  c.sock.on("data", (d) => { c.data += d; });
  c.sock.on("error", (e) => { c.outcome ??= { kind: "reset", code: e.code }; });
  c.sock.on("close", () => { c.outcome ??= c.data === "" ? { kind: "closed" } : { kind: "answered", text: c.data }; });
};
open(0);
let n = 0;
setInterval(() => { n++; for (const c of conns) if (c.outcome === undefined) c.sock.write("X-Idle: " + n + "\\r\\n"); }, heartbeatMs);
require("node:readline").createInterface({ input: process.stdin }).on("line", () => {
  for (const c of conns) if (c.outcome === undefined) c.sock.write("\\r\\n");
  const done = () => { process.stdout.write(JSON.stringify({ outcomes: conns.map((c) => c.outcome ?? { kind: "timeout" }) }) + "\\n"); process.exit(0); };
  const t0 = Date.now();
  const poll = setInterval(() => { if (conns.every((c) => c.outcome !== undefined) || Date.now() - t0 > answerMs) { clearInterval(poll); done(); } }, 100);
});
`;

/**
 * Opens `count` connections from the client to `node`'s published `port`, each
 * established and idle until `finish`. Sequential connects meet the round robin in
 * turn, so `count` connections to as many tasks land one on each.
 */
export async function holdConnections(
  lab: MeshLab,
  node: string,
  port: number,
  count: number,
  answerMs = 30_000,
): Promise<HeldConnections> {
  const url = new URL(lab.url(lab.addr(node), port));
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      lab.clientNetns,
      process.execPath,
      "-e",
      HOLDER,
      url.hostname,
      String(port),
      String(count),
      url.pathname,
      "20000",
      String(answerMs),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout });
  const next = (): Promise<string> =>
    new Promise((resolve, reject) => {
      lines.once("line", resolve);
      child.once("exit", (code) => reject(new Error(`connection holder exited (${code}) before answering`)));
    });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  let ports: number[];
  try {
    ports = (JSON.parse(await next()) as { ports: number[] }).ports;
  } catch (err) {
    kill();
    throw err;
  }
  return {
    ports,
    kill,
    async finish() {
      const answer = next();
      child.stdin.write("finish\n");
      const { outcomes } = JSON.parse(await answer) as {
        outcomes: ({ kind: "answered"; text: string } | Exclude<HeldOutcome, { kind: "answered" }>)[];
      };
      kill();
      return outcomes.map((o) =>
        o.kind === "answered" ? { kind: "answered", answer: parseBody(o.text) } : o,
      );
    },
  };
}

function parseBody(http: string): WhoamiAnswer {
  const body = http.slice(http.indexOf("\r\n\r\n") + 4);
  const answer: WhoamiAnswer = { task: "", node: "", ips: [], remoteAddr: "", echo: undefined };
  for (const line of body.split("\n")) {
    const m = /^(Task|Node|IP|RemoteAddr): ?(.*)$/.exec(line.trim());
    if (m?.[1] === "Task") answer.task = m[2] ?? "";
    else if (m?.[1] === "Node") answer.node = m[2] ?? "";
    else if (m?.[1] === "IP") answer.ips.push(m[2] ?? "");
    else if (m?.[1] === "RemoteAddr") answer.remoteAddr = m[2] ?? "";
  }
  return answer;
}

/** Every held connection has an entry on `node` whose established timeout is days (over 4), not minutes. */
export async function expectLongBinding(lab: MeshLab, node: string, held: HeldConnections): Promise<void> {
  for (const port of held.ports) {
    const timeout = await lab.connectionTimeoutS(node, port);
    assert.ok(
      timeout !== undefined && timeout > 4 * 86_400,
      `${node}'s entry for the client's port ${port}: ${timeout} s left`,
    );
  }
}

/**
 * After backends were removed while `held` stayed open: every connection either still
 * answers, from one of `survivors`, or has ended — reset, or closed by its dying task —
 * none is left hanging (black-holed) or answered by a removed task; at least one of
 * each (the held connections covered both). Returns what each connection saw, for logs.
 */
export async function expectRemovalReset(
  lab: MeshLab,
  held: HeldConnections,
  survivors: readonly string[],
): Promise<string> {
  const outcomes = await held.finish();
  const text = outcomes
    .map((o) =>
      o.kind === "answered"
        ? `answered by ${lab.task(o.answer)}`
        : o.kind === "reset"
          ? `reset (${o.code})`
          : o.kind,
    )
    .join(", ");
  assert.ok(
    outcomes.every((o) => o.kind !== "timeout"),
    `no connection hangs: ${text}`,
  );
  for (const o of outcomes)
    if (o.kind === "answered")
      assert.ok(survivors.includes(lab.task(o.answer)), `only survivors answer: ${text}`);
  assert.ok(
    outcomes.some((o) => o.kind === "answered"),
    `the survivor's idle connection still works: ${text}`,
  );
  assert.ok(
    outcomes.some((o) => o.kind !== "answered"),
    `connections to removed tasks end: ${text}`,
  );
  return text;
}
