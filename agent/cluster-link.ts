/**
 * What joining a cluster changes in a running agent: IPAM for standalone containers goes
 * to the managers (ManagerAttacher), the intent stream drives the kernel (networks,
 * services → routing mesh) and this node's tasks (TaskRunner), and the gossip seeds the
 * managers list are joined. Leaving undoes the first two; gossip and kernel state stay
 * until intent says otherwise.
 */
import type { Logger } from "../common/logger.js";
import type { Agent } from "./agent.js";
import { NoClusterAttacher } from "./attachments.js";
import { ManagerAttacher, type DispatcherClient, type IntentEvent } from "./dispatcher/index.js";
import { TaskRunner } from "./tasks.js";

export class ClusterLink {
  private readonly tasks: TaskRunner;
  private seedsJoined = "";

  constructor(
    private readonly agent: Agent,
    private readonly client: DispatcherClient,
    private readonly log: Logger,
  ) {
    // Over the stream's own pool: the same TLS channels, managers and fail-over.
    agent.attacher = new ManagerAttacher(client.pool);
    this.tasks = new TaskRunner(agent, client, log);
    client.on("change", (e) => this.onIntent([e]));
    client.on("snapshot", () => this.onIntent(undefined));
    client.on("ready", () => this.onIntent(undefined));
  }

  /** `events` undefined: a whole new state (snapshot, ready) that may touch anything. */
  private onIntent(events: IntentEvent[] | undefined): void {
    const state = this.client.state;
    // Gossip keys first: seeds are joined below, and the first packets should be sealed.
    this.agent.setGossipKeys(state.gossipKeys);
    this.agent.setIntent(state, events);
    void this.tasks.sync();
    const seeds = state.seeds.map((s) => s.address).filter((a) => a !== "");
    const key = [...seeds].sort().join(",");
    if (key !== "" && key !== this.seedsJoined) {
      this.seedsJoined = key;
      void this.agent.joinGossip(seeds).then((n) => this.log.info({ seeds, reached: n }, "joined gossip"));
    }
  }

  detach(): void {
    this.tasks.stop();
    this.client.removeAllListeners("change");
    this.client.removeAllListeners("snapshot");
    this.client.removeAllListeners("ready");
    this.agent.attacher = new NoClusterAttacher();
  }
}
