import { createBundleHandler } from './handlers/bundle.ts';
import { conditionalPatchHandler, patchHandler } from './handlers/patch.ts';
import { capabilitiesHandler } from './handlers/capabilities.ts';
import { createHandler } from './handlers/create.ts';
import { conditionalDeleteHandler, deleteHandler } from './handlers/delete.ts';
import { historyHandler } from './handlers/history.ts';
import { readHandler, vreadHandler } from './handlers/read.ts';
import { conditionalUpdateHandler, updateHandler } from './handlers/update.ts';
import { validateHandler } from './handlers/validate.ts';
import { FhirRouter } from '../core/router.ts';
import { searchCapabilities } from '../search/capabilities.ts';
import {
  compartmentAllHandler,
  compartmentSearchHandler,
  searchSystemHandler,
  searchTypeHandler,
} from '../search/handlers/search.ts';
import { everythingHandler } from '../search/handlers/everything.ts';

/** The FHIR REST API: every interaction this server supports, one handler each. */
export function createFhirRouter(): FhirRouter {
  const router = new FhirRouter();
  router.add('POST', '', 'transaction', createBundleHandler(router));
  router.add('GET', 'metadata', 'capabilities', capabilitiesHandler(router));
  router.capabilities
    .addResourceContributor((type, resource) => {
      const { searchParam, searchInclude, searchRevInclude } = searchCapabilities(type);
      Object.assign(resource, { searchParam, searchInclude }, searchRevInclude.length ? { searchRevInclude } : {});
    })
    .defineOperation('everything', 'http://hl7.org/fhir/OperationDefinition/Patient-everything');
  return router
    .add('GET', '_history', 'history-system', historyHandler)
    .add('POST', ':type', 'create', createHandler)
    .add('PUT', ':type', 'conditional-update', conditionalUpdateHandler)
    .add('DELETE', ':type', 'conditional-delete', conditionalDeleteHandler)
    .add('PATCH', ':type', 'conditional-patch', conditionalPatchHandler)
    .add('PATCH', ':type/:id', 'patch', patchHandler)
    .add('GET', ':type/_history', 'history-type', historyHandler)
    .add('GET', ':type/:id', 'read', readHandler)
    .add('PUT', ':type/:id', 'update', updateHandler)
    .add('DELETE', ':type/:id', 'delete', deleteHandler)
    .add('GET', ':type/:id/_history', 'history-instance', historyHandler)
    .add('GET', ':type/:id/_history/:vid', 'vread', vreadHandler)
    .add('GET', '', 'search-system', searchSystemHandler)
    .add('POST', '_search', 'search-system', searchSystemHandler)
    .add('GET', ':type', 'search-type', searchTypeHandler)
    .add('POST', ':type/_search', 'search-type', searchTypeHandler)
    .add('GET', ':compartment/:id/*', 'search-compartment', compartmentAllHandler)
    .add('GET', ':compartment/:id/:type', 'search-compartment', compartmentSearchHandler)
    .add('GET', 'Patient/:id/$everything', 'everything', everythingHandler)
    .add('POST', ':type/$validate', 'validate', validateHandler)
    .add('POST', ':type/:id/$validate', 'validate', validateHandler)
    .add('GET', ':type/:id/$validate', 'validate', validateHandler);
}
