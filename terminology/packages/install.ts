import type { CodeSystem, ConceptMap, Resource, StructureDefinition, ValueSet } from '@medplum/fhirtypes';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { flattenCodeSystem } from '../codesystem/flatten.ts';
import { removeSource, storeCodeSystem, storeResource } from '../store.ts';
import { packageFolder } from './fetch.ts';

/** What installing a package did. */
export interface InstallSummary {
  name: string;
  version: string;
  codeSystems: number;
  concepts: number;
  valueSets: number;
  conceptMaps: number;
  structureDefinitions: number;
  /** Where the StructureDefinitions were written (a Bundle the profiles folder serves). */
  profilesFile?: string;
}

/** Reports progress: files done of files in all. */
export type InstallProgress = (done: number, total: number) => void;

function readResource(path: string): Resource | undefined {
  try {
    const json = JSON.parse(readFileSync(path, 'utf8')) as Resource;
    return typeof json?.resourceType === 'string' ? json : undefined;
  } catch {
    return undefined; // not JSON, or not a resource (.index.json and the like)
  }
}

/**
 * Installs a FHIR package (`name@version` from the npm registry, a `.tgz`, or a folder): its CodeSystems (with their
 * concepts and is-a closure), ValueSets and ConceptMaps go into the terminology store, in one database transaction
 * that first removes what an earlier install of the same package loaded; its StructureDefinitions go into the
 * profiles folder as one Bundle (`<name>.json`), which validation reads at start-up.
 */
export async function installPackage(
  pool: pg.Pool,
  spec: string,
  profilesDir: string,
  onProgress: InstallProgress = () => {},
): Promise<InstallSummary> {
  const folder = await packageFolder(spec);
  const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { name: string; version: string };
  const source = `package:${manifest.name}`;
  const files = readdirSync(folder)
    .filter((f) => f.endsWith('.json') && f !== 'package.json' && !f.startsWith('.'))
    .sort();
  const summary: InstallSummary = {
    name: manifest.name,
    version: manifest.version,
    codeSystems: 0,
    concepts: 0,
    valueSets: 0,
    conceptMaps: 0,
    structureDefinitions: 0,
  };
  const profiles: StructureDefinition[] = [];
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await removeSource(client, source);
    for (const [i, file] of files.entries()) {
      const r = readResource(join(folder, file));
      if (r?.resourceType === 'CodeSystem' && (r as CodeSystem).url) {
        const { concept: _c, ...header } = r as CodeSystem;
        const concepts = flattenCodeSystem(r as CodeSystem);
        await storeCodeSystem(client, header, concepts, source);
        summary.codeSystems++;
        summary.concepts += concepts.length;
      } else if ((r?.resourceType === 'ValueSet' || r?.resourceType === 'ConceptMap') && (r as ValueSet).url) {
        await storeResource(client, r as ValueSet | ConceptMap, source);
        if (r.resourceType === 'ValueSet') summary.valueSets++;
        else summary.conceptMaps++;
      } else if (r?.resourceType === 'StructureDefinition' && (r as StructureDefinition).snapshot) {
        profiles.push(r as StructureDefinition);
      }
      onProgress(i + 1, files.length);
    }
    await client.query(
      `INSERT INTO terminology_package (name, version, summary) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET version = excluded.version, summary = excluded.summary, installed_at = now()`,
      [manifest.name, manifest.version, JSON.stringify(summary)],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
  if (profiles.length) {
    mkdirSync(profilesDir, { recursive: true });
    summary.profilesFile = join(profilesDir, `${manifest.name}.json`);
    summary.structureDefinitions = profiles.length;
    writeFileSync(
      summary.profilesFile,
      JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: profiles.map((resource) => ({ resource })) }),
    );
  }
  return summary;
}
