/**
 * A background loop that sleeps between rounds and can be woken early. A wake-up that comes while a round runs is
 * kept, so the next sleep returns at once and no signal is lost between "found nothing" and "went to sleep".
 */
export class WakeLoop {
  private stopped = false;
  private woken = false;
  private wakeUp?: () => void;
  private loop?: Promise<void>;

  /** Starts calling `round` until stopped; `round` returns how long to sleep before the next one (0: go on). */
  start(round: () => Promise<number>): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const ms = await round();
        if (ms > 0) await this.sleep(ms);
      }
    })();
  }

  /** Ends the current sleep (or the next one) early. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** True once stop was called. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** Stops the loop after the round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.loop;
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken || this.stopped) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(), ms);
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        this.woken = false;
        resolve();
      };
      this.wakeUp = done;
    });
  }
}
