/**
 * The plaintext guard: nftables rules in the node namespace that drop VXLAN packets of an
 * encrypted network's VNI which would leave, or arrive, unencrypted (the class of
 * Docker's CVE-2023-28840/28841/28842, where a missing rule let plaintext through).
 *
 * It lives in its own table `ip swarmnet_encryption` for now, rendered from desired state
 * and replaced atomically with one `nft -f -` (create, delete, define: idempotent). The
 * node's main table `swarmnet` belongs to the ingress owner; merging these chains into it
 * later only moves text. The VNI sits at bits 96..119 of the transport header (UDP 8 bytes,
 * then VXLAN flags 1 + reserved 3, then the 24-bit VNI; RFC 7348 §5).
 *
 * Kernel backend: a `route` chain marks encrypted VNIs' VXLAN packets so the ESP policy
 * (xfrm-plan.ts) selects them (a route chain re-runs the route and xfrm lookup after the
 * mark); outbound, a packet the route says will not be transformed (`rt ipsec missing`)
 * is dropped; inbound, one that did not come through ESP (`meta ipsec missing`) is dropped.
 * The outbound check runs after source NAT (`srcnat + 1`): NAT that rewrites a packet's
 * source looks its route and ESP policy up again, and a source the policy does not name
 * leaves in plaintext — a guard before it would have passed the packet already (seen in
 * the VM lab: the mesh's ingress SNAT matched this mark's bit 24 and rewrote VXLAN).
 *
 * Ports: the VXLAN port is the cluster's data-path port (`swarm init --data-path-port`),
 * not always 4789. The rules match every port in `vxlanPorts`: the backend's current one
 * and any it protected before in this run, since a VXLAN device made for an older port
 * keeps sending on it until the overlay removes its entries (fail closed meanwhile).
 *
 * User-space backend: encrypted VNIs' VXLAN packets may only leave through the relay
 * device (towards the datapath that encrypts them) and only arrive from it (decrypted by
 * the datapath); any other path is plaintext on the underlay and is dropped.
 */
import { ErrorCode, isSwarmnetError } from "../../common/errors.js";
import type { Executor } from "../../common/executor.js";

export const GUARD_TABLE = "swarmnet_encryption";

export type GuardMode = { kind: "kernel"; mark: number } | { kind: "userspace"; relayDevice: string };

export interface GuardInput {
  /** UDP ports of the overlay's VXLAN traffic (at least one). */
  vxlanPorts: readonly number[];
  vnis: readonly number[];
  mode: GuardMode;
}

const VNI_MATCH = "@th,96,24 @encrypted_vnis";

/** The whole nft script; with no encrypted VNI it only removes the table. */
export function renderGuard(input: GuardInput): string {
  const head = `table ip ${GUARD_TABLE} {}\ndelete table ip ${GUARD_TABLE}\n`;
  const vnis = [...new Set(input.vnis)].sort((a, b) => a - b);
  if (vnis.length === 0) return head;
  const ports = [...new Set(input.vxlanPorts)].sort((a, b) => a - b);
  const dport = ports.length === 1 ? String(ports[0]) : `{ ${ports.join(", ")} }`;
  const vxlan = `udp dport ${dport} ${VNI_MATCH}`;
  const lines = [
    `table ip ${GUARD_TABLE} {`,
    `  set encrypted_vnis {`,
    `    typeof @th,96,24`,
    `    elements = { ${vnis.join(", ")} }`,
    `  }`,
  ];
  if (input.mode.kind === "kernel") {
    lines.push(
      `  chain mark_out {`,
      `    type route hook output priority mangle; policy accept;`,
      `    ${vxlan} meta mark set 0x${input.mode.mark.toString(16)}`,
      `  }`,
      `  chain guard_out {`,
      `    type filter hook postrouting priority srcnat + 1; policy accept;`,
      `    ${vxlan} rt ipsec missing counter drop`,
      `  }`,
      `  chain guard_in {`,
      `    type filter hook input priority filter; policy accept;`,
      `    ${vxlan} meta ipsec missing counter drop`,
      `  }`,
    );
  } else {
    const dev = JSON.stringify(input.mode.relayDevice);
    lines.push(
      `  chain guard_out {`,
      `    type filter hook output priority filter; policy accept;`,
      `    oifname != ${dev} ${vxlan} counter drop`,
      `  }`,
      `  chain guard_in {`,
      `    type filter hook input priority filter; policy accept;`,
      `    iifname != ${dev} ${vxlan} counter drop`,
      `  }`,
    );
  }
  lines.push(`}`);
  return head + lines.join("\n") + "\n";
}

/** Packets the guard dropped so far: nothing to read while no guard is installed. */
export async function readGuardDrops(
  ex: Executor,
  where: { netns?: string },
  installed: boolean,
): Promise<{ out: number; in: number }> {
  if (!installed) return { out: 0, in: 0 };
  return guardDrops(await ex.nft(["-j", "list", "table", "ip", GUARD_TABLE], where));
}

/** Packets the guard dropped, from `nft -j list table ip swarmnet_encryption`. */
export function guardDrops(listingJson: string): { out: number; in: number } {
  const result = { out: 0, in: 0 };
  let parsed: unknown;
  try {
    parsed = JSON.parse(listingJson);
  } catch {
    return result;
  }
  const items = (parsed as { nftables?: unknown[] }).nftables ?? [];
  for (const item of items) {
    const rule = (item as { rule?: { chain?: string; expr?: unknown[] } }).rule;
    if (rule === undefined) continue;
    for (const e of rule.expr ?? []) {
      const counter = (e as { counter?: { packets?: number } }).counter;
      if (counter?.packets === undefined) continue;
      if (rule.chain === "guard_out") result.out += counter.packets;
      if (rule.chain === "guard_in") result.in += counter.packets;
    }
  }
  return result;
}

/**
 * Notices a guard table changed from outside (someone's `nft flush ruleset`), for a
 * backend's periodic repair. The first look after an apply takes the table as it is then
 * — its rules without counter values and handles — as the reference (checking only that
 * it exists exactly when it should); later looks compare with it. No read on the apply
 * path itself.
 */
export class GuardWatch {
  private reference: string | undefined;

  /** Call after each apply of the guard script. */
  applied(): void {
    this.reference = undefined;
  }

  /** Whether the table is still what was applied; `present`: whether it should exist at all. */
  async intact(ex: Executor, where: { netns?: string }, present: boolean): Promise<boolean> {
    const now = await readGuardShape(ex, where);
    if (this.reference !== undefined) return now === this.reference;
    if ((now !== "") !== present) return false;
    this.reference = now;
    return true;
  }
}

async function readGuardShape(ex: Executor, where: { netns?: string }): Promise<string> {
  try {
    return guardShape(await ex.nft(["-j", "list", "table", "ip", GUARD_TABLE], where));
  } catch (err) {
    if (isSwarmnetError(err, ErrorCode.KernelNotFound)) return "";
    throw err;
  }
}

/** A `nft -j list table` listing without counter values and rule handles; "" for none. */
export function guardShape(listingJson: string): string {
  if (listingJson.trim() === "") return "";
  const items = ((JSON.parse(listingJson) as { nftables?: unknown[] }).nftables ?? []).filter(
    (i) => (i as { metainfo?: unknown }).metainfo === undefined,
  );
  return JSON.stringify(items, (key, value: unknown) =>
    key === "handle" ? undefined : key === "packets" || key === "bytes" ? 0 : value,
  );
}
