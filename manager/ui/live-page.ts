/**
 * The live picture of the cluster, served by every manager next to its metrics (loopback
 * by default; see common/http-endpoint.ts for why nothing here authenticates):
 *
 *   GET /            the page (page-html.ts: one HTML file, inline CSS and script, no
 *                    build step, no resource from anywhere else)
 *   GET /ui/state    the picture as JSON (cluster-picture.ts)
 *   GET /ui/stream   server-sent events: the picture at once, then again after every
 *                    change of the manager's etcd mirror (coalesced over `COALESCE_MS`)
 *                    and at least every `REFRESH_MS`
 *
 * Server-sent events rather than a WebSocket: one direction is all the page needs, the
 * browser reconnects by itself, and Node serves it with plain `http`.
 */
import type { ServerResponse } from "node:http";
import type { HttpEndpoint } from "../../common/http-endpoint.js";
import type { Manager } from "../manager.js";
import { clusterPicture, type ClusterPicture } from "./cluster-picture.js";
import { PAGE_HTML } from "./page-html.js";

/**
 * The page may run its own inline script and style and talk to this endpoint, nothing
 * else: no resource from elsewhere, no frame around it (a second line behind page-html.ts
 * rendering data as text only).
 */
const PAGE_CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'";

/** Changes closer than this make one push (a scale of 100 tasks is one frame, not 300). */
const COALESCE_MS = 100;
/** A push at least this often, so a quiet cluster still shows the page is live. */
const REFRESH_MS = 2_000;
/** Events shown on the page. */
const RECENT_EVENTS = 30;
/** The leader's name costs an etcd read: asked at most this often. */
const LEADER_CACHE_MS = 2_000;

export class LivePage {
  private readonly clients = new Set<ServerResponse>();
  private leader: { name: string | undefined; at: number } = { name: undefined, at: -Infinity };
  private pushTimer: NodeJS.Timeout | undefined;
  private refresh: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly m: Manager) {}

  routes(http: HttpEndpoint): void {
    http.route("/", (_req, res) => {
      res
        .writeHead(200, {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
          "content-security-policy": PAGE_CSP,
        })
        .end(PAGE_HTML);
    });
    http.route("/ui/state", async (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(await this.picture()));
    });
    http.route("/ui/stream", async (_req, res) => {
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        connection: "keep-alive",
      });
      http.hold(res);
      this.clients.add(res);
      res.on("close", () => this.clients.delete(res));
      this.ensureWatching();
      res.write(frame(await this.picture()));
    });
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    clearTimeout(this.pushTimer);
    clearInterval(this.refresh);
  }

  private ensureWatching(): void {
    if (this.unsubscribe !== undefined) return;
    this.unsubscribe = this.m.view.reader.subscribe(() => this.schedulePush());
    this.refresh = setInterval(() => this.schedulePush(), REFRESH_MS);
    this.refresh.unref();
  }

  private schedulePush(): void {
    if (this.pushTimer !== undefined || this.clients.size === 0) return;
    this.pushTimer = setTimeout(() => {
      this.pushTimer = undefined;
      void this.picture().then((p) => {
        const text = frame(p);
        for (const c of this.clients) c.write(text);
      });
    }, COALESCE_MS);
  }

  private async picture(): Promise<ClusterPicture> {
    if (Date.now() - this.leader.at > LEADER_CACHE_MS) {
      const name = await this.m.election.leader().catch(() => undefined);
      this.leader = { name, at: Date.now() };
    }
    return clusterPicture(this.m.view.reader, this.leader.name, this.m.events.recent(RECENT_EVENTS));
  }
}

function frame(p: ClusterPicture): string {
  return `data: ${JSON.stringify(p)}\n\n`;
}
