/**
 * Bridge networks on the real kernel, through the CLI as a person uses them: Docker's
 * user-defined-bridge walkthrough (alpine1…4, every reachability by IP it expects, all of
 * them out to the `client` namespace through masquerade, and its names: alpine1 resolves
 * alpine2, alpine4 and itself but not alpine3, nothing resolves on the default bridge,
 * `--network-alias` and `network connect --alias` answer), `-p 8080:80` on a bridge
 * container reached from `client`, from the node itself and from a container on the same
 * bridge through the node's address (hairpin), `--internal` and `enable_icc=false`, and
 * Docker's refusals — one line each, exit 1, nothing changed.
 */
import assert from "node:assert/strict";
import { swarmnet } from "../../support/cli.js";
import { eventually, LabCli } from "../../support/lab-cli.js";
import { isRoot, uniqueLabName } from "../../support/netns.js";

const CLIENT = "100.64.0.100";
const N1 = "100.64.1.1";

describe("drivers: bridge (netns lab)", function () {
  const name = uniqueLabName();
  const lab = new LabCli(name);
  const ipOf = async (container: string, network: string): Promise<string> => {
    const info = JSON.parse(await lab.ok("n1", "inspect", container)) as {
      NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
    }[];
    const ip = info[0]?.NetworkSettings.Networks[network]?.IPAddress;
    assert.ok(ip, `${container} has an address on ${network}`);
    return ip;
  };
  const sleeper = (container: string, ...flags: string[]) =>
    lab.ok("n1", "run", "-d", "--name", container, ...flags, "--", "sleep", "3600");
  const reaches = (container: string, ip: string) => lab.ping("n1", container, ip);
  /** Whether `container` cannot reach `ip` (a few tries, so a lost first packet is no proof). */
  const blocked = async (container: string, ip: string) =>
    !(await eventually(() => reaches(container, ip), 3, 200));

  before(async function () {
    if (!isRoot) return this.skip();
    const up = await swarmnet(["lab", "up", "--name", name, "--nodes", "2"]);
    assert.equal(up.exitCode, 0, up.stderr);
  });

  after(async () => {
    if (isRoot) await swarmnet(["lab", "down", "--name", name]);
  });

  it("walks Docker's user-defined bridge tutorial: reachability by IP as it expects, masquerade out to client", async () => {
    const id = (await lab.ok("n1", "network", "create", "--driver", "bridge", "alpine-net")).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match(await lab.ok("n1", "network", "ls"), /^[0-9a-f]{12}\s+alpine-net\s+bridge\s+local$/m);
    await sleeper("alpine1", "--network", "alpine-net");
    await sleeper("alpine2", "--network", "alpine-net");
    await sleeper("alpine3");
    await sleeper("alpine4", "--network", "alpine-net");
    await lab.ok("n1", "network", "connect", "bridge", "alpine4");
    const ip = {
      a1: await ipOf("alpine1", "alpine-net"),
      a2: await ipOf("alpine2", "alpine-net"),
      a3: await ipOf("alpine3", "bridge"),
      a4: await ipOf("alpine4", "alpine-net"),
      a4b: await ipOf("alpine4", "bridge"),
    };
    assert.match(ip.a3, /^172\.17\.0\.\d+$/);
    const inspect = JSON.parse(await lab.ok("n1", "network", "inspect", "alpine-net")) as {
      Scope: string;
      Node: string;
      Containers: Record<string, { Name: string; IPv4Address: string }>;
    }[];
    assert.equal(inspect[0]?.Scope, "local");
    assert.equal(inspect[0]?.Node, "n1");
    assert.deepEqual(
      Object.values(inspect[0]?.Containers ?? {})
        .map((c) => c.Name)
        .sort(),
      ["alpine1", "alpine2", "alpine4"],
    );
    assert.ok(await eventually(() => reaches("alpine1", ip.a2)), "alpine1 → alpine2 (same network)");
    assert.ok(await reaches("alpine1", ip.a4), "alpine1 → alpine4");
    assert.ok(await reaches("alpine4", ip.a1), "alpine4 → alpine1 (alpine-net)");
    assert.ok(await reaches("alpine4", ip.a3), "alpine4 → alpine3 (bridge)");
    assert.ok(await reaches("alpine3", ip.a4b), "alpine3 → alpine4 on bridge");
    assert.ok(await blocked("alpine1", ip.a3), "alpine1 → alpine3: across networks, no");
    assert.ok(await blocked("alpine3", ip.a1), "alpine3 → alpine1: across networks, no");
    assert.ok(await blocked("alpine3", ip.a4), "alpine3 → alpine4 on alpine-net: no");
    for (const c of ["alpine1", "alpine2", "alpine3", "alpine4"])
      assert.ok(await eventually(() => reaches(c, CLIENT), 10, 300), `${c} reaches client (masquerade)`);
  });

  it("names on a user-defined bridge: alpine1 resolves alpine2, alpine4 and itself, not alpine3; none on the default bridge; aliases", async () => {
    /** dig in a container (through its resolv.conf); status and A answers, one retry if dig got nothing. */
    const dig = async (container: string, name: string) => {
      for (let i = 0; ; i++) {
        const r = await lab.sx("n1", "exec", container, "--", "dig", "+tries=1", "+time=3", name);
        const status = /status: (\w+)/.exec(r.stdout)?.[1];
        if (status !== undefined || i === 2)
          return {
            status: status ?? "ERROR",
            ips: [...r.stdout.matchAll(/\sIN\s+A\s+(\S+)$/gm)].map((m) => m[1]),
          };
      }
    };
    const conf = (c: string) => lab.ok("n1", "exec", c, "--", "cat", "/etc/resolv.conf");
    assert.match(await conf("alpine1"), /^nameserver 127\.0\.0\.11\noptions ndots:0\n?$/);
    assert.doesNotMatch(await conf("alpine3"), /127\.0\.0\.11/, "default bridge: the node's resolvers");
    for (const [name, network] of [
      ["alpine2", "alpine-net"],
      ["alpine4", "alpine-net"],
      ["alpine1", "alpine-net"],
    ] as const) {
      const want = await ipOf(name, network);
      assert.ok(
        await eventually(async () => (await dig("alpine1", name)).ips.join() === want, 20, 500),
        `alpine1 resolves ${name} to ${want}`,
      );
    }
    assert.equal((await dig("alpine1", "alpine3")).status, "NXDOMAIN", "alpine3 is on another network");
    const fromDefault = await lab.sx("n1", "exec", "alpine3", "--", "getent", "hosts", "alpine4");
    assert.notEqual(fromDefault.exitCode, 0, "the default bridge resolves no container names");
    // The walkthrough's names and aliases, on one node.
    await lab.ok(
      "n1",
      "run",
      "-d",
      "--name",
      "my-net-nginx",
      "--network",
      "alpine-net",
      "--network-alias",
      "my-nginx-alias",
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "80",
    );
    for (const name of ["my-net-nginx", "my-nginx-alias"]) {
      const answered = await eventually(async () => {
        const r = await lab.sx("n1", "exec", "alpine2", "--", "curl", "-s", "-m", "2", `http://${name}/`);
        return r.exitCode === 0 && /Task: my-net-nginx/.test(r.stdout);
      }, 30);
      assert.ok(answered, `alpine2 reaches ${name} over HTTP`);
    }
    await lab.ok("n1", "network", "connect", "--alias", "another-alias", "alpine-net", "alpine3");
    const a3 = await ipOf("alpine3", "alpine-net");
    assert.ok(
      await eventually(async () => (await dig("alpine1", "another-alias")).ips.join() === a3, 20, 500),
      "another-alias answers with alpine3's address on alpine-net",
    );
    await lab.ok("n1", "network", "disconnect", "alpine-net", "alpine3");
  });

  it("-p 8080:80 answers from client, the node itself and a container on the same bridge (hairpin); port shows it", async () => {
    await lab.ok(
      "n1",
      "run",
      "-d",
      "--name",
      "web",
      "-p",
      "8080:80",
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "80",
    );
    assert.equal((await lab.ok("n1", "port", "web")).trim(), "80/tcp -> 0.0.0.0:8080");
    const answers = async (node: string, ...prefix: string[]) =>
      eventually(async () => {
        const r = await lab.exec(node, ...prefix, "curl", "-s", "-m", "2", `http://${N1}:8080/`);
        return r.exitCode === 0 && /Task: web/.test(r.stdout);
      }, 30);
    assert.ok(await answers("client"), "from client");
    assert.ok(await answers("n1"), "from the node itself");
    assert.ok(
      await answers("n1", "swarmnet", "exec", "alpine3", "--"),
      "hairpin from alpine3 on the same bridge",
    );
    // -P publishes every --expose'd port on a free port of the ephemeral range.
    await lab.ok(
      "n1",
      "run",
      "-d",
      "--name",
      "webp",
      "-P",
      "--expose",
      "80",
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "80",
    );
    const published = /^80\/tcp -> 0\.0\.0\.0:(\d+)$/.exec((await lab.ok("n1", "port", "webp")).trim());
    assert.ok(published, "port shows the -P mapping");
    const viaP = await eventually(async () => {
      const r = await lab.exec("client", "curl", "-s", "-m", "2", `http://${N1}:${published[1]}/`);
      return r.exitCode === 0 && /Task: webp/.test(r.stdout);
    }, 30);
    assert.ok(viaP, "the -P port answers from client");
    const rulesBefore = (await lab.exec("n1", "nft", "list", "ruleset")).stdout;
    const again = await lab.sx("n1", "run", "-d", "--name", "web2", "-p", "8080:81", "--", "sleep", "60");
    assert.equal(again.exitCode, 1);
    assert.match(again.stderr, /host port 8080\/tcp is already in use by container web/);
    assert.equal(again.stderr.trim().split("\n").length, 1);
    assert.equal(
      (await lab.exec("n1", "nft", "list", "ruleset")).stdout,
      rulesBefore,
      "nft ruleset unchanged",
    );
  });

  it("--internal has no way out; enable_icc=false keeps containers of one network apart", async () => {
    await lab.ok("n1", "network", "create", "--internal", "inner");
    await sleeper("i1", "--network", "inner");
    await sleeper("i2", "--network", "inner");
    const i2 = await ipOf("i2", "inner");
    assert.ok(await eventually(() => reaches("i1", i2), 10, 300), "i1 → i2 on the internal network");
    assert.ok(await blocked("i1", CLIENT), "no egress from an internal network");
    await lab.ok("n1", "network", "create", "-o", "com.docker.network.bridge.enable_icc=false", "quiet");
    await sleeper("q1", "--network", "quiet");
    await sleeper("q2", "--network", "quiet");
    const q2 = await ipOf("q2", "quiet");
    assert.ok(await eventually(() => reaches("q1", CLIENT), 10, 300), "q1 still reaches client");
    assert.ok(await blocked("q1", q2), "q1 cannot reach q2 (icc=false)");
  });

  it("refuses bad input with one clear line, exit 1, and changes nothing", async () => {
    await sleeper("nobody", "--network", "none");
    await lab.ok(
      "n1",
      "run",
      "-d",
      "--name",
      "hostweb",
      "--network",
      "host",
      "--",
      "swarmnet",
      "whoami",
      "--port",
      "8093",
    );
    const listening = await eventually(
      async () => (await lab.exec("n1", "curl", "-s", "-m", "2", `http://${N1}:8093/`)).exitCode === 0,
      30,
    );
    assert.ok(listening, "the host-network container listens");
    const cases: [string[], RegExp][] = [
      [
        ["network", "create", "--subnet", "100.64.5.0/24", "x1"],
        /overlaps 100\.64\.0\.0\/16 \(address of eth0\)/,
      ],
      [
        ["network", "create", "--subnet", "172.17.1.0/24", "x2"],
        /overlaps 172\.17\.0\.0\/16 \(network bridge\)/,
      ],
      [
        ["network", "create", "--subnet", "10.60.0.0/24", "--gateway", "10.61.0.1", "x3"],
        /gateway 10\.61\.0\.1 is outside subnet/,
      ],
      [
        ["run", "--network", "alpine-net", "--ip", "10.99.0.5", "--", "true"],
        /address 10\.99\.0\.5 is outside subnet/,
      ],
      [["network", "rm", "alpine-net"], /network alpine-net id [0-9a-f]+ has active endpoints/],
      [["network", "connect", "alpine-net", "nobody"], /private \(none\) mode/],
      [["network", "rm", "bridge"], /bridge is a pre-defined network and cannot be removed/],
      [
        ["run", "-d", "-p", "8093:80", "--", "sleep", "60"],
        /host port 8093\/tcp is already in use by a process of the node \(host-network containers: hostweb\)/,
      ],
    ];
    const snapshot = async () => ({
      networks: await lab.ok("n1", "network", "ls"),
      ps: await lab.ok("n1", "ps", "-a", "--format", "json"),
      links: (await lab.exec("n1", "ip", "-o", "link", "show")).stdout,
      nft: (await lab.exec("n1", "nft", "list", "ruleset")).stdout,
    });
    const before = await snapshot();
    for (const [args, message] of cases) {
      const r = await lab.sx("n1", ...args);
      assert.equal(r.exitCode, 1, `${args.join(" ")} must fail`);
      assert.match(r.stderr, message, args.join(" "));
      assert.equal(r.stderr.trim().split("\n").length, 1, `one line for ${args.join(" ")}`);
    }
    assert.deepEqual(await snapshot(), before);
  });
});
