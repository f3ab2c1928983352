import type { Bundle } from '@medplum/fhirtypes';
import { processBatch } from '../bundle/batch.ts';
import { requireBundleType } from '../bundle/entries.ts';
import { processTransaction } from '../bundle/transaction.ts';
import { requireResource } from '../../core/respond.ts';
import type { FhirRouter } from '../../core/router.ts';
import type { FhirHandler } from '../../core/types.ts';

/**
 * `POST [base]` with a batch or transaction Bundle. Its entries are dispatched through `router` — the same handlers
 * as single requests — so the router is given here rather than imported.
 */
export function createBundleHandler(router: FhirRouter): FhirHandler {
  return async (ctx, req) => {
    const bundle = requireResource(req, 'Bundle') as Bundle;
    const process = requireBundleType(bundle) === 'transaction' ? processTransaction : processBatch;
    const processed = await process(router, ctx, bundle, req.headers.preferReturn);
    return { status: 200, resource: processed.bundle, written: processed.written };
  };
}
