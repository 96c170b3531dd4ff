/**
 * Persistence of container records: one JSON file written atomically (write, rename) on
 * every change. Small by design: a node runs tens to hundreds of containers, and the
 * file is only read at start. Records are immutable values (see container.ts); `version`
 * counts changes so a snapshot of the node can be reused while nothing changed, and
 * every change is announced (`onChange`), so no reconciler can miss one — a process
 * that starts or exits changes what the mesh forwards as much as a new endpoint does.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, SwarmnetError } from "../../common/errors.js";
import type { ContainerRecord } from "./container.js";

export class ContainerStore {
  private readonly file: string | undefined;
  private readonly records = new Map<string, ContainerRecord>();
  private list: readonly ContainerRecord[] | undefined;
  version = 0;
  private readonly listeners: (() => void)[] = [];

  /** `stateDir` undefined: memory only (unit tests). */
  constructor(readonly stateDir: string | undefined) {
    this.file = stateDir === undefined ? undefined : join(stateDir, "containers.json");
  }

  load(): void {
    if (this.stateDir === undefined || this.file === undefined) return;
    mkdirSync(this.stateDir, { recursive: true });
    if (!existsSync(this.file)) return;
    try {
      const list = JSON.parse(readFileSync(this.file, "utf8")) as ContainerRecord[];
      for (const c of list) this.records.set(c.id, { ...c, labels: c.labels ?? {} });
    } catch (err) {
      throw new SwarmnetError(ErrorCode.InvalidConfig, `cannot read ${this.file}`, { cause: err });
    }
    this.changed();
  }

  /** Every record, as one array that stays the same object until the next change. */
  all(): readonly ContainerRecord[] {
    return (this.list ??= [...this.records.values()]);
  }

  get(id: string): ContainerRecord | undefined {
    return this.records.get(id);
  }

  put(c: ContainerRecord): void {
    this.records.set(c.id, c);
    this.changed();
  }

  delete(id: string): void {
    if (!this.records.delete(id)) return;
    this.changed();
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    this.list = undefined;
    this.version++;
    if (this.file !== undefined) {
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, JSON.stringify(this.all(), null, 2) + "\n");
      renameSync(tmp, this.file);
    }
    for (const l of this.listeners) l();
  }
}
