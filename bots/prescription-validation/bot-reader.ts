import type { OperationOutcome, Resource } from '@medplum/fhirtypes';
import { BotFhirError, type BotFhirClient } from '../types.ts';
import type { ClinicalReader } from './check.ts';
import { absent, matches, profileErrorsOf } from './read-common.ts';

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
    // the bot's thread does not load the validator: it asks the server's $validate
    async profileErrors(resource, profile) {
      const url = `${resource.resourceType}/$validate?profile=${encodeURIComponent(profile)}`;
      try {
        const res = await fhir.request<OperationOutcome>('POST', url, resource);
        return profileErrorsOf(res.resource?.issue);
      } catch (err) {
        if (err instanceof BotFhirError && err.status === 400 && /profile/i.test(err.message)) return undefined;
        if (err instanceof BotFhirError && err.status < 500) return profileErrorsOf(err.outcome?.issue);
        throw err;
      }
    },
  };
}
