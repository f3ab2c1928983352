import type { Resource } from '@medplum/fhirtypes';
import type pg from 'pg';

/** A row of the resource or history table. */
export interface StoredVersion {
  resourceType: string;
  id: string;
  versionId: number;
  lastUpdated: string;
  deleted: boolean;
  method?: string;
  /** The resource JSON exactly as stored (meta included); null for a deletion. */
  content: string | null;
}

/** Options of a history query. */
export interface HistoryQuery {
  resourceType?: string;
  id?: string;
  since?: string;
  /** Versions that were current at some point in this period (`_at`). */
  at?: { start: string; end: string };
  count: number;
  /** Keyset cursor: continue strictly before this (lastUpdated, resourceType, id, versionId). */
  before?: { lastUpdated: string; resourceType: string; id: string; versionId: number };
}

/** How a version was written (history's `request.method`). */
export type WriteMethod = 'create' | 'update' | 'delete' | 'patch';

/** What the search engine's SQL runs on: the pool, or the connection of one transaction. */
export type Queryable = pg.Pool | pg.PoolClient;

/**
 * The store every door and module reads and writes resources through (server/store/repository.ts implements it on
 * Postgres). A repository is bound either to the pool (each write its own database transaction) or to one database
 * transaction (`transaction(fn)`: a transaction Bundle, a bot run, a write check), whose writes commit together.
 * Reads and writes throw `OutcomeError`s (404 unknown, 410 deleted, 409/412 version conflicts).
 */
export interface Repository {
  /** Calls `listener` after every commit of a write through this repository (e.g. to wake the outbox reader). */
  onCommit(listener: () => void): void;
  /** Runs `fn` once this repository's work is committed: at once outside a transaction, never after a rollback. */
  afterCommit(fn: () => void): void;
  /** Runs `fn` in one database transaction (or in the current one): everything it writes commits together. */
  transaction<T>(fn: (repo: Repository) => Promise<T>): Promise<T>;
  /** The pg connection (pool or transaction client) for the SQL the search engine builds. */
  readonly queryable: Queryable;
  /** Writes buffered versions now, so following queries see them. */
  flush(): Promise<void>;
  /** Runs a query after flushing buffered writes; `name` makes it a prepared statement (fixed-text hot reads only). */
  query<R extends pg.QueryResultRow>(sql: string, params: unknown[], name?: string): Promise<pg.QueryResult<R>>;
  /** The current version of a resource (deleted ones included), or undefined if it never existed. */
  readCurrent(resourceType: string, id: string): Promise<StoredVersion | undefined>;
  /** The current version of a live resource; 404 if unknown, 410 if deleted. */
  read(resourceType: string, id: string): Promise<StoredVersion>;
  /** One version from history; 404 if it does not exist, 410 if that version is a deletion. */
  vread(resourceType: string, id: string, versionId: number): Promise<StoredVersion>;
  /** The current version of a live resource, its row locked until the transaction ends (read-modify-write). */
  readForUpdate(resourceType: string, id: string): Promise<StoredVersion>;
  /** Creates a resource with a server-assigned id (or `options.id`, an id the caller reserved). */
  create<T extends Resource>(resource: T, options?: { id?: string }): Promise<T>;
  /** Updates (or creates, with the client's id) a resource; `ifMatch`/`ifNoneMatch` preconditions answer 412. */
  update<T extends Resource>(
    resource: T & { id: string },
    options?: { ifMatch?: number; ifNoneMatch?: '*' | number[]; method?: WriteMethod },
  ): Promise<{ resource: T; created: boolean }>;
  /** Deletes a resource (a new, deleted version). False if it was already deleted; 404 if unknown. */
  delete(resourceType: string, id: string, options?: { ifMatch?: number }): Promise<boolean>;
  /** Versions newest first, for instance, type or system history. */
  history(q: HistoryQuery): Promise<StoredVersion[]>;
  /** Takes a transaction-scoped advisory lock, e.g. to make a conditional create race-free. */
  advisoryLock(key: string): Promise<void>;
}
