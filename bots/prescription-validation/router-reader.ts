import type { Resource } from '@medplum/fhirtypes';
import { InProcessClient, type InProcessClientDeps } from '../../server/core/client.ts';
import { resolveProfile } from '../../server/validation/profiles.ts';
import { validate } from '../../server/validation/validator.ts';
import type { ClinicalReader } from './check.ts';
import { absent, matches, profileErrorsOf } from './read-common.ts';

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
    async profileErrors(resource, profile) {
      const resolved = await resolveProfile(deps.repo, profile).catch(() => undefined);
      if (resolved?.kind !== 'profile') return undefined;
      return profileErrorsOf(validate(resource, resolved.definition));
    },
  };
}
