/**
 * A seeded burst of fast-path changes for the fast-path-vs-resync test: services created,
 * scaled, published, unpublished and removed; standalone containers run and removed on
 * attachable overlays, on every node. Pure: the same seed (and options) gives the same
 * sequence, so a failure names its seed and is replayed exactly.
 *
 * The plan tracks what exists as it goes, so every change is valid when it is issued in
 * order: a scale or publish names a live service, an unpublish a port it has, a container
 * removal a container that runs. Changes to one object (its `key`) must be issued in plan
 * order; changes to different objects may overlap (burst-driver.ts runs them so).
 *
 * Bounds keep a burst affordable on a small machine while still churning every reconciler:
 * at most `maxServices` services of at most `maxReplicas` tasks (each task a container
 * somewhere), at most `maxContainers` standalone containers — so at most 16 containers
 * live at once over all nodes — and ports from a short list so publishes and unpublishes
 * of the same port repeat. The mix is mostly what the fast path does most (publish,
 * unpublish: the mesh's tables, every node) with container churn a modest share: about
 * 5 % standalone runs and removals and 7 % changes that start or stop tasks (scale,
 * create, rm), some 120–150 sandboxes built or removed in all. Each costs an agent a few
 * reconcile passes (its `run` awaits a pass of every reconciler; an overlay pass re-reads
 * every sandbox: about 1.4 s on a loaded 2-core machine, issue 16), and a node's
 * container operations run one at a time — the share that was 40 % made 1,000 changes
 * take far over ten minutes.
 */
import { SeededRandom } from "../../deploy/lab/chaos/random.js";

export interface BurstPort {
  protocol: "tcp" | "udp";
  target: number;
}

export type BurstChange =
  | { kind: "service-create"; service: string; network: string; replicas: number; ports: BurstPort[] }
  | { kind: "service-scale"; service: string; replicas: number }
  | { kind: "service-publish"; service: string; port: BurstPort }
  | { kind: "service-unpublish"; service: string; port: BurstPort }
  | { kind: "service-rm"; service: string }
  | { kind: "container-run"; container: string; node: string; network: string }
  | { kind: "container-rm"; container: string; node: string };

export type BurstKind = BurstChange["kind"];

export interface BurstOptions {
  seed: number;
  count: number;
  /** Nodes containers run on. */
  nodes: readonly string[];
  /** Attachable overlays services and containers join. */
  networks: readonly string[];
  /** Prefix of every service and container name (unique per lab). */
  prefix: string;
  maxServices?: number;
  maxReplicas?: number;
  maxContainers?: number;
}

/** What exists once every change of a plan applied. */
export interface BurstEnd {
  /** Service name → replicas. */
  services: Map<string, number>;
  /** Container name → node. */
  containers: Map<string, string>;
}

export const BURST_LIMITS = { maxServices: 5, maxReplicas: 2, maxContainers: 6 };

/**
 * Not 53/udp: the embedded DNS holds 127.0.0.11:53 inside every container, so a task
 * cannot bind 0.0.0.0:53 (its listener died at once and no task ever ran).
 */
export const PORTS: readonly BurstPort[] = [
  { protocol: "tcp", target: 80 },
  { protocol: "udp", target: 5300 },
  { protocol: "tcp", target: 8080 },
];

/**
 * Relative weights of the kinds; a kind that cannot apply now gives way to its counterpart
 * (`COUNTERPART`: a publish with every port taken unpublishes one), then to the next one in
 * this order — so a port change with no service to change creates one, instead of falling
 * through to scaling or container churn and crowding out the mix.
 */
const WEIGHTS: readonly [BurstKind, number][] = [
  ["service-unpublish", 86],
  ["service-publish", 90],
  ["service-scale", 8],
  ["service-create", 3],
  ["service-rm", 3],
  ["container-run", 5],
  ["container-rm", 5],
];

const COUNTERPART: Partial<Record<BurstKind, BurstKind>> = {
  "service-publish": "service-unpublish",
  "service-unpublish": "service-publish",
};

/** The object a change is about: changes with the same key are issued in plan order. */
export function changeKey(c: BurstChange): string {
  return "service" in c ? `service:${c.service}` : `container:${c.container}`;
}

export function describeChange(c: BurstChange): string {
  switch (c.kind) {
    case "service-create":
      return `service create ${c.service} --network ${c.network} --replicas ${c.replicas}${c.ports.map((p) => ` -p ${p.target}/${p.protocol}`).join("")}`;
    case "service-scale":
      return `service scale ${c.service}=${c.replicas}`;
    case "service-publish":
      return `service publish ${c.service} ${c.port.target}/${c.port.protocol}`;
    case "service-unpublish":
      return `service unpublish ${c.service} ${c.port.target}/${c.port.protocol}`;
    case "service-rm":
      return `service rm ${c.service}`;
    case "container-run":
      return `run -d --name ${c.container} --network ${c.network} (on ${c.node})`;
    case "container-rm":
      return `rm -f ${c.container} (on ${c.node})`;
  }
}

export function planBurst(o: BurstOptions): { changes: BurstChange[]; end: BurstEnd } {
  const limits = { ...BURST_LIMITS, ...o };
  const rnd = new SeededRandom(o.seed);
  const pick = <T>(from: readonly T[]): T => from[Math.floor(rnd.next() * from.length)] as T;
  const int = (max: number) => Math.floor(rnd.next() * (max + 1));
  const services = new Map<string, { replicas: number; ports: BurstPort[] }>();
  const containers = new Map<string, string>();
  let serial = 0;
  const total = WEIGHTS.reduce((sum, [, w]) => sum + w, 0);

  const attempt = (kind: BurstKind): BurstChange | undefined => {
    const live = [...services.keys()];
    switch (kind) {
      case "service-create": {
        if (services.size >= limits.maxServices) return undefined;
        const service = `${o.prefix}s${++serial}`;
        const ports = PORTS.filter(() => rnd.next() < 0.3);
        const replicas = int(limits.maxReplicas);
        services.set(service, { replicas, ports: [...ports] });
        return { kind, service, network: pick(o.networks), replicas, ports };
      }
      case "service-scale": {
        if (live.length === 0) return undefined;
        const service = pick(live);
        const s = services.get(service);
        if (s === undefined) return undefined;
        s.replicas = int(limits.maxReplicas);
        return { kind, service, replicas: s.replicas };
      }
      case "service-publish": {
        const free = (n: string) =>
          PORTS.filter((p) => !services.get(n)?.ports.some((q) => q.target === p.target));
        const withFree = live.filter((n) => free(n).length > 0);
        if (withFree.length === 0) return undefined;
        const service = pick(withFree);
        const port = pick(free(service));
        services.get(service)?.ports.push(port);
        return { kind, service, port };
      }
      case "service-unpublish": {
        const withPorts = live.filter((n) => (services.get(n)?.ports.length ?? 0) > 0);
        if (withPorts.length === 0) return undefined;
        const service = pick(withPorts);
        const s = services.get(service);
        if (s === undefined) return undefined;
        const port = pick(s.ports);
        s.ports = s.ports.filter((p) => p !== port);
        return { kind, service, port };
      }
      case "service-rm": {
        if (live.length === 0) return undefined;
        const service = pick(live);
        services.delete(service);
        return { kind, service };
      }
      case "container-run": {
        if (containers.size >= limits.maxContainers) return undefined;
        const container = `${o.prefix}c${++serial}`;
        const node = pick(o.nodes);
        containers.set(container, node);
        return { kind, container, node, network: pick(o.networks) };
      }
      case "container-rm": {
        if (containers.size === 0) return undefined;
        const container = pick([...containers.keys()]);
        const node = containers.get(container) ?? "";
        containers.delete(container);
        return { kind, container, node };
      }
    }
  };

  const changes: BurstChange[] = [];
  while (changes.length < o.count) {
    let r = rnd.next() * total;
    let i = Math.max(
      0,
      WEIGHTS.findIndex(([, w]) => (r -= w) < 0),
    );
    // Some kind always applies: creating a service or a container when nothing exists.
    for (let tries = 0; tries < WEIGHTS.length; tries++, i = (i + 1) % WEIGHTS.length) {
      const kind = (WEIGHTS[i] as [BurstKind, number])[0];
      const counterpart = COUNTERPART[kind];
      const c = attempt(kind) ?? (counterpart === undefined ? undefined : attempt(counterpart));
      if (c !== undefined) {
        changes.push(c);
        break;
      }
    }
  }
  return {
    changes,
    end: { services: new Map([...services].map(([n, s]) => [n, s.replicas])), containers },
  };
}
