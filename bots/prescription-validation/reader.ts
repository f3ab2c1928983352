import type { Bundle, Resource } from '@medplum/fhirtypes';
import { InProcessClient, type InProcessClientDeps } from '../../server/core/client.ts';
import { BotFhirError, type BotFhirClient } from '../types.ts';
import type { ClinicalReader } from './check.ts';

/** The matches of a searchset. */
function matches<T extends Resource>(bundle: Bundle<T>): T[] {
  return (bundle.entry ?? []).filter((e) => e.search?.mode !== 'include' && e.resource).map((e) => e.resource as T);
}

const absent = (status: number) => status === 404 || status === 410;

/** A reader over the bot's FHIR client (its `system/` scopes). */
export function botReader(fhir: BotFhirClient): ClinicalReader {
  return {
    async read<T extends Resource>(type: T['resourceType'], id: string) {
      try {
        return await fhir.read<T>(type, id);
      } catch (err) {
        if (err instanceof BotFhirError && absent(err.status)) return undefined;
        throw err;
      }
    },
    async search(type, query) {
      return matches(await fhir.search(type, query));
    },
  };
}

/**
 * A reader over the router with someone's access: the caller's for `$validate-prescription` (a confined token reads
 * only what it may), the server's within a write's transaction for the hard stop.
 */
export function routerReader(deps: Omit<InProcessClientDeps, 'identity'>): ClinicalReader {
  const client = new InProcessClient(deps);
  return {
    async read<T extends Resource>(type: T['resourceType'], id: string) {
      try {
        return await client.read<T>(type, id);
      } catch (err) {
        if (absent(InProcessClient.failure(err).status)) return undefined;
        throw err;
      }
    },
    async search(type, query) {
      return matches(await client.search(type, query));
    },
  };
}
