/**
 * A kernel in memory, behind the executor's `CommandRunner`: the subset of `ip`,
 * `bridge`, `nft`, `sysctl`, `conntrack` and `ipvsadm` the agent speaks, with the kernel's
 * semantics rather than a transcript — namespaces, links (bridge, vxlan, veth pairs across
 * namespaces, masters), addresses, routes, FDB and neighbour entries, nftables tables
 * with their sets, maps and chains, IPVS services with their real servers and timeouts
 * (`ipvs()`), and the sysctls written (`sysctl()`). Deleting what does not exist fails as the real tools
 * fail ("Cannot find device", "No such file or directory"), a batch stops at its first
 * bad line, and an `nft -f` script is one transaction: all of it or nothing (an `ipvsadm
 * --restore` is not: the lines before a bad one stay, as with the real tool).
 *
 * After knftables' fake: tests assert the resulting state (`dump()`, `elements()`,
 * `fdb()`), so a change in how the agent phrases a command does not break them, and a
 * wrong command is still caught because the state is then wrong. Unit tests only; the
 * real kernel is tested in the netns suites.
 */
import {
  EACH_NETNS_FAILED,
  EACH_NETNS_MARK,
  EACH_NETNS_SCRIPT,
  type CommandResult,
  type CommandRunner,
  type RunOptions,
} from "./executor.js";

interface Link {
  name: string;
  kind: string;
  up: boolean;
  mtu: number;
  mac: string;
  master: string | undefined;
  addrs: string[];
  /** VXLAN id. */
  id: number | undefined;
  /** The other end of a veth: namespace and name. */
  peer: { ns: string; name: string } | undefined;
  fdb: Map<string, string>;
  neigh: Map<string, string>;
  alias: string | undefined;
  /** macvlan/ipvlan/vlan: the parent device. */
  parent: string | undefined;
  /** Bridge port isolation (`bridge_slave isolated on`). */
  isolated: boolean;
}

interface Route {
  dst: string;
  gateway: string | undefined;
  dev: string;
}

interface NftSet {
  /** key → element text as added. */
  elements: Map<string, string>;
}

interface NftTable {
  sets: Map<string, NftSet>;
  chains: Map<string, string[]>;
}

/** An IPVS virtual service: its scheduler and real servers (`IP:PORT` → `-m -w 1`). */
interface IpvsService {
  scheduler: string;
  realServers: Map<string, string>;
}

interface Netns {
  links: Map<string, Link>;
  routes: Route[];
  tables: Map<string, NftTable>;
  /** IPVS services by their spec as `ipvsadm -S` writes it: `-f 16777296`, `-t 10.0.0.1:80`. */
  ipvs: Map<string, IpvsService>;
  /** `ipvsadm --set` values: tcp tcpfin udp. */
  ipvsTimeouts: string;
  sysctls: Map<string, string>;
}

class KernelError extends Error {}

const ROOT = "";
const ok = (stdout = ""): CommandResult => ({ exitCode: 0, stdout, stderr: "" });
const fail = (stderr: string, exitCode = 1): CommandResult => ({ exitCode, stdout: "", stderr });

function link(name: string, kind: string): Link {
  return {
    name,
    kind,
    up: false,
    mtu: 1500,
    mac: "02:00:00:00:00:00",
    master: undefined,
    addrs: [],
    id: undefined,
    peer: undefined,
    fdb: new Map(),
    neigh: new Map(),
    alias: undefined,
    parent: undefined,
    isolated: false,
  };
}

function cloneTables(tables: Map<string, NftTable>): Map<string, NftTable> {
  const out = new Map<string, NftTable>();
  for (const [name, t] of tables) {
    out.set(name, {
      sets: new Map([...t.sets].map(([k, s]) => [k, { elements: new Map(s.elements) }])),
      chains: new Map([...t.chains].map(([k, r]) => [k, [...r]])),
    });
  }
  return out;
}

/** Splits `a, b, c` at top level (not inside quotes). */
function splitElements(body: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] ?? "";
    if (ch === '"') quoted = !quoted;
    if (!quoted && ch === "," && body[i + 1] === " ") {
      out.push(cur.trim());
      cur = "";
      i++;
      continue;
    }
    cur += ch;
  }
  if (cur.trim() !== "") out.push(cur.trim());
  return out;
}

/** An element's key: its text up to a comment or a map value. */
function elementKey(text: string): string {
  const cut = [text.indexOf(" comment "), text.indexOf(" : ")].filter((i) => i >= 0);
  return cut.length === 0 ? text : text.slice(0, Math.min(...cut));
}

export class FakeKernel implements CommandRunner {
  private readonly namespaces = new Map<string, Netns>([[ROOT, FakeKernel.emptyNs()]]);
  /** Every command run, as one line each (for tests that count or look). */
  readonly log: string[] = [];
  /** Commands that fail on purpose: a matching command line gets this stderr. */
  private readonly faults: { match: RegExp; stderr: string; times: number }[] = [];

  private static emptyNs(): Netns {
    return {
      links: new Map([["lo", link("lo", "loopback")]]),
      routes: [],
      tables: new Map(),
      ipvs: new Map(),
      ipvsTimeouts: "900 120 300",
      sysctls: new Map(),
    };
  }

  /** Ports something listens on (`ss` answers for them), e.g. "8080". */
  readonly listeners: string[] = [];

  /** Device kinds this kernel has beyond the base set (`ipvlan`, `vlan`: absent by default, as here). */
  readonly extraKinds: string[] = [];

  /** The next `times` commands matching `match` fail with `stderr`. */
  failNext(match: RegExp, stderr: string, times = 1): void {
    this.faults.push({ match, stderr, times });
  }

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const line = [file, ...args].join(" ");
    this.log.push(
      options.input === undefined ? line : `${line} <<< ${options.input.trim().split("\n").length} lines`,
    );
    const fault = this.faults.find((f) => f.times > 0 && f.match.test(line));
    if (fault !== undefined) {
      fault.times--;
      return fail(fault.stderr);
    }
    try {
      return this.dispatch(file, [...args], options.input ?? "");
    } catch (err) {
      if (err instanceof KernelError) return fail(err.message);
      throw err;
    }
  }

  // ---------------------------------------------------------------- inspection

  netnsNames(): string[] {
    return [...this.namespaces.keys()].filter((n) => n !== ROOT).sort();
  }

  links(ns = ROOT): string[] {
    return [...this.ns(ns).links.keys()].sort();
  }

  /** `mac → dst` of a device's FDB. */
  fdb(ns: string, dev: string): Map<string, string> {
    return new Map(this.ns(ns).links.get(dev)?.fdb ?? []);
  }

  addresses(ns: string, dev: string): string[] {
    return [...(this.ns(ns).links.get(dev)?.addrs ?? [])];
  }

  /** A device's master, kind, isolation and parent; undefined when it does not exist. */
  device(
    ns: string,
    dev: string,
  ):
    | { kind: string; master?: string; isolated: boolean; parent?: string; mtu: number; up: boolean }
    | undefined {
    const l = this.namespaces.get(ns)?.links.get(dev);
    if (l === undefined) return undefined;
    return {
      kind: l.kind,
      ...(l.master === undefined ? {} : { master: l.master }),
      isolated: l.isolated,
      ...(l.parent === undefined ? {} : { parent: l.parent }),
      mtu: l.mtu,
      up: l.up,
    };
  }

  /** Routes of a namespace as `dst [via gw] dev d`, sorted. */
  routes(ns = ROOT): string[] {
    return this.ns(ns)
      .routes.map((r) => `${r.dst}${r.gateway === undefined ? "" : ` via ${r.gateway}`} dev ${r.dev}`)
      .sort();
  }

  /** Keys of a set or map of a table, sorted; [] when there is none. */
  elements(ns: string, set: string, table = "ip swarmnet"): string[] {
    return [...(this.ns(ns).tables.get(table)?.sets.get(set)?.elements.keys() ?? [])].sort();
  }

  /** Everything nftables holds in a namespace, sorted: the state to compare. */
  dump(ns = ROOT): string {
    const out: string[] = [];
    for (const [name, t] of [...this.ns(ns).tables].sort(([a], [b]) => a.localeCompare(b))) {
      out.push(`table ${name}`);
      for (const [c, rules] of [...t.chains].sort(([a], [b]) => a.localeCompare(b)))
        out.push(`  chain ${c}`, ...rules.map((r) => `    ${r}`));
      for (const [s, set] of [...t.sets].sort(([a], [b]) => a.localeCompare(b)))
        out.push(`  set ${s}`, ...[...set.elements.values()].sort().map((e) => `    ${e}`));
    }
    return out.join("\n");
  }

  /** A namespace's IPVS table as `ipvsadm -S -n` prints it (services sorted), then its timeouts. */
  ipvs(ns = ROOT): { services: string[]; timeouts: string } {
    return {
      services: this.ipvsSave(this.ns(ns))
        .split("\n")
        .filter((l) => l !== ""),
      timeouts: this.ns(ns).ipvsTimeouts,
    };
  }

  /** A sysctl as last written in a namespace (`sysctl -w`), or undefined. */
  sysctl(ns: string, key: string): string | undefined {
    return this.ns(ns).sysctls.get(key);
  }

  // ---------------------------------------------------------------- dispatch

  private ns(name: string): Netns {
    const ns = this.namespaces.get(name);
    if (ns === undefined)
      throw new KernelError(`Cannot open network namespace "${name}": No such file or directory`);
    return ns;
  }

  private dispatch(file: string, args: string[], input: string): CommandResult {
    if (file === "sh" && args[0] === "-c" && args[1] === EACH_NETNS_SCRIPT)
      return this.eachNetns(args.slice(3), input);
    if (file === "ip" && args[0] === "netns" && args[1] === "exec") {
      const ns = args[2] ?? "";
      this.ns(ns);
      return this.dispatchIn(ns, args[3] ?? "", args.slice(4), input);
    }
    return this.dispatchIn(ROOT, file, args, input);
  }

  /** The executor's one shell loop (`ipJsonEach`): `ip -n NS -j ARGS` per namespace on stdin. */
  private eachNetns(args: string[], input: string): CommandResult {
    let stdout = "";
    for (const ns of input.split("\n").filter((l) => l !== "")) {
      stdout += `${EACH_NETNS_MARK}${ns}\n`;
      this.log.push(`  ip -n ${ns} -j ${args.join(" ")}`);
      let r: CommandResult;
      try {
        r = this.ip(ROOT, ["-n", ns, "-j", ...args], "");
      } catch (err) {
        if (!(err instanceof KernelError)) throw err;
        r = fail(err.message);
      }
      const firstLine = r.stderr.split("\n")[0] ?? "";
      stdout += r.exitCode === 0 ? `${r.stdout.trimEnd()}\n` : `${EACH_NETNS_FAILED}${firstLine}\n`;
    }
    return ok(stdout);
  }

  private dispatchIn(ns: string, file: string, args: string[], input: string): CommandResult {
    switch (file) {
      case "ip":
        return this.ip(ns, args, input);
      case "bridge":
        return this.bridge(ns, args, input);
      case "nft":
        return this.nft(ns, args, input);
      case "sysctl": {
        const kv = /^([\w.]+)=(.*)$/.exec(args[args.length - 1] ?? "");
        if (kv !== null) this.ns(ns).sysctls.set(kv[1] ?? "", kv[2] ?? "");
        return ok();
      }
      case "ipvsadm":
        return this.ipvsadm(ns, args, input);
      case "ss":
        return ok(
          this.listeners.some((l) => args.join(" ").endsWith(`sport = :${l}`)) ? "LISTEN 0 0 *\n" : "",
        );
      case "conntrack":
        return fail("conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.");
      default:
        return fail(`${file}: ENOENT: not installed`, 127);
    }
  }

  /**
   * The options `ip` and `bridge` share: `-n NS`, `-j`, `-d`, and `-batch -` (one line at a
   * time through `line`, stopping at the first that fails). Returns what is left to run,
   * or the batch's result.
   */
  private options(
    ns: string,
    args: string[],
    input: string,
    line: (ns: string, words: string[]) => void,
  ): { ns: string; args: string[]; json: boolean } | CommandResult {
    let json = false;
    while (args[0]?.startsWith("-")) {
      const flag = args.shift();
      if (flag === "-n") ns = args.shift() ?? "";
      else if (flag === "-j") json = true;
      else if (flag === "-batch") {
        this.ns(ns);
        for (const l of input.split("\n")) if (l.trim() !== "") line(ns, l.trim().split(/\s+/));
        return ok();
      }
    }
    return { ns, args, json };
  }

  private ip(at: string, argv: string[], input: string): CommandResult {
    const o = this.options(at, argv, input, (ns, w) => this.ipLine(ns, w));
    if ("exitCode" in o) return o;
    const { ns, args, json } = o;
    if (args[0] === "netns") return this.netns(args.slice(1));
    if (args[1] === "show" || args[1] === undefined) return this.ipShow(ns, args, json);
    this.ipLine(ns, args);
    return ok();
  }

  private netns(args: string[]): CommandResult {
    const [verb, name = ""] = args;
    switch (verb) {
      case "list":
        return ok(
          this.netnsNames()
            .map((n) => `${n}\n`)
            .join(""),
        );
      case "add":
        if (this.namespaces.has(name))
          throw new KernelError(`Cannot create namespace file "/run/netns/${name}": File exists`);
        this.namespaces.set(name, FakeKernel.emptyNs());
        return ok();
      case "delete":
      case "del":
        if (!this.namespaces.delete(name))
          throw new KernelError(
            `Cannot remove namespace file "/run/netns/${name}": No such file or directory`,
          );
        for (const other of this.namespaces.values())
          for (const l of other.links.values()) if (l.peer?.ns === name) other.links.delete(l.name);
        return ok();
      case "pids":
        this.ns(name);
        return ok();
      default:
        throw new KernelError(`ip netns ${verb}: unknown command`);
    }
  }

  private dev(ns: string, name: string): Link {
    const l = this.ns(ns).links.get(name);
    if (l === undefined) throw new KernelError(`Cannot find device "${name}"`);
    return l;
  }

  /** UP when set up; LOWER_UP (carrier) as well when it is up and, for a veth, its peer too. */
  private flags(l: Link): string[] {
    if (!l.up) return [];
    const peer = l.peer === undefined ? undefined : this.namespaces.get(l.peer.ns)?.links.get(l.peer.name);
    return l.kind !== "veth" || peer?.up === true ? ["UP", "LOWER_UP"] : ["UP"];
  }

  private ipShow(ns: string, args: string[], json: boolean): CommandResult {
    if (!json) return ok();
    const [object] = args.filter((a) => a !== "-d");
    const devIdx = args.indexOf("dev");
    const only = devIdx >= 0 ? args[devIdx + 1] : undefined;
    const links = only === undefined ? [...this.ns(ns).links.values()] : [this.devShown(ns, only)];
    const head = (l: Link) => ({ ifname: l.name, mtu: l.mtu, flags: this.flags(l) });
    switch (object) {
      case "link":
        return ok(
          JSON.stringify(
            links.map((l) => ({
              ...head(l),
              ...(l.master === undefined ? {} : { master: l.master }),
              ...(l.alias === undefined ? {} : { ifalias: l.alias }),
              ...(l.parent === undefined ? {} : { link: l.parent }),
              linkinfo: { info_kind: l.kind, ...(l.id === undefined ? {} : { info_data: { id: l.id } }) },
            })),
          ),
        );
      case "addr":
      case "address":
        return ok(
          JSON.stringify(
            links.map((l) => ({
              ...head(l),
              ...(l.master === undefined ? {} : { master: l.master }),
              ...(l.alias === undefined ? {} : { ifalias: l.alias }),
              linkinfo: { info_kind: l.kind },
              addr_info: l.addrs.map((a) => ({
                family: "inet",
                local: a.split("/")[0],
                prefixlen: Number(a.split("/")[1]),
              })),
            })),
          ),
        );
      case "neigh":
        return ok(
          JSON.stringify(
            links.flatMap((l) =>
              [...l.neigh].map(([dst, lladdr]) => ({ dst, dev: l.name, lladdr, state: ["PERMANENT"] })),
            ),
          ),
        );
      case "route": {
        const routes = this.ns(ns).routes.filter((r) => !args.includes("default") || r.dst === "default");
        return ok(
          JSON.stringify(
            routes.map((r) => ({
              dst: r.dst,
              dev: r.dev,
              ...(r.gateway === undefined ? {} : { gateway: r.gateway }),
            })),
          ),
        );
      }
      default:
        return ok("[]");
    }
  }

  private devShown(ns: string, name: string): Link {
    const l = this.ns(ns).links.get(name);
    if (l === undefined) throw new KernelError(`Device "${name}" does not exist.`);
    return l;
  }

  private ipLine(ns: string, w: string[]): void {
    const [object, verb] = w;
    const node = this.ns(ns);
    const arg = (key: string) => {
      const i = w.indexOf(key);
      return i >= 0 ? w[i + 1] : undefined;
    };
    if (object === "link" && verb === "add") {
      const name = w[2] === "link" ? (arg("name") ?? "") : (w[2] ?? "");
      if (node.links.has(name)) throw new KernelError("RTNETLINK answers: File exists");
      const kind = arg("type") ?? "";
      if (!["bridge", "vxlan", "veth", "macvlan", "dummy", ...this.extraKinds].includes(kind))
        throw new KernelError("Error: Unknown device type.");
      const l = link(name, kind);
      const parent = w[2] === "link" ? w[3] : undefined;
      if (parent !== undefined) {
        this.dev(ns, parent);
        l.parent = parent;
      }
      const mtu = arg("mtu");
      if (mtu !== undefined) l.mtu = Number(mtu);
      if (kind === "vxlan") l.id = Number(arg("id"));
      node.links.set(name, l);
      if (kind === "veth") {
        const peerName = arg("name") ?? "";
        const peerNs = arg("netns") ?? ns;
        const target = this.ns(this.namespaces.has(peerNs) ? peerNs : ROOT);
        if (target.links.has(peerName)) {
          node.links.delete(name);
          throw new KernelError("RTNETLINK answers: File exists");
        }
        const p = link(peerName, "veth");
        p.mtu = l.mtu;
        const targetName = this.namespaces.has(peerNs) ? peerNs : ROOT;
        p.peer = { ns, name };
        l.peer = { ns: targetName, name: peerName };
        target.links.set(peerName, p);
      }
      return;
    }
    if (object === "link" && (verb === "del" || verb === "delete")) {
      const l = this.dev(ns, w[2] ?? "");
      node.links.delete(l.name);
      node.routes = node.routes.filter((r) => r.dev !== l.name);
      if (l.peer !== undefined) {
        const peerNs = this.namespaces.get(l.peer.ns);
        peerNs?.links.delete(l.peer.name);
        if (peerNs !== undefined) peerNs.routes = peerNs.routes.filter((r) => r.dev !== l.peer?.name);
      }
      for (const other of node.links.values()) if (other.master === l.name) other.master = undefined;
      return;
    }
    if (object === "link" && verb === "set") {
      const name = w[2] === "dev" ? (w[3] ?? "") : (w[2] ?? "");
      const l = this.dev(ns, name);
      const target = arg("netns");
      if (target !== undefined) {
        const to = this.namespaces.has(target) ? target : ROOT;
        const dest = this.ns(to);
        if (dest.links.has(l.name)) throw new KernelError("RTNETLINK answers: File exists");
        node.links.delete(l.name);
        dest.links.set(l.name, l);
        if (l.peer !== undefined) {
          const other = this.namespaces.get(l.peer.ns)?.links.get(l.peer.name);
          if (other?.peer !== undefined) other.peer = { ns: to, name: l.name };
        }
        return;
      }
      const rename = arg("name");
      if (rename !== undefined) {
        if (node.links.has(rename)) throw new KernelError("RTNETLINK answers: File exists");
        node.links.delete(l.name);
        for (const other of node.links.values()) if (other.master === l.name) other.master = rename;
        if (l.peer !== undefined) {
          const other = this.namespaces.get(l.peer.ns)?.links.get(l.peer.name);
          if (other?.peer !== undefined) other.peer = { ns: other.peer.ns, name: rename };
        }
        l.name = rename;
        node.links.set(rename, l);
      }
      const master = arg("master");
      if (master !== undefined) {
        this.dev(ns, master);
        l.master = master;
      }
      const mtu = arg("mtu");
      if (mtu !== undefined) l.mtu = Number(mtu);
      const mac = arg("address");
      if (mac !== undefined) l.mac = mac;
      const alias = arg("alias");
      if (alias !== undefined) l.alias = alias;
      if (arg("type") === "bridge_slave" && arg("isolated") !== undefined)
        l.isolated = arg("isolated") === "on";
      if (w.includes("up")) l.up = true;
      if (w.includes("down")) l.up = false;
      return;
    }
    if ((object === "addr" || object === "address") && (verb === "add" || verb === "replace")) {
      const l = this.dev(ns, arg("dev") ?? "");
      const a = w[2] ?? "";
      if (l.addrs.includes(a) && verb === "add") throw new KernelError("RTNETLINK answers: File exists");
      if (!l.addrs.includes(a)) l.addrs.push(a);
      return;
    }
    if ((object === "addr" || object === "address") && verb === "flush") {
      this.dev(ns, arg("dev") ?? "").addrs = [];
      return;
    }
    if (object === "route" && (verb === "replace" || verb === "add")) {
      const dev = this.dev(ns, arg("dev") ?? "").name;
      const dst = w[2] ?? "";
      node.routes = [...node.routes.filter((r) => r.dst !== dst), { dst, gateway: arg("via"), dev }];
      return;
    }
    if (object === "neigh" && (verb === "replace" || verb === "add")) {
      this.dev(ns, arg("dev") ?? "").neigh.set(w[2] ?? "", arg("lladdr") ?? "");
      return;
    }
    if (object === "neigh" && (verb === "del" || verb === "delete")) {
      if (!this.dev(ns, arg("dev") ?? "").neigh.delete(w[2] ?? ""))
        throw new KernelError("RTNETLINK answers: No such file or directory");
      return;
    }
    throw new KernelError(`fake kernel: unsupported ip command: ${w.join(" ")}`);
  }

  private bridge(at: string, argv: string[], input: string): CommandResult {
    const o = this.options(at, argv, input, (ns, w) => this.fdbLine(ns, w));
    if ("exitCode" in o) return o;
    const { ns, args, json } = o;
    if (args[0] === "fdb" && args[1] === "show") {
      const dev = args[args.indexOf("dev") + 1] ?? "";
      const l = this.devShown(ns, dev);
      return ok(
        json
          ? JSON.stringify(
              [...l.fdb].map(([mac, dst]) => ({ mac, dst, state: "permanent", flags: ["self"] })),
            )
          : "",
      );
    }
    this.fdbLine(ns, args);
    return ok();
  }

  private fdbLine(ns: string, w: string[]): void {
    const [object, verb, mac = ""] = w;
    const dev = this.dev(ns, w[w.indexOf("dev") + 1] ?? "");
    if (object === "fdb" && (verb === "replace" || verb === "add")) {
      dev.fdb.set(mac, w[w.indexOf("dst") + 1] ?? "");
      return;
    }
    if (object === "fdb" && (verb === "del" || verb === "delete")) {
      if (!dev.fdb.delete(mac)) throw new KernelError("RTNETLINK answers: No such file or directory");
      return;
    }
    throw new KernelError(`fake kernel: unsupported bridge command: ${w.join(" ")}`);
  }

  /** `nft -f -`: the whole script or nothing. */
  private nft(ns: string, args: string[], input: string): CommandResult {
    const node = this.ns(ns);
    if (args[0] !== "-f") return ok();
    const tables = cloneTables(node.tables);
    const lines = input.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] ?? "").trim();
      if (line === "") continue;
      const block = /^table (\w+ \w+) \{$/.exec(line);
      if (block !== null) {
        const name = block[1] ?? "";
        const t = tables.get(name) ?? { sets: new Map(), chains: new Map() };
        tables.set(name, t);
        let chain: string | undefined;
        for (i++; i < lines.length; i++) {
          const inner = (lines[i] ?? "").trim();
          if (inner === "}" && chain === undefined) break;
          if (inner === "}") {
            chain = undefined;
            continue;
          }
          const set = /^(?:map|set) (\w+) \{/.exec(inner);
          if (set !== null) {
            t.sets.set(set[1] ?? "", { elements: new Map() });
            continue;
          }
          const ch = /^chain (\w+) \{$/.exec(inner);
          if (ch !== null) {
            chain = ch[1] ?? "";
            t.chains.set(chain, []);
            continue;
          }
          if (chain !== undefined) t.chains.get(chain)?.push(inner);
        }
        continue;
      }
      let m = /^table (\w+ \w+)$/.exec(line);
      if (m !== null) {
        const name = m[1] ?? "";
        if (!tables.has(name)) tables.set(name, { sets: new Map(), chains: new Map() });
        continue;
      }
      m = /^table (\w+ \w+) \{ set (\w+) \{ type \w+; \}; \}$/.exec(line);
      if (m !== null) {
        const t = tables.get(m[1] ?? "") ?? { sets: new Map(), chains: new Map() };
        tables.set(m[1] ?? "", t);
        if (!t.sets.has(m[2] ?? "")) t.sets.set(m[2] ?? "", { elements: new Map() });
        continue;
      }
      m = /^flush table (\w+ \w+)$/.exec(line);
      if (m !== null) {
        const t = tables.get(m[1] ?? "");
        if (t === undefined) return fail("Error: Could not process rule: No such file or directory");
        for (const rules of t.chains.values()) rules.length = 0;
        continue;
      }
      m = /^flush set (\w+ \w+) (\w+)$/.exec(line);
      if (m !== null) {
        const set = tables.get(m[1] ?? "")?.sets.get(m[2] ?? "");
        if (set === undefined) return fail("Error: Could not process rule: No such file or directory");
        set.elements.clear();
        continue;
      }
      m = /^delete table (\w+ \w+)$/.exec(line);
      if (m !== null) {
        if (!tables.delete(m[1] ?? ""))
          return fail("Error: Could not process rule: No such file or directory");
        continue;
      }
      m = /^(add|delete) element (\w+ \w+) (\w+) \{ (.*) \}$/.exec(line);
      if (m !== null) {
        const set = tables.get(m[2] ?? "")?.sets.get(m[3] ?? "");
        if (set === undefined) return fail("Error: Could not process rule: No such file or directory");
        for (const e of splitElements(m[4] ?? "")) {
          const key = elementKey(e);
          if (m[1] === "add") set.elements.set(key, e);
          else if (!set.elements.delete(key))
            return fail("Error: Could not process rule: No such file or directory");
        }
        continue;
      }
      m = /^add chain (\w+ \w+) (\w+)$/.exec(line);
      if (m !== null) {
        const t = tables.get(m[1] ?? "");
        if (t === undefined) return fail("Error: Could not process rule: No such file or directory");
        if (!t.chains.has(m[2] ?? "")) t.chains.set(m[2] ?? "", []);
        continue;
      }
      m = /^add rule (\w+ \w+) (\w+) (.*)$/.exec(line);
      if (m !== null) {
        const rules = tables.get(m[1] ?? "")?.chains.get(m[2] ?? "");
        if (rules === undefined) return fail("Error: Could not process rule: No such file or directory");
        rules.push(m[3] ?? "");
        continue;
      }
      m = /^delete chain (\w+ \w+) (\w+)$/.exec(line);
      if (m !== null) {
        if (tables.get(m[1] ?? "")?.chains.delete(m[2] ?? "") !== true)
          return fail("Error: Could not process rule: No such file or directory");
        continue;
      }
      return fail(`Error: syntax error, unexpected junk: ${line}`);
    }
    node.tables = tables;
    return ok();
  }

  // ---------------------------------------------------------------- ipvsadm

  /** `ipvsadm -S -n`, `--set T F U`, `-C`, and `--restore` (line by line: what ran before a bad line stays). */
  private ipvsadm(ns: string, args: string[], input: string): CommandResult {
    const node = this.ns(ns);
    if (args[0] === "-S" || args[0] === "--save") return ok(this.ipvsSave(node));
    if (args[0] === "--set") {
      node.ipvsTimeouts = args.slice(1, 4).join(" ");
      return ok();
    }
    if (args[0] === "--restore") {
      for (const line of input.split("\n"))
        if (line.trim() !== "") this.ipvsLine(node, line.trim().split(/\s+/));
      return ok();
    }
    this.ipvsLine(node, args);
    return ok();
  }

  private ipvsLine(node: Netns, w: string[]): void {
    const [cmd, kind, spec] = w;
    if (cmd === "-C") {
      node.ipvs.clear();
      return;
    }
    const key = `${kind ?? ""} ${spec ?? ""}`;
    if (!/^-[ftu] \S+$/.test(key)) throw new KernelError(`ipvsadm: bad service in: ${w.join(" ")}`);
    const service = node.ipvs.get(key);
    const option = (flag: string): string | undefined => {
      const i = w.indexOf(flag);
      return i < 0 ? undefined : w[i + 1];
    };
    switch (cmd) {
      case "-A":
        if (service !== undefined) throw new KernelError("Service already exists");
        node.ipvs.set(key, { scheduler: option("-s") ?? "wlc", realServers: new Map() });
        return;
      case "-E":
        if (service === undefined) throw new KernelError("No such service");
        service.scheduler = option("-s") ?? service.scheduler;
        return;
      case "-D":
        if (!node.ipvs.delete(key)) throw new KernelError("No such service");
        return;
    }
    if (service === undefined) throw new KernelError("Service not defined");
    const rs = option("-r");
    if (rs === undefined) throw new KernelError(`ipvsadm: no real server in: ${w.join(" ")}`);
    const flags = w.slice(w.indexOf("-r") + 2).join(" ");
    switch (cmd) {
      case "-a":
        if (service.realServers.has(rs)) throw new KernelError("Destination already exists");
        service.realServers.set(rs, flags);
        return;
      case "-e":
        if (!service.realServers.has(rs)) throw new KernelError("No such destination");
        service.realServers.set(rs, flags);
        return;
      case "-d":
        if (!service.realServers.delete(rs)) throw new KernelError("No such destination");
        return;
    }
    throw new KernelError(`ipvsadm: unsupported command: ${w.join(" ")}`);
  }

  private ipvsSave(node: Netns): string {
    const out: string[] = [];
    for (const [key, s] of [...node.ipvs].sort(([a], [b]) => a.localeCompare(b))) {
      out.push(`-A ${key} -s ${s.scheduler}`);
      for (const [rs, flags] of [...s.realServers].sort(([a], [b]) => a.localeCompare(b)))
        out.push(`-a ${key} -r ${rs} ${flags}`);
    }
    return out.map((l) => l + "\n").join("");
  }
}
