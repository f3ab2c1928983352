/** Collects query parameters: every search value reaches Postgres as a bind parameter, never as SQL text. */
export class SqlParams {
  readonly values: unknown[] = [];
  private aliases = 0;

  /** Adds a value and returns its placeholder, with a cast when given (`$3::timestamptz`). */
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }

  /** A fresh table alias (`t4`), so nested subqueries never capture each other's columns. */
  alias(prefix = 't'): string {
    return `${prefix}${++this.aliases}`;
  }
}
