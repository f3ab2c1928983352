import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';

/** Adds to the statement of one resource type, e.g. `searchParam`, `searchInclude`, `searchRevInclude`, `operation`. */
export type ResourceCapabilityContributor = (resourceType: string, resource: CapabilityStatementRestResource) => void;

/** Adds to the whole statement, e.g. `rest[0].security`, system-level `operation`s. */
export type StatementContributor = (statement: CapabilityStatement) => void;

/**
 * The parts of the CapabilityStatement that routes alone cannot tell. GET /metadata starts from the router's routes
 * (interactions, versioning, conditional flags, operations), then lets each contributor add what its module really
 * provides, so /metadata never advertises what is not there:
 * - search: `router.capabilities.addResourceContributor((type, r) => { r.searchParam = …; r.searchInclude = …; })`;
 * - auth: `router.capabilities.addStatementContributor((cs) => { cs.rest![0].security = … })`;
 * - a module with its own operation: `router.capabilities.defineOperation('everything', 'http://hl7.org/fhir/OperationDefinition/Patient-everything')`.
 */
export class CapabilityRegistry {
  private readonly resourceContributors: ResourceCapabilityContributor[] = [];
  private readonly statementContributors: StatementContributor[] = [];
  private readonly operationDefinitions = new Map<string, string>();

  /** Adds a contributor called for every resource type's entry. */
  addResourceContributor(contributor: ResourceCapabilityContributor): this {
    this.resourceContributors.push(contributor);
    return this;
  }

  /** Adds a contributor called once for the whole statement, after the resource entries are built. */
  addStatementContributor(contributor: StatementContributor): this {
    this.statementContributors.push(contributor);
    return this;
  }

  /** Names the OperationDefinition (canonical URL) of an operation routed as `$name`. */
  defineOperation(name: string, definition: string): this {
    this.operationDefinitions.set(name, definition);
    return this;
  }

  /** The OperationDefinition registered for an operation name, if any. */
  operationDefinition(name: string): string | undefined {
    return this.operationDefinitions.get(name);
  }

  /** Runs the resource contributors on one resource type's entry. */
  contributeResource(resourceType: string, resource: CapabilityStatementRestResource): void {
    for (const contribute of this.resourceContributors) contribute(resourceType, resource);
  }

  /** Runs the statement contributors. */
  contributeStatement(statement: CapabilityStatement): void {
    for (const contribute of this.statementContributors) contribute(statement);
  }
}
