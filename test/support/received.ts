/** Everything a socket.io client received, in order, with helpers to wait for more. */
export class Received {
  readonly events: { event: string; payload: any }[] = [];
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  constructor(
    socket: { onAny(listener: (event: string, payload: unknown) => void): unknown },
    private readonly defaultTimeoutMs = 5000,
  ) {
    socket.onAny((event: string, payload: unknown) => {
      this.events.push({ event, payload });
      this.waiters = this.waiters.filter((w) => {
        if (!w.check()) return true;
        w.resolve();
        return false;
      });
    });
  }

  of(event: string): any[] {
    return this.events.filter((e) => e.event === event).map((e) => e.payload);
  }

  /** Resolves once `count` events named `event` (matching `where`) have arrived. */
  async waitFor(event: string, count = 1, where: (payload: any) => boolean = () => true, timeoutMs = this.defaultTimeoutMs): Promise<any[]> {
    const matching = () => this.events.filter((e) => e.event === event && where(e.payload));
    if (matching().length >= count) return matching().map((e) => e.payload);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${count} × ${event} (got ${matching().length}; all: ${this.events.map((e) => e.event).join(', ')})`)),
        timeoutMs,
      );
      this.waiters.push({ check: () => matching().length >= count, resolve: () => (clearTimeout(timer), resolve()) });
    });
    return matching().map((e) => e.payload);
  }

  clear(): void {
    this.events.length = 0;
  }
}
