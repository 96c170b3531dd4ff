/**
 * The IPVS mesh against the fake kernel (its `ipvsadm` keeps a real table): what IPVS and
 * nftables hold after a full apply (golden files), a backend added or removed, scale to
 * 0, VIPs, the idle timeouts, flush, adoption of a previous agent's services, a failed
 * batch, bad input; and the choice of backend by probe and configuration.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { VirtualClock } from "../../../common/clock.js";
import { ErrorCode } from "../../../common/errors.js";
import { Executor } from "../../../common/executor.js";
import { FakeKernel } from "../../../common/fake-kernel.js";
import {
  IpvsMesh,
  chooseMeshBackend,
  ingressMark,
  renderMarksScript,
  buildIpvsModel,
  type MeshState,
} from "../../../agent/ingress/index.js";
import { loadAgentConfig } from "../../../agent/config.js";
import type { KernelCapabilities } from "../../../agent/probe.js";

const NS = "sn-x-n1";
const golden = (name: string): string =>
  readFileSync(
    fileURLToPath(new URL(`../../../../test/unit/ingress/golden/${name}`, import.meta.url)),
    "utf8",
  );

const WEB_MARK = ingressMark("tcp", 8080); // 0x01001f90
const STATE: MeshState = {
  ingress: [
    {
      serviceId: "web",
      protocol: "tcp",
      publishedPort: 8080,
      targetPort: 80,
      backends: ["10.255.0.6", "10.255.0.5"],
    },
    { serviceId: "dns", protocol: "udp", publishedPort: 53, targetPort: 5353, backends: ["10.255.0.7"] },
  ],
  ingressSource: "10.255.0.2",
  vips: [
    { serviceId: "web", network: "front", vip: "10.0.1.2", backends: ["10.0.1.5", "10.0.1.6"] },
    {
      serviceId: "db",
      network: "back",
      vip: "10.0.2.2",
      ports: [{ protocol: "tcp", port: 5432, targetPort: 5433 }],
      backends: ["10.0.2.5"],
    },
  ],
  hostPorts: [{ taskId: "t1", protocol: "tcp", publishedPort: 9000, targetIp: "172.18.0.3", targetPort: 90 }],
};

function web(backends: string[]): MeshState {
  const [first, ...rest] = STATE.ingress ?? [];
  return { ...STATE, ingress: [{ ...(first ?? assert.fail()), backends }, ...rest] };
}

function setup(): { kernel: FakeKernel; mesh: IpvsMesh } {
  const kernel = new FakeKernel();
  return { kernel, mesh: new IpvsMesh(new Executor(kernel), { netns: NS, clock: new VirtualClock() }) };
}

/** Lines the kernel log shows since `from`, without the `<<< N lines` suffix's count. */
function ran(kernel: FakeKernel, from: number): string[] {
  return kernel.log.slice(from);
}

async function withNamespace(kernel: FakeKernel): Promise<void> {
  await new Executor(kernel).netnsAdd(NS);
}

describe("IPVS mesh", () => {
  it("a full apply: one fwmark service per published port and VIP port, marks in nftables, the rest in table swarmnet (golden)", async () => {
    const { kernel, mesh } = setup();
    await withNamespace(kernel);
    const stats = await mesh.apply(STATE);
    assert.equal(stats.mode, "full");
    assert.equal(kernel.ipvs(NS).services.join("\n") + "\n", golden("ipvs-full.ipvsadm"));
    assert.equal(renderMarksScript(buildIpvsModel(STATE)), golden("ipvs-marks.nft"));
    const dump = kernel.dump(NS);
    assert.deepEqual(kernel.elements(NS, "ingress_marks", "ip swarmnet_ipvs"), ["tcp . 8080", "udp . 53"]);
    assert.deepEqual(kernel.elements(NS, "vip_addr_marks", "ip swarmnet_ipvs"), ["10.0.1.2"]);
    assert.deepEqual(kernel.elements(NS, "vip_port_marks", "ip swarmnet_ipvs"), ["10.0.2.2 . tcp . 5432"]);
    // Table swarmnet keeps the host port and the ingress SNAT, and balances nothing itself.
    assert.deepEqual(kernel.elements(NS, "local_ports"), ["tcp . 9000"]);
    for (const set of ["ingress_ports", "ingress_backends", "vip_addrs", "vip_ports"])
      assert.deepEqual(kernel.elements(NS, set), [], set);
    assert.match(dump, /meta mark & 0xff000000 == 0x01000000 snat to 10\.255\.0\.2/);
    // The host port's element, then 2 published-port + 2 VIP services and 6 real servers.
    assert.equal(stats.elementsAdded, 1 + 4 + 6);
    assert.equal(stats.size.elements, 1 + 4 + 6, "the host port, 4 marks, 6 real servers");
  });

  it("raises IPVS's idle timeouts and sets the IPVS sysctls in the namespace", async () => {
    const { kernel, mesh } = setup();
    await withNamespace(kernel);
    await mesh.apply(STATE);
    assert.equal(kernel.ipvs(NS).timeouts, "432000 120 300");
    assert.equal(kernel.sysctl(NS, "net.ipv4.vs.conntrack"), "1");
    assert.equal(kernel.sysctl(NS, "net.ipv4.vs.expire_nodest_conn"), "1");
    assert.equal(kernel.sysctl(NS, "net.netfilter.nf_conntrack_tcp_timeout_established"), "432000");
  });

  it("one backend added is one -a line; removed, one -d line; nftables untouched", async () => {
    const { kernel, mesh } = setup();
    await withNamespace(kernel);
    await mesh.apply(STATE);
    let from = kernel.log.length;
    let stats = await mesh.apply(web(["10.255.0.5", "10.255.0.6", "10.255.0.9"]));
    assert.deepEqual(ran(kernel, from), [`ip netns exec ${NS} ipvsadm --restore <<< 1 lines`]);
    assert.equal(stats.mode, "incremental");
    assert.equal(stats.elementsAdded, 1);
    assert.ok(kernel.ipvs(NS).services.includes(`-a -f ${WEB_MARK} -r 10.255.0.9:80 -m -w 1`));

    from = kernel.log.length;
    stats = await mesh.apply(web(["10.255.0.6", "10.255.0.9"]));
    assert.deepEqual(ran(kernel, from), [`ip netns exec ${NS} ipvsadm --restore <<< 1 lines`]);
    assert.equal(stats.elementsDeleted, 1);
    const rs = kernel.ipvs(NS).services.filter((l) => l.startsWith(`-a -f ${WEB_MARK} `));
    assert.deepEqual(rs, [
      `-a -f ${WEB_MARK} -r 10.255.0.6:80 -m -w 1`,
      `-a -f ${WEB_MARK} -r 10.255.0.9:80 -m -w 1`,
    ]);

    from = kernel.log.length;
    stats = await mesh.apply(web(["10.255.0.9", "10.255.0.6"]));
    assert.deepEqual(ran(kernel, from), [], "the same state in another order changes nothing");
    assert.equal(stats.mode, "noop");
  });

  it("scale to 0 keeps the service and its mark with no real server (the port refuses), and back", async () => {
    const { kernel, mesh } = setup();
    await withNamespace(kernel);
    await mesh.apply(STATE);
    await mesh.apply(web([]));
    const services = kernel.ipvs(NS).services;
    assert.ok(services.includes(`-A -f ${WEB_MARK} -s rr`));
    assert.equal(services.filter((l) => l.startsWith(`-a -f ${WEB_MARK} `)).length, 0);
    assert.deepEqual(kernel.elements(NS, "ingress_marks", "ip swarmnet_ipvs"), ["tcp . 8080", "udp . 53"]);
    await mesh.apply(web(["10.255.0.5"]));
    assert.ok(kernel.ipvs(NS).services.includes(`-a -f ${WEB_MARK} -r 10.255.0.5:80 -m -w 1`));
  });

  it("VIPs: a whole address keeps the packet's port (real server port 0); VIP marks stay with their VIP", async () => {
    const { kernel, mesh } = setup();
    await withNamespace(kernel);
    await mesh.apply({ vips: STATE.vips ?? [] });
    assert.deepEqual(kernel.ipvs(NS).services, [
      "-A -f 33554432 -s rr",
      "-a -f 33554432 -r 10.0.1.5:0 -m -w 1",
      "-a -f 33554432 -r 10.0.1.6:0 -m -w 1",
      "-A -f 33554433 -s rr",
      "-a -f 33554433 -r 10.0.2.5:5433 -m -w 1",
    ]);
    // A new VIP sorting first takes a free mark; the others keep theirs.
    const extra = { serviceId: "api", network: "front", vip: "10.0.0.9", backends: ["10.0.0.10"] };
    const from = kernel.log.length;
    await mesh.apply({ vips: [extra, ...(STATE.vips ?? [])] });
    assert.deepEqual(
      kernel.ipvs(NS).services.filter((l) => l.startsWith("-A")),
      ["-A -f 33554432 -s rr", "-A -f 33554433 -s rr", "-A -f 33554434 -s rr"],
    );
    assert.deepEqual(ran(kernel, from), [
      `ip netns exec ${NS} ipvsadm --restore <<< 2 lines`,
      `ip netns exec ${NS} nft -f - <<< 22 lines`,
    ]);
    assert.ok(kernel.dump(NS).includes("10.0.0.9 : 0x02000002"));
  });

  it("a removed published port goes from the marks before its service goes from IPVS", async () => {
    const { kernel, mesh } = setup();
    await withNamespace(kernel);
    await mesh.apply(STATE);
    const from = kernel.log.length;
    await mesh.apply({ ...STATE, ingress: (STATE.ingress ?? []).slice(1) });
    const log = ran(kernel, from);
    assert.deepEqual(log, [
      `ip netns exec ${NS} nft -f - <<< 23 lines`,
      `ip netns exec ${NS} ipvsadm --restore <<< 1 lines`,
    ]);
    assert.ok(!kernel.ipvs(NS).services.some((l) => l.includes(` ${WEB_MARK} `)));
  });

  it("flush removes our services, the marks table and table swarmnet; another owner's IPVS service stays", async () => {
    const { kernel, mesh } = setup();
    await withNamespace(kernel);
    const ex = new Executor(kernel);
    await ex.ipvsadmRestore(["-A -t 192.0.2.1:80 -s wlc", "-a -t 192.0.2.1:80 -r 192.0.2.9:80 -m -w 1"], {
      netns: NS,
    });
    await mesh.apply(STATE);
    await mesh.flush();
    assert.deepEqual(kernel.ipvs(NS).services, [
      "-A -t 192.0.2.1:80 -s wlc",
      "-a -t 192.0.2.1:80 -r 192.0.2.9:80 -m -w 1",
    ]);
    assert.equal(kernel.dump(NS), "");
    // And a later apply builds everything again.
    await mesh.apply(STATE);
    assert.equal(kernel.ipvs(NS).services.filter((l) => l.startsWith("-A -f")).length, 4);
  });

  it("a new agent adopts the services a previous one left: live real servers are not re-added", async () => {
    const { kernel, mesh } = setup();
    await withNamespace(kernel);
    await mesh.apply(STATE);
    const next = new IpvsMesh(new Executor(kernel), { netns: NS, clock: new VirtualClock() });
    const from = kernel.log.length;
    await next.apply(web(["10.255.0.5", "10.255.0.6", "10.255.0.9"]));
    const restores = ran(kernel, from).filter((l) => l.includes("--restore"));
    assert.deepEqual(restores, [`ip netns exec ${NS} ipvsadm --restore <<< 1 lines`], "only the new backend");
  });

  it("a batch that fails is redone once from the kernel's table (repairs drift)", async () => {
    const { kernel, mesh } = setup();
    await withNamespace(kernel);
    await mesh.apply(STATE);
    // Someone deleted a real server by hand; the next change also removes it.
    await new Executor(kernel).ipvsadm(["-d", "-f", String(WEB_MARK), "-r", "10.255.0.5:80"], { netns: NS });
    kernel.failNext(/ipvsadm --restore/, "No such destination");
    const stats = await mesh.apply(web(["10.255.0.6"]));
    assert.equal(stats.repairedDrift, true);
    assert.deepEqual(
      kernel.ipvs(NS).services.filter((l) => l.startsWith(`-a -f ${WEB_MARK} `)),
      [`-a -f ${WEB_MARK} -r 10.255.0.6:80 -m -w 1`],
    );
  });

  it("an apply that failed even after its repair throws, and the next one starts from a read of the kernel", async () => {
    const { kernel, mesh } = setup();
    await withNamespace(kernel);
    await mesh.apply(STATE);
    kernel.failNext(/ipvsadm --restore/, "Memory allocation problem", 2);
    await assert.rejects(mesh.apply(web(["10.255.0.9"])), { code: ErrorCode.KernelRejected });
    const from = kernel.log.length;
    const stats = await mesh.apply(web(["10.255.0.9"]));
    assert.equal(stats.mode, "full");
    assert.ok(ran(kernel, from).includes(`ip netns exec ${NS} ipvsadm -S -n`));
    assert.deepEqual(
      kernel.ipvs(NS).services.filter((l) => l.startsWith(`-a -f ${WEB_MARK} `)),
      [`-a -f ${WEB_MARK} -r 10.255.0.9:80 -m -w 1`],
    );
  });

  it("resync repairs IPVS drift: a lost service, an edited real server, a lowered timeout", async () => {
    const { kernel, mesh } = setup();
    await withNamespace(kernel);
    await mesh.apply(STATE);
    const ex = new Executor(kernel);
    await ex.ipvsadmRestore(
      [`-D -f ${ingressMark("udp", 53)}`, `-e -f ${WEB_MARK} -r 10.255.0.5:80 -m -w 0`],
      { netns: NS },
    );
    await ex.ipvsadm(["--set", "900", "120", "300"], { netns: NS });
    await mesh.resync();
    assert.equal(kernel.ipvs(NS).services.join("\n") + "\n", golden("ipvs-full.ipvsadm"));
    assert.equal(kernel.ipvs(NS).timeouts, "432000 120 300");
  });

  it("bad input is one clear error and changes nothing", async () => {
    const { kernel, mesh } = setup();
    await withNamespace(kernel);
    await mesh.apply(STATE);
    const before = { ipvs: kernel.ipvs(NS), nft: kernel.dump(NS), log: kernel.log.length };
    const clash = {
      ...STATE,
      hostPorts: [
        {
          taskId: "t2",
          protocol: "tcp" as const,
          publishedPort: 8080,
          targetIp: "172.18.0.4",
          targetPort: 80,
        },
      ],
    };
    await assert.rejects(mesh.apply(clash), {
      code: ErrorCode.PortInUse,
      message: /tcp port 8080 is already published by service web/,
    });
    await assert.rejects(mesh.apply(web(["10.255.0.300"])), {
      code: ErrorCode.InvalidArgument,
      message: /ingress\[0\]: backends\[0\] must be an IPv4 address/,
    });
    assert.deepEqual({ ipvs: kernel.ipvs(NS), nft: kernel.dump(NS), log: kernel.log.length }, before);
  });
});

describe("mesh backend choice", () => {
  const caps = (ipvs: boolean): KernelCapabilities => ({
    kernelRelease: "test",
    features: [
      {
        name: "ipvs",
        available: ipvs,
        detail: ipvs ? "ip_vs in /proc/net" : "no /proc/net/ip_vs and no ip_vs module",
      },
    ],
  });

  it("auto: IPVS where the probe found ip_vs, nftables where not, saying why", () => {
    assert.deepEqual(chooseMeshBackend(caps(true)), {
      kind: "ipvs",
      reason: "kernel has ip_vs: IPVS fwmark services",
    });
    assert.deepEqual(chooseMeshBackend(caps(false)), {
      kind: "nftables",
      reason: "kernel lacks ip_vs (probe: no /proc/net/ip_vs and no ip_vs module): nftables maps",
    });
  });

  it("forced: nftables anywhere; ipvs where the kernel lacks it is one clear error", () => {
    assert.equal(chooseMeshBackend(caps(true), "nftables").kind, "nftables");
    assert.equal(chooseMeshBackend(caps(true), "ipvs").kind, "ipvs");
    assert.throws(() => chooseMeshBackend(caps(false), "ipvs"), {
      code: ErrorCode.KernelUnsupported,
      message:
        'ingress backend "ipvs" needs ip_vs, which this kernel lacks (probe: no /proc/net/ip_vs and no ip_vs module)',
    });
  });

  it("the agent config takes auto, nftables or ipvs, and names the field otherwise", () => {
    assert.equal(loadAgentConfig({}).ingressBackend, "auto");
    assert.equal(loadAgentConfig({ ingressBackend: "ipvs" }).ingressBackend, "ipvs");
    assert.throws(() => loadAgentConfig({ ingressBackend: "iptables" }), {
      code: ErrorCode.InvalidConfig,
      message: /^agent\.ingressBackend: /,
    });
  });
});
