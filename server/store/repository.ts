import type { Resource } from '@medplum/fhirtypes';
import type pg from 'pg';
import { conflict, gone, notFound, preconditionFailed } from '../fhir/outcomes.ts';
import { extractIndexRows } from './indexer.ts';
import { writeVersions, type PendingWrite } from './writes.ts';
import { newResourceId } from './ids.ts';
import { refuseHiddenByStamp } from './stamped-elements.ts';
import type { HistoryQuery, Queryable, Repository, StoredVersion, WriteMethod } from '../core/repository.ts';
import type { WriteCheck } from '../core/write-checks.ts';
import type { RuntimeSearchParams } from '../fhir/search-params/runtime-params.ts';

const FROM_ROW = `resource_type AS "resourceType", id, version_id AS "versionId",
  to_char(last_updated AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "lastUpdated", deleted, content`;

/** What a repository shares with the repositories of its transactions. */
interface SharedHooks {
  commitListeners: (() => void)[];
  runtimeParams?: RuntimeSearchParams;
}

/** Buffered writes of a transaction are sent to the database in batches of this many, while work goes on. */
const FLUSH_BATCH = 250;

/**
 * The store: every read and write of resources goes through here, whichever door it came from.
 * A Repository is bound either to the pool (each write its own DB transaction) or to one DB transaction
 * (a transaction Bundle, a bot run), in which case writes are buffered and written as multi-row batches:
 * a full batch is sent without waiting (the database works while the caller validates the next entries), and
 * everything still buffered is written before any query of the transaction and before it commits.
 */
export class PostgresRepository implements Repository {
  private readonly buffer: PendingWrite[] = [];
  /** Batches sent and not yet confirmed, chained in order; a failure surfaces at the next flush. */
  private inFlight: Promise<void> = Promise.resolve();
  /** `Type/id` of every resource written through this repository (in a transaction: once each). */
  private readonly written = new Set<string>();
  /** What afterCommit was asked to do once this repository's transaction commits. */
  private readonly afterCommitWork: (() => void)[] = [];

  constructor(
    private readonly db: Queryable,
    private readonly check: WriteCheck,
    private readonly inTransaction = false,
    private readonly shared: SharedHooks = { commitListeners: [] },
  ) {}

  /** Calls `listener` after every commit of a write through this repository (e.g. to wake the outbox reader). */
  onCommit(listener: () => void): void {
    this.shared.commitListeners.push(listener);
  }

  /** Tells `params` about every SearchParameter written through this repository, inside the write's transaction. */
  useRuntimeSearchParams(params: RuntimeSearchParams): void {
    this.shared.runtimeParams = params;
  }

  /**
   * Runs `fn` once what this repository does is committed: at once outside a transaction; inside one right after its
   * COMMIT, and never if it rolls back (e.g. the AuditEvents of a transaction Bundle's entries). `fn` must not throw.
   */
  afterCommit(fn: () => void): void {
    if (this.inTransaction) this.afterCommitWork.push(fn);
    else fn();
  }

  /** Runs `fn` in one database transaction: everything it writes commits together or not at all. */
  async transaction<T>(fn: (repo: Repository) => Promise<T>): Promise<T> {
    return this.inOwnTransaction(fn);
  }

  /** `transaction`, giving `fn` this class (its own writes use the private staging below). */
  private async inOwnTransaction<T>(fn: (repo: PostgresRepository) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this);
    const client = await (this.db as pg.Pool).connect();
    let repo: PostgresRepository | undefined;
    let broken = false;
    try {
      await client.query('BEGIN');
      repo = new PostgresRepository(client, this.check, true, this.shared);
      const result = await fn(repo);
      await repo.flush();
      await client.query('COMMIT');
      if (repo.written.size > 0) for (const listener of this.shared.commitListeners) listener();
      for (const work of repo.afterCommitWork) work();
      return result;
    } catch (err) {
      // Batches still in flight must finish (or fail) first, or their statements would run after the ROLLBACK.
      await repo?.inFlight.catch(() => {});
      // A connection that cannot even roll back is discarded rather than returned to the pool.
      await client.query('ROLLBACK').catch(() => (broken = true));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** The pg connection (pool or transaction client) for queries the search engine builds. */
  get queryable(): Queryable {
    return this.db;
  }

  /** Writes buffered versions now and waits for every batch in flight, so following queries see them. */
  async flush(): Promise<void> {
    this.send();
    await this.inFlight;
  }

  /** Sends the buffered versions as one batch behind those in flight, without waiting for it. */
  private send(): void {
    if (this.buffer.length === 0) return;
    const writes = this.buffer.splice(0);
    const client = this.db as pg.PoolClient;
    const runtimeParams = this.shared.runtimeParams;
    this.inFlight = this.inFlight.then(async () => {
      await writeVersions(client, writes);
      await runtimeParams?.noteWrites(client, writes);
    });
    // Marks the rejection as observed; the error itself is rethrown by the next flush (or the rollback awaits it).
    this.inFlight.catch(() => {});
  }

  /**
   * Runs a query after flushing buffered writes. `name` makes it a prepared statement of each connection (parsed and
   * planned once per connection instead of per call): for the hot fixed-text reads only, never for generated SQL.
   */
  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[], name?: string): Promise<pg.QueryResult<R>> {
    await this.flush();
    return name ? this.db.query<R>({ name, text: sql, values: params }) : this.db.query<R>(sql, params);
  }

  /** The current version of a resource (deleted ones included), or undefined if it never existed. */
  async readCurrent(resourceType: string, id: string): Promise<StoredVersion | undefined> {
    const r = await this.query<StoredVersion>(
      `SELECT ${FROM_ROW} FROM resource WHERE resource_type = $1 AND id = $2`,
      [resourceType, id],
      'tributary-read',
    );
    return r.rows[0];
  }

  /** The current version of a live resource; 404 if unknown, 410 if deleted. */
  async read(resourceType: string, id: string): Promise<StoredVersion> {
    const row = await this.readCurrent(resourceType, id);
    if (!row) throw notFound(`${resourceType}/${id} is not known`);
    if (row.deleted) throw gone(`${resourceType}/${id} was deleted`);
    return row;
  }

  /** One version from history; 404 if it does not exist, 410 if that version is a deletion. */
  async vread(resourceType: string, id: string, versionId: number): Promise<StoredVersion> {
    const r = await this.query<StoredVersion>(
      `SELECT ${FROM_ROW}, method FROM resource_history WHERE resource_type = $1 AND id = $2 AND version_id = $3`,
      [resourceType, id, versionId],
      'tributary-vread',
    );
    const row = r.rows[0];
    if (!row) throw notFound(`${resourceType}/${id}/_history/${versionId} is not known`);
    if (row.deleted) throw gone(`${resourceType}/${id}/_history/${versionId} is a deletion`);
    return row;
  }

  /**
   * The current version of a live resource, its row locked until the transaction ends (read-modify-write such as
   * PATCH; call it inside `transaction`). 404 if unknown, 410 if deleted.
   */
  async readForUpdate(resourceType: string, id: string): Promise<StoredVersion> {
    this.checkNotWritten(resourceType, id);
    const r = await this.query<StoredVersion>(
      `SELECT ${FROM_ROW} FROM resource WHERE resource_type = $1 AND id = $2 FOR UPDATE`,
      [resourceType, id],
      'tributary-read-for-update',
    );
    const row = r.rows[0];
    if (!row) throw notFound(`${resourceType}/${id} is not known`);
    if (row.deleted) throw gone(`${resourceType}/${id} was deleted`);
    return row;
  }

  /**
   * Creates a resource with a server-assigned id: a new UUID, or `options.id` when the caller reserved one
   * (a transaction Bundle assigns ids up front so references between its entries can be rewritten).
   */
  async create<T extends Resource>(resource: T, options: { id?: string } = {}): Promise<T> {
    refuseHiddenByStamp(resource);
    const id = options.id ?? newResourceId();
    return this.inOwnTransaction((repo) => repo.stage({ ...resource, id }, 1, 'create', false));
  }

  /**
   * Updates (or creates, with the client's id) a resource. With `ifMatch`, the current version must be that one,
   * or 412; with `ifNoneMatch` (`*`: any version), a live current version must not be one of those, or 412. Locks the
   * row, so concurrent updates serialise and each gets the next version.
   */
  async update<T extends Resource>(
    resource: T & { id: string },
    options: { ifMatch?: number; ifNoneMatch?: '*' | number[]; method?: WriteMethod } = {},
  ): Promise<{ resource: T; created: boolean }> {
    refuseHiddenByStamp(resource);
    return this.inOwnTransaction(async (repo) => {
      const current = await repo.lockCurrent(resource.resourceType, resource.id);
      if (options.ifMatch !== undefined && current?.versionId !== options.ifMatch) {
        throw preconditionFailed(
          `Version ${options.ifMatch} does not match the current version ${current?.versionId ?? 'none'}`,
        );
      }
      const none = options.ifNoneMatch;
      if (none !== undefined && current && !current.deleted && (none === '*' || none.includes(current.versionId))) {
        throw preconditionFailed(
          `If-None-Match: ${resource.resourceType}/${resource.id} exists (version ${current.versionId})`,
        );
      }
      const created = !current || current.deleted;
      const next = (current?.versionId ?? 0) + 1;
      const method = options.method ?? (current ? 'update' : 'create');
      return { resource: await repo.stage(resource, next, method, !!current), created };
    });
  }

  /** Deletes a resource (a new, deleted version). Returns false if it was already deleted. 404 if unknown. */
  async delete(resourceType: string, id: string, options: { ifMatch?: number } = {}): Promise<boolean> {
    return this.inOwnTransaction(async (repo) => {
      const current = await repo.lockCurrent(resourceType, id);
      if (!current) throw notFound(`${resourceType}/${id} is not known`);
      if (options.ifMatch !== undefined && current.versionId !== options.ifMatch) {
        throw preconditionFailed(`Version ${options.ifMatch} does not match the current version ${current.versionId}`);
      }
      if (current.deleted) return false;
      repo.enqueue({
        resourceType,
        id,
        versionId: current.versionId + 1,
        lastUpdated: new Date().toISOString(),
        deleted: true,
        method: 'delete',
        content: null,
        index: null,
        replaces: true,
      });
      return true;
    });
  }

  /** Versions newest first, for instance, type or system history. */
  async history(q: HistoryQuery): Promise<StoredVersion[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => `$${params.push(v)}`;
    if (q.resourceType) where.push(`resource_type = ${p(q.resourceType)}`);
    if (q.id) where.push(`id = ${p(q.id)}`);
    if (q.since) where.push(`last_updated >= ${p(q.since)}`);
    if (q.at) {
      where.push(`last_updated <= ${p(q.at.end)}`);
      where.push(`NOT EXISTS (SELECT 1 FROM resource_history n WHERE n.resource_type = h.resource_type AND n.id = h.id
        AND n.version_id = h.version_id + 1 AND n.last_updated <= ${p(q.at.start)})`);
    }
    if (q.before) {
      const b = q.before;
      where.push(
        `(last_updated, resource_type, id, version_id) < (${p(b.lastUpdated)}, ${p(b.resourceType)}, ${p(b.id)}, ${p(b.versionId)})`,
      );
    }
    const sql = `SELECT ${FROM_ROW}, method FROM resource_history h ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY last_updated DESC, resource_type DESC, id DESC, version_id DESC LIMIT ${p(q.count)}`;
    return (await this.query<StoredVersion>(sql, params)).rows;
  }

  /** Takes a transaction-scoped advisory lock, e.g. to make a conditional create race-free. */
  async advisoryLock(key: string): Promise<void> {
    await this.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
  }

  private checkNotWritten(resourceType: string, id: string): void {
    if (this.inTransaction && this.written.has(`${resourceType}/${id}`)) {
      throw conflict(`${resourceType}/${id} is written more than once in the same transaction`);
    }
  }

  private async lockCurrent(resourceType: string, id: string) {
    this.checkNotWritten(resourceType, id);
    const r = await this.query<{ versionId: number; deleted: boolean }>(
      `SELECT version_id AS "versionId", deleted FROM resource WHERE resource_type = $1 AND id = $2 FOR UPDATE`,
      [resourceType, id],
      'tributary-lock-current',
    );
    return r.rows[0];
  }

  /** Stamps meta, validates, and buffers the write; flushed at commit or before the next query. */
  private async stage<T extends Resource>(
    resource: T,
    versionId: number,
    method: PendingWrite['method'],
    replaces: boolean,
  ): Promise<T> {
    const lastUpdated = new Date().toISOString();
    const stamped = { ...resource, meta: { ...resource.meta, versionId: String(versionId), lastUpdated } } as T;
    const stored = ((await this.check(stamped, { repo: this, method })) ?? stamped) as T;
    this.enqueue({
      resourceType: stored.resourceType,
      id: stored.id as string,
      versionId,
      lastUpdated,
      deleted: false,
      method,
      content: JSON.stringify(stored),
      index: extractIndexRows(stored),
      replaces,
    });
    return stored;
  }

  private enqueue(write: PendingWrite): void {
    this.checkNotWritten(write.resourceType, write.id);
    if (this.inTransaction) this.written.add(`${write.resourceType}/${write.id}`);
    this.buffer.push(write);
    if (this.buffer.length >= FLUSH_BATCH) this.send();
  }
}
