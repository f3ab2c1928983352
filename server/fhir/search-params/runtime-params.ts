import type { SearchParameter } from '@medplum/fhirtypes';
import pg from 'pg';
import { registerRuntimeParam, unregisterRuntimeParam } from './registry.ts';

/** The channel on which writes of SearchParameter resources are announced (NOTIFY is delivered at commit only). */
const CHANNEL = 'tributary_search_parameters';
/** Re-read after a local write, in case its transaction rolled back (then no NOTIFY ever comes). */
const RECHECK_MS = 2000;

/**
 * The SearchParameter resources of one database in use as runtime search parameters: created at start-up
 * (server/app.ts) and given to the store, which tells it about SearchParameter writes inside their transaction. It
 * owns what changes at runtime: which parameter each stored SearchParameter registered, the pool it re-reads them
 * with and the LISTEN connection that keeps it in step with other nodes. The definitions themselves live in the
 * registry (registry.ts), which this object feeds.
 */
export class RuntimeSearchParams {
  /** Which runtime SearchParameter a stored SearchParameter resource registered, by resource id. */
  private readonly urlById = new Map<string, string>();
  private pool: pg.Pool | undefined;
  private listener: pg.Client | undefined;

  /**
   * Loads the SearchParameters stored in the database and keeps them in step with writes made by other nodes
   * (LISTEN) until `stop`.
   */
  async start(pool: pg.Pool, connectionString: string): Promise<void> {
    this.pool = pool;
    await this.reload();
    const listener = new pg.Client({ connectionString });
    listener.on('error', () => {});
    listener.on('notification', () => void this.reload().catch(() => {}));
    await listener.connect();
    await listener.query(`LISTEN ${CHANNEL}`);
    this.listener = listener;
  }

  async stop(): Promise<void> {
    this.pool = undefined;
    await this.listener?.end().catch(() => {});
    this.listener = undefined;
  }

  /**
   * Called by the store inside the write's transaction: a written SearchParameter takes effect for this process's
   * next writes at once, and a NOTIFY (sent only if the transaction commits) tells every node to re-read them.
   */
  async noteWrites(
    client: pg.ClientBase,
    writes: { resourceType: string; id: string; content: string | null }[],
  ): Promise<void> {
    const changed = writes.filter((w) => w.resourceType === 'SearchParameter');
    if (changed.length === 0) return;
    for (const w of changed) this.apply(w.id, w.content ? (JSON.parse(w.content) as SearchParameter) : undefined);
    await client.query(`SELECT pg_notify('${CHANNEL}', '')`);
    if (this.pool) setTimeout(() => void this.reload().catch(() => {}), RECHECK_MS).unref();
  }

  private apply(id: string, sp: SearchParameter | undefined): void {
    const previous = this.urlById.get(id);
    if (previous && previous !== sp?.url) unregisterRuntimeParam(previous);
    this.urlById.delete(id);
    if (!sp) return;
    if (registerRuntimeParam(sp) === undefined) this.urlById.set(id, sp.url as string);
  }

  /** Re-reads every stored SearchParameter and makes what this object registered match it. */
  private async reload(): Promise<void> {
    if (!this.pool) return;
    const { rows } = await this.pool.query<{ id: string; content: string }>(
      `SELECT id, content FROM resource WHERE resource_type = 'SearchParameter' AND NOT deleted`,
    );
    const stored = new Set<string>();
    for (const row of rows) {
      this.apply(row.id, JSON.parse(row.content) as SearchParameter);
      stored.add(row.id);
    }
    for (const id of [...this.urlById.keys()]) if (!stored.has(id)) this.apply(id, undefined);
  }
}
