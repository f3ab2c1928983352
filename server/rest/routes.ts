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
  router.add('POST', '', 'transaction', createBundleHandler(router), 'interaction');
  router.add('GET', 'metadata', 'capabilities', capabilitiesHandler(router), 'public');
  router.capabilities
    .addResourceContributor((type, resource) => {
      const { searchParam, searchInclude, searchRevInclude } = searchCapabilities(type);
      Object.assign(resource, { searchParam, searchInclude }, searchRevInclude.length ? { searchRevInclude } : {});
    })
    .defineOperation('everything', 'http://hl7.org/fhir/OperationDefinition/Patient-everything');
  return router
    .add('GET', '_history', 'history-system', historyHandler, 'interaction')
    .add('POST', ':type', 'create', createHandler, 'interaction')
    .add('PUT', ':type', 'conditional-update', conditionalUpdateHandler, 'interaction')
    .add('DELETE', ':type', 'conditional-delete', conditionalDeleteHandler, 'interaction')
    .add('PATCH', ':type', 'conditional-patch', conditionalPatchHandler, 'interaction')
    .add('PATCH', ':type/:id', 'patch', patchHandler, 'interaction')
    .add('GET', ':type/_history', 'history-type', historyHandler, 'interaction')
    .add('GET', ':type/:id', 'read', readHandler, 'interaction')
    .add('PUT', ':type/:id', 'update', updateHandler, 'interaction')
    .add('DELETE', ':type/:id', 'delete', deleteHandler, 'interaction')
    .add('GET', ':type/:id/_history', 'history-instance', historyHandler, 'interaction')
    .add('GET', ':type/:id/_history/:vid', 'vread', vreadHandler, 'interaction')
    .add('GET', '', 'search-system', searchSystemHandler, 'interaction')
    .add('POST', '_search', 'search-system', searchSystemHandler, 'interaction')
    .add('GET', ':type', 'search-type', searchTypeHandler, 'interaction')
    .add('POST', ':type/_search', 'search-type', searchTypeHandler, 'interaction')
    .add('GET', ':compartment/:id/*', 'search-compartment', compartmentAllHandler, 'interaction')
    .add('GET', ':compartment/:id/:type', 'search-compartment', compartmentSearchHandler, 'interaction')
    .add('GET', 'Patient/:id/$everything', 'everything', everythingHandler, 'read')
    .add('POST', ':type/$validate', 'validate', validateHandler, 'interaction')
    .add('POST', ':type/:id/$validate', 'validate', validateHandler, 'interaction')
    .add('GET', ':type/:id/$validate', 'validate', validateHandler, 'interaction');
}
