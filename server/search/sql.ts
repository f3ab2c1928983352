import { tooCostly } from '../fhir/outcomes.ts';

/** Most bind parameters one statement can carry (the protocol counts them in 16 bits). */
const MAX_BIND_PARAMETERS = 65_535;

/** Collects query parameters: every search value reaches Postgres as a bind parameter, never as SQL text. */
export class SqlParams {
  readonly values: unknown[] = [];
  private aliases = 0;

  /**
   * Adds a value and returns its placeholder, with a cast when given (`$3::timestamptz`). A statement needing more
   * parameters than the protocol carries is refused (400) here, whatever built it, rather than failing in the driver.
   */
  add(value: unknown, cast?: string): string {
    if (this.values.length >= MAX_BIND_PARAMETERS) {
      throw tooCostly(`This search needs more than ${MAX_BIND_PARAMETERS} query parameters; narrow it`);
    }
    this.values.push(value);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }

  /** A fresh table alias (`t4`), so nested subqueries never capture each other's columns. */
  alias(prefix = 't'): string {
    return `${prefix}${++this.aliases}`;
  }
}
