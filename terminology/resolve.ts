import type { CodeSystem, ConceptMap, ValueSet } from '@medplum/fhirtypes';
import type { CodeSystemHandle } from './codesystem/handle.ts';
import { MemoryCodeSystem } from './codesystem/memory.ts';
import { StoredCodeSystem } from './codesystem/stored.ts';
import type { CodeSystemHeader, Queryable } from './model.ts';
import { specResource } from './spec.ts';
import { runSql } from './sql.ts';

/**
 * Finds the CodeSystems, ValueSets and ConceptMaps a canonical URL names, in this order: resources written through
 * the FHIR API (the operator's own word), then the terminology store (packages, licensed releases, streamed loads),
 * then the R4 specification. A `url|version` canonical, or a version argument, must match; without one the newest
 * wins. CodeSystems that hold no concepts (`content` not-present) are not held: they are unknown to this server.
 */

/** Parsed CodeSystem resources of the API, by `id|versionId|lastUpdated` (a new version is a new key). */
const apiSystems = new Map<string, MemoryCodeSystem>();
const specSystems = new Map<string, MemoryCodeSystem | null>();
const API_CACHE_SIZE = 64;

interface ApiRow extends Record<string, unknown> {
  id: string;
  version_id: string;
  last_updated: string;
  content: string;
}

/** Splits `url|version` and applies an explicit version. */
export function splitCanonical(canonical: string, version?: string): [string, string | undefined] {
  const [url, v] = canonical.split('|');
  return [url, version || v || undefined];
}

/** Current API resources of a type with this url (the search index's `url` rows). */
async function apiResources(db: Queryable, type: string, url: string): Promise<ApiRow[]> {
  return runSql<ApiRow>(
    db,
    `SELECT r.id, r.version_id::text, r.last_updated::text, r.content FROM sp_uri u JOIN resource r ON r.rid = u.rid
      WHERE u.resource_type = $1 AND u.code = 'url' AND u.value = $2 AND NOT r.deleted
      ORDER BY r.last_updated DESC LIMIT 20`,
    [type, url],
  );
}

function pickVersion<T extends { version?: string }>(candidates: T[], version: string | undefined): T | undefined {
  return version ? candidates.find((c) => c.version === version) : candidates[0];
}

function holdsConcepts(cs: CodeSystem): boolean {
  return cs.content !== 'not-present' || (cs.concept?.length ?? 0) > 0;
}

/**
 * The code system a canonical URL names, or undefined when this server holds none. A version this server does not
 * hold falls back to the newest one it holds (as tx.fhir.org does: ValueSets often pin an older THO version).
 */
export async function resolveCodeSystem(
  db: Queryable,
  canonical: string,
  version?: string,
): Promise<CodeSystemHandle | undefined> {
  const [url, v] = splitCanonical(canonical, version);
  return (await resolveVersion(db, url, v)) ?? (v ? resolveVersion(db, url, undefined) : undefined);
}

async function resolveVersion(
  db: Queryable,
  url: string,
  v: string | undefined,
): Promise<CodeSystemHandle | undefined> {
  const rows = await apiResources(db, 'CodeSystem', url);
  const parsed = rows.map((r) => ({ row: r, cs: JSON.parse(r.content) as CodeSystem }));
  const api = pickVersion(
    parsed.filter((p) => holdsConcepts(p.cs)).map((p) => ({ ...p, version: p.cs.version })),
    v,
  );
  if (api) return apiSystem(api.row, api.cs);
  const stored = await runSql<{ id: number; resource: CodeSystemHeader; case_sensitive: boolean }>(
    db,
    `SELECT id, resource, case_sensitive FROM terminology_code_system WHERE url = $1 ${v ? 'AND version = $2' : ''}
      ORDER BY loaded_at DESC LIMIT 1`,
    v ? [url, v] : [url],
  );
  if (stored[0]) return new StoredCodeSystem(stored[0].id, stored[0].resource, stored[0].case_sensitive);
  const spec = specSystem(url);
  if (spec && (!v || spec.version === v)) return spec;
  return undefined;
}

function apiSystem(row: ApiRow, cs: CodeSystem): MemoryCodeSystem {
  const key = `${row.id}|${row.version_id}|${row.last_updated}`;
  let system = apiSystems.get(key);
  if (!system) {
    system = new MemoryCodeSystem(cs);
    if (apiSystems.size >= API_CACHE_SIZE) apiSystems.delete(apiSystems.keys().next().value as string);
    apiSystems.set(key, system);
  }
  return system;
}

function specSystem(url: string): MemoryCodeSystem | undefined {
  let system = specSystems.get(url);
  if (system === undefined) {
    const cs = specResource<CodeSystem>('CodeSystem', url);
    system = cs && holdsConcepts(cs) ? new MemoryCodeSystem(cs) : null;
    specSystems.set(url, system);
  }
  return system ?? undefined;
}

/** A ValueSet or ConceptMap by canonical URL: the API's, the store's (packages), then the specification's. */
export async function resolveResource<T extends ValueSet | ConceptMap>(
  db: Queryable,
  type: T['resourceType'],
  canonical: string,
  version?: string,
): Promise<T | undefined> {
  const [url, v] = splitCanonical(canonical, version);
  const api = pickVersion(
    (await apiResources(db, type, url)).map((r) => JSON.parse(r.content) as T),
    v,
  );
  if (api) return api;
  const stored = await runSql<{ resource: T }>(
    db,
    `SELECT resource FROM terminology_resource WHERE resource_type = $1 AND url = $2 ${v ? 'AND version = $3' : ''}
      LIMIT 1`,
    v ? [type, url, v] : [type, url],
  );
  if (stored[0]) return stored[0].resource;
  const spec = specResource<T>(type, url);
  return spec && (!v || spec.version === v) ? spec : undefined;
}
