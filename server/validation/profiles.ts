import type { StructureDefinition } from '@medplum/fhirtypes';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadDefinitions } from '../fhir/definitions.ts';
import { badRequest } from '../fhir/outcomes.ts';
import { PROJECT_ROOT } from '../project.ts';
import { findMatchingIds } from '../search/conditional.ts';
import type { Repository } from '../core/repository.ts';

/** The canonical URL prefix of the R4 base definitions. */
const BASE_PREFIX = 'http://hl7.org/fhir/StructureDefinition/';

/** A profile to validate against: a base definition (the write check covers it) or a constraining StructureDefinition. */
export type ResolvedProfile = { kind: 'base'; type: string } | { kind: 'profile'; definition: StructureDefinition };

let folderProfiles: Map<string, StructureDefinition> | undefined;

/** The folder of deployment profiles: `PROFILES_DIR`, default `profiles/` at the project root. */
export function profilesDirectory(): string {
  return process.env.PROFILES_DIR || resolve(PROJECT_ROOT, 'profiles');
}

/** StructureDefinitions in the profiles folder (`*.json`, one resource each or a Bundle of them), by canonical URL. */
function loadFolderProfiles(): Map<string, StructureDefinition> {
  if (folderProfiles) return folderProfiles;
  const found = new Map<string, StructureDefinition>();
  const dir = profilesDirectory();
  if (existsSync(dir)) {
    for (const file of readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()) {
      const json = JSON.parse(readFileSync(resolve(dir, file), 'utf8'));
      const resources =
        json.resourceType === 'Bundle' ? (json.entry ?? []).map((e: { resource?: unknown }) => e.resource) : [json];
      for (const sd of resources as StructureDefinition[]) {
        if (sd?.resourceType === 'StructureDefinition' && sd.url) found.set(sd.url, sd);
      }
    }
  }
  folderProfiles = found;
  return found;
}

/**
 * Finds the StructureDefinition a canonical URL (`url` or `url|version`) names: the R4 base definitions, then the
 * profiles folder, then StructureDefinition resources stored on this server. 400 when none is known or it has no
 * snapshot to validate with.
 */
export async function resolveProfile(repo: Repository, canonical: string): Promise<ResolvedProfile> {
  const [url, version] = canonical.split('|');
  if (url.startsWith(BASE_PREFIX)) {
    const type = url.slice(BASE_PREFIX.length);
    if (loadDefinitions().resourceTypeSet.has(type)) return { kind: 'base', type };
  }
  let definition = loadFolderProfiles().get(url);
  if (!definition) {
    for (const id of await findMatchingIds(repo, 'StructureDefinition', { url: [url] }, 20)) {
      const row = await repo.read('StructureDefinition', id);
      const stored = JSON.parse(row.content as string) as StructureDefinition;
      if (!version || stored.version === version) definition = stored;
    }
  }
  if (!definition || (version && definition.version !== version))
    throw badRequest(`Unknown profile "${canonical}"`, 'profile');
  if (!definition.snapshot?.element?.length) {
    throw badRequest(
      `Profile "${canonical}" has no snapshot; only snapshot profiles can be validated against`,
      'profile',
    );
  }
  return { kind: 'profile', definition };
}
