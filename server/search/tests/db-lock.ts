import pg from 'pg';

/**
 * Makes searches slow on purpose, on any machine: an ACCESS EXCLUSIVE lock on the resource table, held by a
 * connection of the test's own, makes every statement that reads it wait (planner probes included) until released.
 * Also lists the statements of the database that are running, to see a search's statement come and go.
 */
export class ResourceTableLock {
  private readonly client: pg.Client;
  /** A second connection: statistics views read inside the locking transaction would stay as first read. */
  private readonly observer: pg.Client;

  constructor(databaseUrl: string) {
    this.client = new pg.Client({ connectionString: databaseUrl });
    this.observer = new pg.Client({ connectionString: databaseUrl });
  }

  async connect(): Promise<void> {
    await this.client.connect();
    await this.observer.connect();
  }

  async lock(): Promise<void> {
    await this.client.query('BEGIN');
    await this.client.query('LOCK TABLE resource IN ACCESS EXCLUSIVE MODE');
  }

  async unlock(): Promise<void> {
    await this.client.query('ROLLBACK');
  }

  /** The running statements of other connections to this database whose text contains `fragment`. */
  async running(fragment: string): Promise<{ pid: number; query: string }[]> {
    const { rows } = await this.observer.query<{ pid: number; query: string }>(
      `SELECT pid, query FROM pg_stat_activity
       WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid() AND strpos(query, $1) > 0`,
      [fragment],
    );
    return rows;
  }

  async end(): Promise<void> {
    await this.client.end();
    await this.observer.end();
  }
}
