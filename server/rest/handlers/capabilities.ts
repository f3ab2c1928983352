import type {
  CapabilityStatement,
  CapabilityStatementRest,
  CapabilityStatementRestResource,
  CapabilityStatementRestResourceOperation,
} from '@medplum/fhirtypes';
import { loadDefinitions } from '../../fhir/definitions.ts';
import { SOFTWARE_VERSION } from '../../project.ts';
import type { FhirRouter, RouteInfo } from '../../core/router.ts';
import type { FhirHandler } from '../../core/types.ts';

type TypeInteraction = NonNullable<CapabilityStatementRestResource['interaction']>[number]['code'];
type SystemInteraction = NonNullable<CapabilityStatementRest['interaction']>[number]['code'];

/**
 * What each type-level route interaction means in a CapabilityStatement. Flags state what the handler behind the
 * route does: the create handler honours If-None-Exist, the update handler creates with the client's id and checks
 * If-Match, the read handler answers If-None-Match and If-Modified-Since.
 */
const TYPE_INTERACTIONS: Record<string, (r: CapabilityStatementRestResource) => void> = {
  read: (r) => {
    add(r, 'read');
    r.conditionalRead = 'full-support';
  },
  vread: (r) => {
    add(r, 'vread');
    r.readHistory = true;
  },
  update: (r) => {
    add(r, 'update');
    r.updateCreate = true;
    r.versioning = 'versioned-update';
  },
  patch: (r) => add(r, 'patch'),
  delete: (r) => add(r, 'delete'),
  create: (r) => {
    add(r, 'create');
    r.conditionalCreate = true;
  },
  'search-type': (r) => add(r, 'search-type'),
  'history-instance': (r) => add(r, 'history-instance'),
  'history-type': (r) => add(r, 'history-type'),
  'conditional-update': (r) => {
    r.conditionalUpdate = true;
  },
  'conditional-delete': (r) => {
    r.conditionalDelete = 'single';
  },
};

const SYSTEM_INTERACTIONS = new Set<string>(['transaction', 'batch', 'search-system', 'history-system']);

/** OperationDefinitions of the spec's own operations, for `$name` routes nobody registered a definition for. */
const SPEC_OPERATIONS: Record<string, string> = {
  validate: 'http://hl7.org/fhir/OperationDefinition/Resource-validate',
  meta: 'http://hl7.org/fhir/OperationDefinition/Resource-meta',
  'meta-add': 'http://hl7.org/fhir/OperationDefinition/Resource-meta-add',
  'meta-delete': 'http://hl7.org/fhir/OperationDefinition/Resource-meta-delete',
  everything: 'http://hl7.org/fhir/OperationDefinition/Patient-everything',
  expand: 'http://hl7.org/fhir/OperationDefinition/ValueSet-expand',
  lookup: 'http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup',
  'validate-code': 'http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code',
  translate: 'http://hl7.org/fhir/OperationDefinition/ConceptMap-translate',
  export: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export',
};

const STARTED = new Date().toISOString();

function add(r: CapabilityStatementRestResource, code: TypeInteraction): void {
  if (!r.interaction?.some((i) => i.code === code)) (r.interaction ??= []).push({ code });
}

/** `GET /metadata`: the CapabilityStatement of this server, generated from the router's routes and the registry. */
export function capabilitiesHandler(router: FhirRouter): FhirHandler {
  return async (ctx) => ({ status: 200, resource: capabilityStatement(router, ctx.baseUrl) });
}

/** Builds the CapabilityStatement: what the routes do for every resource type and the system, plus contributions. */
export function capabilityStatement(router: FhirRouter, baseUrl: string): CapabilityStatement {
  const routes = router.listRoutes();
  const types = loadDefinitions().resourceTypes;
  const typeSet = new Set(types);
  const firstSegment = (r: RouteInfo) => r.pattern.split('/')[0];
  const anyType = routes.filter((r) => firstSegment(r) === ':type');
  const systemRoutes = routes.filter((r) => firstSegment(r) !== ':type' && !typeSet.has(firstSegment(r)));
  const rest: CapabilityStatementRest = { mode: 'server' };
  const entries = types.flatMap((type) => {
    const typeRoutes = [...anyType, ...routes.filter((r) => firstSegment(r) === type)];
    if (typeRoutes.length === 0) return [];
    const resource: CapabilityStatementRestResource = {
      type: type as CapabilityStatementRestResource['type'],
      profile: `http://hl7.org/fhir/StructureDefinition/${type}`,
    };
    for (const route of typeRoutes) TYPE_INTERACTIONS[route.interaction]?.(resource);
    resource.versioning ??= 'versioned';
    const operations = operationsOf(router, typeRoutes);
    if (operations.length > 0) resource.operation = operations;
    router.capabilities.contributeResource(type, resource);
    return [resource];
  });
  if (entries.length > 0) rest.resource = entries;
  const system = [...new Set(systemRoutes.map((r) => r.interaction).filter((i) => SYSTEM_INTERACTIONS.has(i)))];
  if (system.length > 0) rest.interaction = system.map((code) => ({ code: code as SystemInteraction }));
  const systemOperations = operationsOf(router, systemRoutes);
  if (systemOperations.length > 0) rest.operation = systemOperations;
  const statement: CapabilityStatement = {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: STARTED,
    publisher: 'Tributary',
    kind: 'instance',
    software: { name: 'Tributary', version: SOFTWARE_VERSION },
    implementation: { description: 'Tributary FHIR R4 server', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json', 'application/fhir+xml', 'xml'],
    rest: [rest],
  };
  if (routes.some((r) => r.method === 'PATCH')) {
    statement.patchFormat = ['application/json-patch+json', 'application/fhir+json', 'application/fhir+xml'];
  }
  router.capabilities.contributeStatement(statement);
  return statement;
}

/** Operations routed as a `$name` segment, with their OperationDefinition. */
function operationsOf(router: FhirRouter, routes: RouteInfo[]): CapabilityStatementRestResourceOperation[] {
  const names = new Set<string>();
  for (const route of routes) {
    const op = route.pattern.split('/').find((part) => part.startsWith('$'));
    if (op) names.add(op.slice(1));
  }
  return [...names].flatMap((name) => {
    const definition = router.capabilities.operationDefinition(name) ?? SPEC_OPERATIONS[name];
    return definition ? [{ name, definition }] : [];
  });
}
