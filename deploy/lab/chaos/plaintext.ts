/**
 * The underlay watch for the "no plaintext on the underlay" invariant: a counter in the
 * lab's underlay namespace (table `bridge swarmnet_chaos`, forward hook of the bridge
 * every node hangs on) counting VXLAN datagrams — UDP to the data-path port — whose VNI
 * (24 bits at transport offset 96: 8 bytes of UDP header, 4 of VXLAN flags; RFC 7348) is
 * one of an encrypted network's. Encrypted overlays must never put such a frame on the
 * wire: the user-space backend sends sealed records to UDP 4800, kernel IPsec sends ESP.
 * It counts and never drops, so it does not change what it watches.
 */
import type { Executor } from "../../../common/executor.js";
import { CHAOS_TABLE } from "./impairments.js";

export function renderUnderlayWatch(vnis: readonly number[], dataPathPort: number): string {
  const t = `bridge ${CHAOS_TABLE}`;
  const lines = [`table ${t}`, `delete table ${t}`];
  if (vnis.length === 0) return lines.join("\n") + "\n";
  lines.push(
    `table ${t} {`,
    "  chain forward {",
    "    type filter hook forward priority -300; policy accept;",
    `    udp dport ${dataPathPort} @th,96,24 { ${[...vnis].sort((a, b) => a - b).join(", ")} } counter`,
    "  }",
    "}",
  );
  return lines.join("\n") + "\n";
}

export async function watchUnderlay(
  ex: Executor,
  underlayNetns: string,
  vnis: readonly number[],
  port: number,
): Promise<void> {
  await ex.nftApply(renderUnderlayWatch(vnis, port), { netns: underlayNetns });
}

/** Plaintext VXLAN packets of encrypted VNIs seen since the watch began (0 without a watch). */
export async function plaintextPackets(ex: Executor, underlayNetns: string): Promise<number> {
  try {
    const out = JSON.parse(
      await ex.nft(["-j", "list", "table", "bridge", CHAOS_TABLE], { netns: underlayNetns }),
    ) as {
      nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[];
    };
    let packets = 0;
    for (const item of out.nftables)
      for (const e of item.rule?.expr ?? []) packets += e.counter?.packets ?? 0;
    return packets;
  } catch {
    return 0;
  }
}

export async function unwatchUnderlay(ex: Executor, underlayNetns: string): Promise<void> {
  await ex.nftApply(renderUnderlayWatch([], 0), { netns: underlayNetns });
}
