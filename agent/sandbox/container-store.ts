/**
 * Persistence of container records: one JSON file written atomically (write, rename) on
 * every change. Small by design: a node runs tens to hundreds of containers, and the
 * file is only read at start.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { ContainerRecord } from "./container.js";

export class ContainerStore {
  private readonly file: string;
  private readonly records = new Map<string, ContainerRecord>();

  constructor(readonly stateDir: string) {
    this.file = join(stateDir, "containers.json");
  }

  load(): void {
    mkdirSync(this.stateDir, { recursive: true });
    if (!existsSync(this.file)) return;
    try {
      const list = JSON.parse(readFileSync(this.file, "utf8")) as ContainerRecord[];
      for (const c of list) this.records.set(c.id, { ...c, labels: c.labels ?? {} });
    } catch (err) {
      throw new SwarmnetError(ErrorCode.InvalidConfig, `cannot read ${this.file}`, { cause: err });
    }
  }

  all(): ContainerRecord[] {
    return [...this.records.values()];
  }

  get(id: string): ContainerRecord | undefined {
    return this.records.get(id);
  }

  put(c: ContainerRecord): void {
    this.records.set(c.id, c);
    this.save();
  }

  delete(id: string): void {
    this.records.delete(id);
    this.save();
  }

  private save(): void {
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.all(), null, 2) + "\n");
    renameSync(tmp, this.file);
  }
}
