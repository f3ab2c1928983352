/** Things that arrive over time (requests, messages), and a way to wait for a number of them. */
export class Arrivals<T> {
  readonly items: T[] = [];
  private waiters: (() => void)[] = [];

  /** Records an arrival and wakes whoever waits. */
  push(item: T): void {
    this.items.push(item);
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves with the items once `count` arrived; rejects after `timeoutMs`, saying what it waited for. */
  async waitFor(
    count: number,
    timeoutMs: number,
    what: string,
    describe: (items: T[]) => string = () => '',
  ): Promise<T[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.items.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} ${what}, got ${this.items.length}${describe(this.items)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
    return this.items;
  }
}
