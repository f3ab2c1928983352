import { capabilitiesHandler } from './handlers/capabilities.ts';
import { createHandler } from './handlers/create.ts';
import { conditionalDeleteHandler, deleteHandler } from './handlers/delete.ts';
import { historyHandler } from './handlers/history.ts';
import { readHandler, vreadHandler } from './handlers/read.ts';
import { conditionalUpdateHandler, updateHandler } from './handlers/update.ts';
import { validateHandler } from './handlers/validate.ts';
import { FhirRouter } from './router.ts';

/** The FHIR REST API: every interaction this server supports, one handler each. */
export function createFhirRouter(): FhirRouter {
  const router = new FhirRouter();
  router.add('GET', 'metadata', 'capabilities', capabilitiesHandler(router));
  return router
    .add('GET', '_history', 'history-system', historyHandler)
    .add('POST', ':type', 'create', createHandler)
    .add('PUT', ':type', 'conditional-update', conditionalUpdateHandler)
    .add('DELETE', ':type', 'conditional-delete', conditionalDeleteHandler)
    .add('GET', ':type/_history', 'history-type', historyHandler)
    .add('GET', ':type/:id', 'read', readHandler)
    .add('PUT', ':type/:id', 'update', updateHandler)
    .add('DELETE', ':type/:id', 'delete', deleteHandler)
    .add('GET', ':type/:id/_history', 'history-instance', historyHandler)
    .add('GET', ':type/:id/_history/:vid', 'vread', vreadHandler)
    .add('POST', ':type/$validate', 'validate', validateHandler)
    .add('POST', ':type/:id/$validate', 'validate', validateHandler)
    .add('GET', ':type/:id/$validate', 'validate', validateHandler);
}
