import type { Bundle, BundleEntry } from '@medplum/fhirtypes';
import type { FhirRouter } from '../../core/router.ts';
import type { FhirContext, FhirRequestHeaders, WrittenVersion } from '../../core/types.ts';
import {
  entryWork,
  errorEntry,
  inProcessingOrder,
  responseEntry,
  type EntryWork,
  type ProcessedBundle,
} from './entries.ts';

/**
 * Processes a batch Bundle: every entry on its own, through the same router as single requests and in the
 * spec's order (DELETE, POST, PUT/PATCH, GET); each write is its own database transaction. A failing entry
 * becomes a response entry with its status and OperationOutcome; the batch itself answers 200.
 */
export async function processBatch(
  router: FhirRouter,
  ctx: FhirContext,
  bundle: Bundle,
  prefer: FhirRequestHeaders['preferReturn'],
): Promise<ProcessedBundle> {
  const requests = bundle.entry ?? [];
  const entries: BundleEntry[] = new Array(requests.length);
  const works: EntryWork[] = [];
  requests.forEach((entry, i) => {
    try {
      works.push(entryWork(ctx, entry, i));
    } catch (err) {
      entries[i] = errorEntry(err);
    }
  });
  const written: WrittenVersion[] = [];
  for await (const work of inProcessingOrder(works)) {
    try {
      const res = await router.handle(ctx, work.request);
      written.push(...(res.written ?? []));
      entries[work.index] = responseEntry(ctx, work, res, prefer);
    } catch (err) {
      entries[work.index] = errorEntry(err);
    }
  }
  return { bundle: { resourceType: 'Bundle', type: 'batch-response', entry: entries }, written };
}
