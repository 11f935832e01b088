/**
 * The seam every UI binds to, shaped for React's `useSyncExternalStore` (and Vue's, Svelte's…):
 * `subscribe(listener) → unsubscribe`, and `getSnapshot()` returning the same object until something
 * changed. A store marks itself dirty on a change and builds the next snapshot only when one is read,
 * so reading is O(1) when nothing changed and a burst of events costs one rebuild, not one each.
 */
export interface Subscribable<S> {
  getSnapshot(): S;
  subscribe(listener: () => void): () => void;
}

export abstract class ExternalStore<S> implements Subscribable<S> {
  private readonly listeners = new Set<() => void>();
  private snapshot: S | undefined;
  private notifyQueued = false;
  private held = 0;

  /** Builds a fresh, frozen snapshot from the store's state. */
  protected abstract build(): S;

  getSnapshot = (): S => {
    if (this.snapshot === undefined) this.snapshot = this.build();
    return this.snapshot;
  };

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  };

  /** Something changed: the next read builds a new snapshot; listeners hear once per tick. */
  protected changed(): void {
    this.snapshot = undefined;
    if (this.notifyQueued || this.held > 0) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      if (this.held === 0) this.notify();
    });
  }

  /** Holds notifications (a replay in progress) until the matching `release()`. */
  protected hold(): void {
    this.held++;
  }

  protected release(): void {
    if (this.held === 0) return;
    this.held--;
    if (this.held === 0) this.changed();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
