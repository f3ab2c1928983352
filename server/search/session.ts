import pg from 'pg';
import { OutcomeError, outcome } from '../fhir/outcomes.ts';
import type { Repository } from '../core/repository.ts';
import { PostgresRepository } from '../store/repository.ts';
import { searchConfig } from './config.ts';

/**
 * A search's statements run in a session: on one connection whose `statement_timeout` is the search timeout (so
 * Postgres itself stops a runaway statement), under a deadline for the whole request, and stopped when the caller
 * goes away. A statement running when the deadline passes or the client disconnects is cancelled in Postgres
 * (`pg_cancel_backend`), and no further statement (a planner probe, a count, an include) is sent after that.
 */

/** Cancels the statement a backend runs (`pg_cancel_backend` over a connection of its own, not the pool's). */
export type Canceller = (pid: number) => Promise<void>;

/** Where the searches of a store run: connections opened with the search timeout, and how to cancel their work. */
export interface SearchConnections {
  /** A pool whose connections start with `statement_timeout` = SEARCH_TIMEOUT_MS. */
  pool: pg.Pool;
  cancel: Canceller;
}

const registered = new WeakMap<pg.Pool, SearchConnections>();

/** Registers the search connections of a store's pool (server/search/services.ts). */
export function registerSearchConnections(pool: pg.Pool, connections: SearchConnections): void {
  registered.set(pool, connections);
}

/** The backend pid of each search connection, asked once per connection. */
const backendPids = new WeakMap<pg.PoolClient, number>();

/** Why a session stopped early. */
class SessionStopped extends Error {
  constructor(readonly why: 'gone' | 'timeout') {
    super(`search session stopped: ${why}`);
  }
}

/** A Repository whose queries run in a search session: refused once the session is stopped, tracked while running. */
class SessionRepository extends PostgresRepository {
  constructor(
    private readonly runner: Repository,
    /** The repository the session was opened on (caches that outlive a request are keyed by it). */
    readonly origin: Repository,
    private readonly stop: AbortSignal,
    private readonly running: (delta: number) => void,
  ) {
    super(runner.queryable, refuseWrites);
  }

  override async query<R extends pg.QueryResultRow>(
    sql: string,
    params: unknown[],
    name?: string,
  ): Promise<pg.QueryResult<R>> {
    this.stop.throwIfAborted();
    this.running(1);
    try {
      return await this.runner.query<R>(sql, params, name);
    } finally {
      this.running(-1);
    }
  }
}

/** The repository a session was opened on (the repository itself outside sessions), for per-store caches. */
export function originOf(repo: Repository): Repository {
  return repo instanceof SessionRepository ? repo.origin : repo;
}

/**
 * Runs `fn` (a search: page, counts, probes, includes) in a search session on `repo`, stopped when `signal` aborts
 * (the client went away) or after SEARCH_TIMEOUT_MS. A timeout answers 503 with an OperationOutcome (`timeout`); a
 * search whose client went away ends with an error nobody receives (status 499, as proxies log it).
 */
export async function withSearchSession<T>(
  repo: Repository,
  signal: AbortSignal | undefined,
  fn: (repo: Repository) => Promise<T>,
): Promise<T> {
  const { timeoutMs } = searchConfig();
  const stop = new AbortController();
  const gone = () => stop.abort(new SessionStopped('gone'));
  if (signal?.aborted) gone();
  signal?.addEventListener('abort', gone, { once: true });
  const timer = timeoutMs ? setTimeout(() => stop.abort(new SessionStopped('timeout')), timeoutMs) : undefined;
  try {
    const db = repo.queryable;
    if (db instanceof pg.Pool) return await onOwnConnection(db, repo, stop.signal, fn);
    if (db instanceof pg.Client) return await inCallersTransaction(repo, stop.signal, fn);
    // Another queryable (a benchmark's recorder): the deadline and the caller's signal still stop the session.
    return await fn(new SessionRepository(repo, repo, stop.signal, () => {}));
  } catch (err) {
    throw stoppedOutcome(err, stop.signal, timeoutMs);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', gone);
  }
}

/**
 * A session on a connection of its own: from the registered search pool (its connections carry the timeout from
 * their start: no statement more per search), else from `pool` with the timeout set for the session and reset after.
 */
async function onOwnConnection<T>(
  pool: pg.Pool,
  origin: Repository,
  stop: AbortSignal,
  fn: (repo: Repository) => Promise<T>,
): Promise<T> {
  const search = registered.get(pool);
  const client = await connect(search?.pool ?? pool, stop);
  let running = 0;
  let cancelled = false;
  let pid = backendPids.get(client);
  const onStop = () => {
    if (running === 0 || pid === undefined || !search) return;
    cancelled = true;
    search.cancel(pid).catch(() => {}); // the statement then ends on its own timeout
  };
  stop.addEventListener('abort', onStop, { once: true });
  let broken: Error | undefined;
  try {
    if (!search) {
      await client.query("SELECT set_config('statement_timeout', $1, false)", [`${searchConfig().timeoutMs}ms`]);
    } else if (pid === undefined) {
      pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      backendPids.set(client, pid);
    }
    return await fn(
      new SessionRepository(new PostgresRepository(client, refuseWrites), origin, stop, (d) => (running += d)),
    );
  } finally {
    stop.removeEventListener('abort', onStop);
    // After a cancel the connection is closed, not reused: a cancel that arrives late must not stop another request's
    // statement on it.
    if (!search && !cancelled) await client.query('RESET statement_timeout').catch((err: Error) => (broken = err));
    client.release(cancelled || broken || undefined);
  }
}

/**
 * A session inside the caller's database transaction (a transaction Bundle's GET entry): the search timeout applies
 * to its statements (`set_config(…, true)`, put back after), and nothing runs once it is stopped; a statement
 * already running is not cancelled (that would abort the caller's transaction) and ends on its own timeout.
 */
async function inCallersTransaction<T>(
  origin: Repository,
  stop: AbortSignal,
  fn: (repo: Repository) => Promise<T>,
): Promise<T> {
  const { timeoutMs } = searchConfig();
  const { rows } = await origin.query<{ previous: string }>(
    "SELECT current_setting('statement_timeout') AS previous, set_config('statement_timeout', $1, true)",
    [`${timeoutMs}ms`],
  );
  try {
    return await fn(new SessionRepository(origin, origin, stop, () => {}));
  } finally {
    await origin.query("SELECT set_config('statement_timeout', $1, true)", [rows[0].previous]).catch(() => {});
  }
}

/** A connection from the pool, unless the session stops first (the connection is then handed back when it comes). */
async function connect(pool: pg.Pool, stop: AbortSignal): Promise<pg.PoolClient> {
  stop.throwIfAborted();
  const pending = pool.connect();
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(stop.reason);
    stop.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {});
  try {
    return await Promise.race([pending, aborted]);
  } catch (err) {
    if (stop.aborted)
      pending.then(
        (c) => c.release(),
        () => {},
      );
    throw err;
  } finally {
    stop.removeEventListener('abort', onAbort);
  }
}

function refuseWrites(): never {
  throw new Error('a search session does not write');
}

/**
 * The error a session ends with: for a statement cancelled or refused because the session stopped, or stopped by
 * Postgres's statement timeout, the OperationOutcome saying so; any other error as it is.
 */
function stoppedOutcome(err: unknown, stop: AbortSignal, timeoutMs: number): unknown {
  const cancelled = err instanceof SessionStopped || (err as { code?: string })?.code === '57014';
  if (!cancelled) return err;
  const why = stop.aborted && stop.reason instanceof SessionStopped ? stop.reason.why : 'timeout';
  if (why === 'gone')
    return new OutcomeError(
      499,
      outcome('error', 'incomplete', 'The client closed the connection; the search was cancelled'),
    );
  return new OutcomeError(
    503,
    outcome(
      'error',
      'timeout',
      `The search took longer than ${timeoutMs} ms (SEARCH_TIMEOUT_MS) and was stopped; narrow it with more selective criteria`,
    ),
  );
}
