import type { SearchParameter } from '@medplum/fhirtypes';
import pg from 'pg';
import { registerRuntimeParam, runtimeParamUrls, unregisterRuntimeParam } from './registry.ts';

/** The channel on which writes of SearchParameter resources are announced (NOTIFY is delivered at commit only). */
const CHANNEL = 'tributary_search_parameters';
/** Re-read after a local write, in case its transaction rolled back (then no NOTIFY ever comes). */
const RECHECK_MS = 2000;

/** Which runtime SearchParameter a stored SearchParameter resource registered, by resource id. */
const urlById = new Map<string, string>();
let syncPool: pg.Pool | undefined;

/**
 * Called by the index writer inside the write's transaction: a written SearchParameter takes effect for this
 * process's next writes at once, and a NOTIFY (sent only if the transaction commits) tells every node to re-read them.
 */
export async function noteSearchParameterWrites(
  client: pg.ClientBase,
  writes: { resourceType: string; id: string; content: string | null }[],
): Promise<void> {
  const changed = writes.filter((w) => w.resourceType === 'SearchParameter');
  if (changed.length === 0) return;
  for (const w of changed) apply(w.id, w.content ? (JSON.parse(w.content) as SearchParameter) : undefined);
  await client.query(`SELECT pg_notify('${CHANNEL}', '')`);
  if (syncPool) setTimeout(() => void reload().catch(() => {}), RECHECK_MS).unref();
}

function apply(id: string, sp: SearchParameter | undefined): void {
  const previous = urlById.get(id);
  if (previous && previous !== sp?.url) unregisterRuntimeParam(previous);
  urlById.delete(id);
  if (!sp) return;
  if (registerRuntimeParam(sp) === undefined) urlById.set(id, sp.url as string);
}

/** Re-reads every stored SearchParameter and makes the registry match it. */
async function reload(): Promise<void> {
  if (!syncPool) return;
  const { rows } = await syncPool.query<{ id: string; content: string }>(
    `SELECT id, content FROM resource WHERE resource_type = 'SearchParameter' AND NOT deleted`,
  );
  const stored = new Set<string>();
  for (const row of rows) {
    apply(row.id, JSON.parse(row.content) as SearchParameter);
    stored.add(row.id);
  }
  for (const id of [...urlById.keys()]) if (!stored.has(id)) apply(id, undefined);
  const registered = new Set(urlById.values());
  for (const url of runtimeParamUrls()) if (!registered.has(url)) unregisterRuntimeParam(url);
}

/**
 * Loads the SearchParameters stored in the database and keeps them in step with writes made by other nodes
 * (LISTEN). Returns a function that stops listening.
 */
export async function startRuntimeParamSync(pool: pg.Pool, connectionString: string): Promise<() => Promise<void>> {
  syncPool = pool;
  await reload();
  const listener = new pg.Client({ connectionString });
  listener.on('error', () => {});
  listener.on('notification', () => void reload().catch(() => {}));
  await listener.connect();
  await listener.query(`LISTEN ${CHANNEL}`);
  return async () => {
    if (syncPool === pool) syncPool = undefined;
    await listener.end().catch(() => {});
  };
}
