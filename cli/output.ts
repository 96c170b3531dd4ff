/**
 * Output shared by every command: Docker-style tables (upper-case headers, columns
 * separated by at least three spaces) and `--format json` (pretty JSON on stdout).
 */
import { ErrorCode, SwarmnetError } from "../common/errors.js";

export type OutputFormat = "table" | "json";

export function parseFormat(raw: string): OutputFormat {
  if (raw === "table" || raw === "json") return raw;
  throw new SwarmnetError(
    ErrorCode.InvalidArgument,
    `--format must be table or json, got ${JSON.stringify(raw)}`,
  );
}

export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3)))
      .join("")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

export function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : text + "\n");
}
