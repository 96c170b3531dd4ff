/**
 * The picture of a chaos run: an SVG timeline, one row per traffic target (each node's
 * published port, then the VIP from the probe container), each row a strip of one-second
 * cells coloured by that second's request success rate (green 100 %, through yellow, to
 * red 0 %; grey: no request) with the rate drawn as a line over it; every fault is a
 * numbered vertical line, listed under the chart with its time and targets, and the
 * disturbed intervals are hatched on the rows they concern. Plain SVG text, no library:
 * a browser or any image viewer shows it.
 */
import type { RequestRecord } from "./traffic.js";
import type { Interval } from "./timeline.js";
import type { ChaosReport } from "./report.js";

const ROW_H = 26;
const LABEL_W = 90;
const CHART_W = 900;
const TOP = 52;
const BUCKET_MS = 1000;

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function colour(rate: number): string {
  // 0 → red (hue 0), 1 → green (hue 120).
  return `hsl(${Math.round(120 * rate)}, 70%, ${rate === 1 ? 42 : 50}%)`;
}

export function renderSvg(
  report: ChaosReport,
  records: readonly RequestRecord[],
  rows: readonly { id: string; via: string }[],
  intervals: readonly Interval[],
  start: number,
  end: number,
): string {
  const span = Math.max(end - start, 1000);
  const x = (t: number) => LABEL_W + ((t - start) / span) * CHART_W;
  const buckets = Math.ceil(span / BUCKET_MS);
  const chartH = rows.length * ROW_H;
  const legendTop = TOP + chartH + 40;
  const height = legendTop + 18 * (report.faults.length + 2) + 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${LABEL_W + CHART_W + 20}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#000" stroke-opacity="0.35" stroke-width="2"/></pattern></defs>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(
      `${report.scenario} (seed ${report.seed}) — request success rate per entry point`,
    )}</text>`,
    `<text x="10" y="38">${esc(
      `${report.requests.total} requests, ${report.requests.failed} failed (${report.requests.failedHealthy} through undisturbed nodes); ` +
        `recovery p50 ${(report.recovery.p50Ms / 1000).toFixed(1)} s, max ${(report.recovery.maxMs / 1000).toFixed(1)} s; ` +
        `invariants ${report.invariants.filter((i) => i.held).length}/${report.invariants.length} held`,
    )}</text>`,
  ];
  rows.forEach((row, ri) => {
    const y = TOP + ri * ROW_H;
    out.push(`<text x="10" y="${y + ROW_H / 2 + 4}">${esc(row.id)}</text>`);
    const mine = records.filter((r) => r.id === row.id);
    const points: string[] = [];
    for (let b = 0; b < buckets; b++) {
      const t0 = start + b * BUCKET_MS;
      const inB = mine.filter((r) => r.t >= t0 && r.t < t0 + BUCKET_MS);
      const w = (BUCKET_MS / span) * CHART_W;
      if (inB.length === 0) {
        out.push(
          `<rect x="${x(t0).toFixed(1)}" y="${y + 2}" width="${w.toFixed(1)}" height="${ROW_H - 4}" fill="#ddd"/>`,
        );
        continue;
      }
      const rate = inB.filter((r) => r.ok).length / inB.length;
      out.push(
        `<rect x="${x(t0).toFixed(1)}" y="${y + 2}" width="${w.toFixed(1)}" height="${ROW_H - 4}" fill="${colour(rate)}"/>`,
      );
      points.push(`${(x(t0) + w / 2).toFixed(1)},${(y + ROW_H - 3 - rate * (ROW_H - 6)).toFixed(1)}`);
    }
    if (points.length > 1)
      out.push(`<polyline points="${points.join(" ")}" fill="none" stroke="#000" stroke-width="1"/>`);
    for (const iv of intervals.filter((i) => i.node === row.via)) {
      const x0 = x(Math.max(iv.from, start));
      const x1 = x(Math.min(iv.to ?? end, end));
      if (x1 > x0) {
        out.push(
          `<rect x="${x0.toFixed(1)}" y="${y + 2}" width="${(x1 - x0).toFixed(1)}" height="${ROW_H - 4}" fill="url(#hatch)"><title>${esc(iv.why)}</title></rect>`,
        );
      }
    }
  });
  // Time axis.
  const axisY = TOP + chartH + 4;
  out.push(`<line x1="${LABEL_W}" y1="${axisY}" x2="${LABEL_W + CHART_W}" y2="${axisY}" stroke="#000"/>`);
  const step = span > 120_000 ? 20_000 : span > 40_000 ? 10_000 : 5000;
  for (let t = 0; t <= span; t += step) {
    out.push(
      `<text x="${x(start + t).toFixed(1)}" y="${axisY + 14}" text-anchor="middle">${t / 1000}s</text>`,
    );
  }
  // Faults.
  report.faults.forEach((f, i) => {
    const fx = x(start + f.atMs);
    out.push(
      `<line x1="${fx.toFixed(1)}" y1="${TOP - 6}" x2="${fx.toFixed(1)}" y2="${axisY}" stroke="#1f3fbf" stroke-width="1.5" stroke-dasharray="4,3"/>`,
      `<text x="${fx.toFixed(1)}" y="${TOP - 8}" text-anchor="middle" fill="#1f3fbf" font-weight="bold">${i + 1}</text>`,
      `<text x="10" y="${legendTop + 18 * i}" fill="#1f3fbf">${esc(
        `${i + 1}. ${(f.atMs / 1000).toFixed(1)} s  ${f.step}${f.nodes.length ? ` → ${f.nodes.join(", ")}` : ""}: ${f.failed} of ${f.requests} failed, recovery ${(f.recoveryMs / 1000).toFixed(1)} s`,
      )}</text>`,
    );
  });
  out.push(
    `<text x="10" y="${legendTop + 18 * report.faults.length + 6}" fill="#555">${esc(
      "cells: success rate per second (green 100 %, red 0 %, grey no request); hatched: the scenario disturbed that entry point",
    )}</text>`,
    "</svg>",
  );
  return out.join("\n") + "\n";
}
