/**
 * One operation at a time, in call order: the queue every component uses when two callers
 * must never interleave (the CLI's container operations on one record, the key backends'
 * kernel changes, a mesh table's transactions). A failed operation rejects its own caller
 * only; the next one runs as usual.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(op: () => Promise<T>): Promise<T> {
    const result = this.tail.then(op, op);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Settles once everything queued so far has finished (successfully or not). */
  async idle(): Promise<void> {
    await this.tail;
  }
}
