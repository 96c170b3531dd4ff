/**
 * The metrics and live-page endpoint's guards: it binds loopback only (the config refuses
 * any other address), answers only requests that name a loopback host (DNS rebinding),
 * only GET/HEAD on known paths, and sends no CORS header.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { loadAgentConfig } from "../../../agent/config.js";
import { silentLogger } from "../../../common/logger.js";
import { HttpEndpoint, loopbackHostHeader } from "../../../common/http-endpoint.js";
import { loadManagerConfig } from "../../../manager/config.js";

function get(address: string, host: string, method = "GET") {
  const i = address.lastIndexOf(":");
  return new Promise<{ status: number; body: string; headers: Record<string, unknown> }>(
    (resolve, reject) => {
      const req = request(
        {
          host: address.slice(0, i),
          port: Number(address.slice(i + 1)),
          path: "/metrics",
          method,
          headers: { host },
        },
        (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        },
      );
      req.on("error", reject);
      req.end();
    },
  );
}

describe("common: http endpoint (metrics, live page)", () => {
  let http: HttpEndpoint;
  before(async () => {
    http = new HttpEndpoint("127.0.0.1:0", silentLogger());
    http.route("/metrics", (_req, res) => void res.writeHead(200).end("ok\n"));
    await http.start();
  });
  after(() => http.stop());

  it("answers requests that name a loopback host", async () => {
    for (const host of [http.address, "localhost:9323", "[::1]:9323", "127.1.2.3"]) {
      const r = await get(http.address, host);
      assert.equal(r.status, 200, host);
      assert.equal(r.headers["access-control-allow-origin"], undefined);
    }
  });

  it("refuses any other name (a rebound DNS name) and any write", async () => {
    for (const host of ["evil.example", "evil.example:9323", "100.64.1.1:9323", "127.0.0.1.evil.example"]) {
      const r = await get(http.address, host);
      assert.equal(r.status, 421, host);
      assert.doesNotMatch(r.body, /ok/);
    }
    assert.equal((await get(http.address, http.address, "POST")).status, 404);
    assert.equal(loopbackHostHeader(undefined), false);
  });

  it("the agent's and manager's --metrics-addr accept loopback only", () => {
    assert.throws(
      () => loadAgentConfig({ nodeName: "n1", metricsAddr: "0.0.0.0:9323" }),
      /metricsAddr.*must be a loopback host:port/,
    );
    assert.throws(
      () => loadManagerConfig({ nodeName: "n1", metricsAddr: "100.64.1.1:9324" }),
      /metricsAddr.*must be a loopback host:port/,
    );
    assert.equal(
      loadAgentConfig({ nodeName: "n1", metricsAddr: "127.0.0.1:9323" }).metricsAddr,
      "127.0.0.1:9323",
    );
  });
});
