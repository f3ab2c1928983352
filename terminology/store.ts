import type { ConceptMap, ValueSet } from '@medplum/fhirtypes';
import type pg from 'pg';
import type { CodeSystemHeader, FlatConcept } from './model.ts';

/** Concepts sent to Postgres per statement while loading a code system. */
const BATCH = 5000;

/**
 * Writes a code system into the terminology store, replacing any loaded before under the same url and version. Run
 * it inside the caller's transaction (`client` between BEGIN and COMMIT): a load that fails leaves the old content.
 */
export async function storeCodeSystem(
  client: pg.ClientBase,
  header: CodeSystemHeader,
  concepts: FlatConcept[],
  source: string,
  onProgress: (loaded: number) => void = () => {},
): Promise<number> {
  const version = header.version ?? '';
  await client.query('DELETE FROM terminology_code_system WHERE url = $1 AND version = $2', [header.url, version]);
  const { rows } = await client.query<{ id: number }>(
    `INSERT INTO terminology_code_system (url, version, source, resource, case_sensitive, concepts)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
    [header.url, version, source, JSON.stringify(header), header.caseSensitive !== false, concepts.length],
  );
  const id = rows[0].id;
  for (let i = 0; i < concepts.length; i += BATCH) {
    const batch = concepts.slice(i, i + BATCH).map((c) => ({
      ord: c.ord,
      code: c.code,
      display: c.display ?? null,
      inactive: c.inactive,
      abstract: c.abstract,
      parents: c.parents,
      ancestors: c.ancestors,
      props: Object.keys(c.props).length ? c.props : null,
      detail:
        c.definition || c.designations || c.properties?.length
          ? {
              definition: c.definition,
              designation: c.designations,
              property: c.properties?.length ? c.properties : undefined,
            }
          : null,
    }));
    await client.query(
      `INSERT INTO terminology_concept (system_id, ord, code, display, inactive, abstract, parents, ancestors, props, detail)
       SELECT $1, ord, code, display, inactive, abstract, parents, ancestors, props, detail
       FROM jsonb_to_recordset($2::jsonb) AS x(ord int, code text, display text, inactive boolean, abstract boolean,
         parents int[], ancestors int[], props jsonb, detail jsonb)`,
      [id, JSON.stringify(batch)],
    );
    onProgress(Math.min(i + BATCH, concepts.length));
  }
  return id;
}

/** Writes a ValueSet or ConceptMap into the terminology store (replacing the same url and version). */
export async function storeResource(
  client: pg.ClientBase,
  resource: ValueSet | ConceptMap,
  source: string,
): Promise<void> {
  await client.query(
    `INSERT INTO terminology_resource (resource_type, url, version, source, resource) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (resource_type, url, version) DO UPDATE SET source = excluded.source, resource = excluded.resource`,
    [resource.resourceType, resource.url, resource.version ?? '', source, JSON.stringify(resource)],
  );
}

/** Removes what one source loaded (a package being installed again, or removed). */
export async function removeSource(client: pg.ClientBase, source: string): Promise<void> {
  await client.query('DELETE FROM terminology_code_system WHERE source = $1', [source]);
  await client.query('DELETE FROM terminology_resource WHERE source = $1', [source]);
}
