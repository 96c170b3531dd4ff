/**
 * `network create` requests checked against Docker's rules, in pure code: a request
 * either becomes a `NetworkSpec` or fails with one line naming the problem — before
 * anything is read from or written to the store.
 *
 * Drivers: `overlay` is swarm-scope (one cluster-wide network, a VNI, a subnet from the
 * global pool); `bridge`, `macvlan`, `ipvlan` are local-scope (each node builds its own
 * copy; subnets from the local pools). `host` and `null` exist on every node and cannot
 * be created. The default driver is `bridge`, as in Docker.
 *
 * `--scope swarm` makes a macvlan or ipvlan network the cluster's, as Docker's does: the
 * managers hold it and allocate its addresses, services attach to it, and each node that
 * runs a task on it builds its part (the parent, and an 802.1q parent's sub-interface)
 * while a task there needs it. Its subnet is the parent's segment, so like a local one it
 * may overlap the nodes' own addresses.
 *
 * Options (`-o k=v`): Docker's names and swarmnet's own are both accepted —
 *   encrypted | encrypted=true|false       overlay only (Docker sets it with no value)
 *   mtu | com.docker.network.driver.mtu    68…65535 (the two must agree if both given)
 *   com.docker.network.driver.overlay.vxlanid_list   a VNI chosen by the user (overlay)
 *   parent, macvlan_mode, ipvlan_mode      macvlan, ipvlan (common/parent-network.ts)
 * Other keys are kept and passed to the driver unchecked, as Docker does.
 */
import { PREDEFINED_NETWORK_NAMES, type NetworkIntent } from "./cluster-types.js";
import { ErrorCode, SwarmnetError } from "./errors.js";
import { parseIpamRequest, type ParsedIpamConfig } from "./ipam/index.js";
import { parentOptions } from "./parent-network.js";

type NetworkScope = NetworkIntent["scope"];

export interface CreateNetworkInput {
  name: string;
  driver: string;
  subnets: readonly string[];
  gateways: readonly string[];
  ipRanges: readonly string[];
  auxAddresses: readonly string[];
  options: Readonly<Record<string, string>>;
  labels: Readonly<Record<string, string>>;
  attachable: boolean;
  ingress: boolean;
  internal: boolean;
  ipamDriver: string;
  ipamOptions: Readonly<Record<string, string>>;
  /** `--scope`: "" (or absent) for the driver's own, "swarm" or "local". */
  scope?: string;
}

/** `network create NAME` with Docker's defaults (bridge, no subnet, no option), and `more`. */
export function networkRequest(name: string, more: Partial<CreateNetworkInput> = {}): CreateNetworkInput {
  return {
    name,
    driver: DEFAULT_DRIVER,
    subnets: [],
    gateways: [],
    ipRanges: [],
    auxAddresses: [],
    options: {},
    labels: {},
    attachable: false,
    ingress: false,
    internal: false,
    ipamDriver: "",
    ipamOptions: {},
    ...more,
  };
}

export interface NetworkSpec {
  name: string;
  driver: string;
  scope: NetworkScope;
  attachable: boolean;
  ingress: boolean;
  internal: boolean;
  encrypted: boolean;
  mtu: number | undefined;
  requestedVni: number | undefined;
  options: Record<string, string>;
  labels: Record<string, string>;
  ipamDriver: string;
  ipamOptions: Record<string, string>;
  ipam: ParsedIpamConfig[];
}

export const DRIVER_SCOPES: Readonly<Record<string, NetworkScope>> = {
  overlay: "swarm",
  bridge: "local",
  macvlan: "local",
  ipvlan: "local",
};

/** Drivers whose endpoints are sub-interfaces of a parent device: local, or swarm with `--scope swarm`. */
export const PARENT_DRIVERS: readonly string[] = ["macvlan", "ipvlan"];

export const DEFAULT_DRIVER = "bridge";

/** Docker's rule for network names. */
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_NAME_LENGTH = 64;

export const OPT_ENCRYPTED = "encrypted";
export const OPT_MTU = "mtu";
export const OPT_DOCKER_MTU = "com.docker.network.driver.mtu";
export const OPT_VXLANID_LIST = "com.docker.network.driver.overlay.vxlanid_list";

function invalid(message: string): SwarmnetError {
  return new SwarmnetError(ErrorCode.InvalidArgument, message);
}

export function parseNetworkSpec(input: CreateNetworkInput): NetworkSpec {
  const name = input.name;
  if (name === "") throw invalid("a network name is required");
  if (!NAME_PATTERN.test(name) || name.length > MAX_NAME_LENGTH) {
    throw invalid(
      `invalid network name ${JSON.stringify(name)}: use up to ${MAX_NAME_LENGTH} letters, digits, _ . - (not starting with _ . -)`,
    );
  }
  if (PREDEFINED_NETWORK_NAMES.includes(name)) {
    // Docker's answer: every node has these already.
    throw new SwarmnetError(ErrorCode.AlreadyExists, `network with name ${name} already exists`);
  }
  const driver = input.driver === "" ? DEFAULT_DRIVER : input.driver;
  if (driver === "host" || driver === "null" || driver === "none") {
    throw invalid(`the ${driver} network exists on every node and cannot be created`);
  }
  const driverScope = DRIVER_SCOPES[driver];
  if (driverScope === undefined) {
    throw invalid(
      `unknown network driver ${JSON.stringify(driver)} (use ${Object.keys(DRIVER_SCOPES).join(", ")})`,
    );
  }
  const scope = parseScope(input.scope ?? "", driver, driverScope);
  if (input.ipamDriver !== "" && input.ipamDriver !== "default") {
    throw invalid(`unknown IPAM driver ${JSON.stringify(input.ipamDriver)} (only "default")`);
  }
  if (input.ingress && driver !== "overlay") throw invalid("an ingress network must use the overlay driver");
  if (input.ingress && input.attachable) throw invalid("an ingress network cannot be attachable");
  if (input.attachable && scope !== "swarm") {
    throw invalid(`--attachable applies to swarm-scope networks (overlay), not ${driver}`);
  }
  const options = { ...input.options };
  const encrypted = parseEncrypted(options[OPT_ENCRYPTED], driver);
  const mtu = parseMtu(options);
  const requestedVni = parseVxlanId(options[OPT_VXLANID_LIST], driver);
  if (driver === "macvlan" || driver === "ipvlan") parentOptions(options, driver);
  for (const key of Object.keys(input.labels)) if (key === "") throw invalid("a label needs a key");
  for (const key of Object.keys(options)) if (key === "") throw invalid("an option needs a key");
  const ipam = parseIpamRequest(input);
  return {
    name,
    driver,
    scope,
    attachable: input.attachable,
    ingress: input.ingress,
    internal: input.internal,
    encrypted,
    mtu,
    requestedVni,
    options,
    labels: { ...input.labels },
    ipamDriver: "default",
    ipamOptions: { ...input.ipamOptions },
    ipam,
  };
}

function parseScope(raw: string, driver: string, driverScope: NetworkScope): NetworkScope {
  if (raw === "") return driverScope;
  if (raw !== "swarm" && raw !== "local")
    throw invalid(`invalid scope ${JSON.stringify(raw)} (use swarm or local)`);
  if (raw !== driverScope && !PARENT_DRIVERS.includes(driver)) {
    throw invalid(`the ${driver} driver does not support ${raw} scope (only ${driverScope})`);
  }
  return raw;
}

function parseEncrypted(raw: string | undefined, driver: string): boolean {
  if (raw === undefined) return false;
  let on: boolean;
  if (raw === "" || raw === "true") on = true;
  else if (raw === "false") on = false;
  else throw invalid(`invalid value for option encrypted: ${JSON.stringify(raw)} (use true or false)`);
  if (on && driver !== "overlay") {
    throw invalid(`encryption is supported on overlay networks only, not ${driver}`);
  }
  return on;
}

function parseMtu(options: Record<string, string>): number | undefined {
  const values = [OPT_MTU, OPT_DOCKER_MTU].flatMap((k) => {
    const raw = options[k];
    if (raw === undefined) return [];
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(n >= 68 && n <= 65535))
      throw invalid(`invalid value for option ${k}: ${JSON.stringify(raw)} (68-65535)`);
    return [n];
  });
  if (values.length === 2 && values[0] !== values[1]) {
    throw invalid(`options ${OPT_MTU} and ${OPT_DOCKER_MTU} disagree (${values[0]} vs ${values[1]})`);
  }
  return values[0];
}

function parseVxlanId(raw: string | undefined, driver: string): number | undefined {
  if (raw === undefined) return undefined;
  if (driver !== "overlay") throw invalid(`option ${OPT_VXLANID_LIST} applies to overlay networks only`);
  if (!/^\d+$/.test(raw)) {
    throw invalid(`invalid value for option ${OPT_VXLANID_LIST}: ${JSON.stringify(raw)} (one VXLAN id)`);
  }
  return Number(raw);
}
