/**
 * The live page: one self-contained HTML document (inline style and script, nothing
 * fetched from anywhere but this manager), in the spirit of the Swarm Visualizer — nodes
 * as columns with their tasks as cards — plus networks, published ports and recent events.
 * It renders the picture from `/ui/stream` with DOM calls only (text, never HTML), so a
 * service named like markup stays text. `data-*` attributes name what tests look for.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>swarmnet</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 16px; background: #f4f5f7; color: #172b4d; }
  h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 20px 0 8px; }
  #live { font-size: 12px; color: #5e6c84; }
  #nodes { display: flex; gap: 12px; align-items: flex-start; overflow-x: auto; }
  .node { background: #fff; border-radius: 6px; min-width: 180px; padding: 8px; border-top: 5px solid #36b37e; box-shadow: 0 1px 2px #0002; }
  .node[data-status="down"] { border-top-color: #de350b; opacity: .75; }
  .node h3 { margin: 0; font-size: 15px; } .node .meta { font-size: 12px; color: #5e6c84; margin-bottom: 6px; }
  .status { font-weight: 600; text-transform: uppercase; font-size: 11px; }
  .node[data-status="ready"] .status { color: #36b37e; } .node[data-status="down"] .status { color: #de350b; }
  .task { border-radius: 4px; padding: 4px 6px; margin: 4px 0; background: #deebff; font-size: 13px; }
  .task[data-state="running"] { background: #e3fcef; } .task[data-state="failed"] { background: #ffebe6; }
  .task .state { font-size: 11px; color: #5e6c84; }
  .chip { display: inline-block; background: #eae6ff; border-radius: 10px; padding: 0 6px; margin: 1px; font-size: 11px; }
  table { border-collapse: collapse; background: #fff; } td, th { padding: 4px 10px; border-bottom: 1px solid #dfe1e6; text-align: left; }
  #events li { font-family: ui-monospace, monospace; font-size: 12px; }
</style>
</head>
<body>
<h1>swarmnet</h1>
<div id="live">connecting…</div>
<h2>Nodes</h2>
<div id="nodes"></div>
<h2>Networks</h2>
<table><thead><tr><th>name</th><th>driver</th><th>marks</th><th>carried by</th></tr></thead><tbody id="networks"></tbody></table>
<h2>Published ports</h2>
<table><thead><tr><th>port</th><th>service</th><th>mode</th><th>leads to</th></tr></thead><tbody id="ports"></tbody></table>
<h2>Recent events</h2>
<ul id="events"></ul>
<script>
"use strict";
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}
function row(...cells) { return el("tr", {}, ...cells.map((c) => el("td", {}, c))); }
function render(p) {
  document.getElementById("live").textContent = "live · updated " + new Date(p.at).toLocaleTimeString();
  document.getElementById("nodes").replaceChildren(...p.nodes.map((n) =>
    el("div", { class: "node", "data-node": n.name, "data-status": n.status },
      el("h3", {}, n.name, n.leader ? " ★" : ""),
      el("div", { class: "meta" }, el("span", { class: "status" }, n.status), " · ", n.role, " · ", n.addr),
      el("div", {}, ...n.overlays.map((o) => el("span", { class: "chip", "data-overlay": o }, o))),
      ...n.tasks.map((t) => el("div", { class: "task", "data-task": t.name, "data-state": t.state },
        el("div", {}, t.name), el("div", { class: "state" }, t.state, t.message ? ": " + t.message : ""))))));
  document.getElementById("networks").replaceChildren(...p.networks.map((n) => {
    const marks = [n.encrypted ? "encrypted" : "", n.attachable ? "attachable" : "", n.ingress ? "ingress" : ""].filter(Boolean).join(", ");
    const r = row(n.name, n.driver, marks, n.nodes.join(", "));
    r.setAttribute("data-network", n.name);
    r.setAttribute("data-encrypted", String(n.encrypted));
    return r;
  }));
  document.getElementById("ports").replaceChildren(...p.ports.map((x) => {
    const r = row("*:" + x.published + "->" + x.target + "/" + x.protocol, x.service, x.mode, x.nodes.join(", "));
    r.setAttribute("data-port", x.published);
    return r;
  }));
  document.getElementById("events").replaceChildren(...p.events.slice().reverse().map((e) =>
    el("li", {}, new Date(e.timeMs).toLocaleTimeString() + " " + e.type + " " + e.action + " " +
      Object.entries(e.attributes).map(([k, v]) => k + "=" + v).join(" "))));
  document.body.setAttribute("data-rendered", p.at);
}
const source = new EventSource("/ui/stream");
source.onmessage = (m) => render(JSON.parse(m.data));
source.onerror = () => { document.getElementById("live").textContent = "reconnecting…"; };
</script>
</body>
</html>
`;
