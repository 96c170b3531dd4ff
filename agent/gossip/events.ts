/**
 * A small typed event emitter. Membership events fire synchronously from inside packet
 * handling (so NetworkDB hides a dead owner's entries in the same step that declared it
 * dead); a listener that throws is reported through `onListenerError` and never breaks
 * the protocol loop that emitted the event.
 */

type ListenerMap = Record<string, (...args: never[]) => void>;

export class Emitter<E extends ListenerMap> {
  private readonly listeners = new Map<keyof E, E[keyof E][]>();

  constructor(private readonly onListenerError: (event: string, err: unknown) => void = () => {}) {}

  /** Adds a listener; the returned function removes it. */
  on<K extends keyof E>(event: K, fn: E[K]): () => void {
    const list = this.listeners.get(event) ?? [];
    list.push(fn);
    this.listeners.set(event, list);
    return () => {
      const current = this.listeners.get(event);
      if (current === undefined) return;
      const i = current.indexOf(fn);
      if (i >= 0) current.splice(i, 1);
    };
  }

  has(event: keyof E): boolean {
    return (this.listeners.get(event)?.length ?? 0) > 0;
  }

  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const list = this.listeners.get(event);
    if (list === undefined || list.length === 0) return;
    for (const fn of [...list]) {
      try {
        fn(...args);
      } catch (err) {
        this.onListenerError(String(event), err);
      }
    }
  }
}
