/** Container records ↔ the `ContainerInfo` wire message of the agent control service. */
import type { ContainerInfo } from "../../proto/generated/swarmnet/v1/ContainerInfo.js";
import type { ContainerRecord } from "../sandbox/index.js";

export function containerInfo(c: ContainerRecord, nodeName: string): ContainerInfo {
  return {
    id: c.id,
    name: c.name,
    netns: c.netns,
    command: c.command,
    status: c.status,
    pid: c.pid,
    exitCode: c.exitCode,
    createdAt: c.createdAt,
    nodeName,
    ports: c.ports ?? [],
    endpoints: c.endpoints.map((e) => ({
      networkId: e.network.id,
      networkName: e.network.name,
      ip: e.ip,
      prefixLength: e.prefixLength,
      mac: e.mac,
      gateway: e.network.gateway,
      aliases: e.aliases,
      ifname: e.ifname,
    })),
  };
}
