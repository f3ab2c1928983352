import type {
  OperationOutcome,
  OperationOutcomeIssue,
  Parameters,
  Resource,
  StructureDefinition,
} from '@medplum/fhirtypes';
import { badRequest, OutcomeError } from '../../fhir/outcomes.ts';
import { resolveProfile } from '../../validation/profiles.ts';
import { validate } from '../../validation/validator.ts';
import { requireResourceType, requireValidId } from '../../core/router.ts';
import type { FhirContext, FhirHandler, FhirRequest } from '../../core/types.ts';

const MODES = new Set(['create', 'update', 'delete', 'profile']);

/** What a $validate call asks for, from the body (a resource, or Parameters) and the query. */
interface ValidateInput {
  resource?: Resource;
  mode?: string;
  profile?: string;
}

/**
 * `[type]/$validate` and `[type]/[id]/$validate` (POST, or GET to validate the stored resource): validates without
 * storing, with `mode` (create, update, delete, profile) and `profile` (a canonical URL: base definition, profiles
 * folder, or stored StructureDefinition). Answers 200 with an OperationOutcome holding the findings, errors included
 * (FHIR R4 OperationDefinition Resource-validate); 400 only when the request itself cannot be understood.
 */
export const validateHandler: FhirHandler = async (ctx, req, { type, id }) => {
  requireResourceType(type);
  if (id) requireValidId(id);
  const input = readInput(req, type);
  if (input.mode !== undefined && !MODES.has(input.mode)) {
    throw badRequest(`Unknown mode "${input.mode}" (create, update, delete or profile)`, 'mode');
  }
  if (input.mode === 'delete') return respond(await deleteIssues(ctx, type, id));
  const resource = input.resource ?? (req.method === 'GET' && id ? await storedResource(ctx, type, id) : undefined);
  if (!resource)
    throw badRequest('Nothing to validate: send the resource, or a Parameters resource with a "resource" parameter');
  const issues = modeIssues(resource, type, id, input.mode);
  let profile: StructureDefinition | undefined;
  if (input.profile) {
    const resolved = await resolveProfile(ctx.repo, input.profile);
    const profileType = resolved.kind === 'base' ? resolved.type : resolved.definition.type;
    if (profileType !== resource.resourceType) {
      issues.push(
        issue(
          'error',
          'invalid',
          `Profile ${input.profile} constrains ${profileType}, not ${resource.resourceType}`,
          'profile',
        ),
      );
    } else if (resolved.kind === 'profile') {
      profile = resolved.definition;
    }
  }
  if (resource.resourceType === type) issues.push(...validate(resource, profile));
  return respond(issues);
};

function readInput(req: FhirRequest, type: string): ValidateInput {
  const input: ValidateInput = { mode: req.query.mode?.[0], profile: req.query.profile?.[0] };
  const body = req.body as Resource | undefined;
  if (body === undefined) return input;
  if (typeof body !== 'object' || body === null || Array.isArray(body) || typeof body.resourceType !== 'string') {
    throw badRequest('The body of $validate must be a resource or a Parameters resource');
  }
  const params = body.resourceType === 'Parameters' ? ((body as Parameters).parameter ?? []) : [];
  const wrapped = params.find((p) => p.name === 'resource')?.resource;
  // A Parameters body wraps the input, unless a Parameters resource is what is being validated.
  const isWrapper = body.resourceType === 'Parameters' && (type !== 'Parameters' || wrapped !== undefined);
  if (!isWrapper) return { ...input, resource: body };
  const value = (name: string) => {
    const p = params.find((x) => x.name === name);
    return p?.valueCode ?? p?.valueUri ?? p?.valueCanonical ?? p?.valueString;
  };
  return { resource: wrapped, mode: value('mode') ?? input.mode, profile: value('profile') ?? input.profile };
}

/** What the mode itself requires: update needs the id (matching the URL's), create and profile need nothing more. */
function modeIssues(
  resource: Resource,
  type: string,
  id: string | undefined,
  mode: string | undefined,
): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  if (resource.resourceType !== type) {
    issues.push(
      issue(
        'error',
        'invalid',
        `The resource type "${resource.resourceType}" does not match the URL's type "${type}"`,
        'resourceType',
      ),
    );
  }
  if (mode === 'update' && !resource.id)
    issues.push(issue('error', 'required', 'An update needs the resource id', `${type}.id`));
  if (id && resource.id !== undefined && resource.id !== id) {
    issues.push(
      issue('error', 'invalid', `The resource id "${resource.id}" does not match the URL's id "${id}"`, `${type}.id`),
    );
  }
  return issues;
}

/**
 * mode=delete: whether the resource can be deleted (this server has no referential delete rules). An unknown id
 * answers 404, as the DELETE would, and as an id the caller may not see does (server/auth/enforce.ts).
 */
async function deleteIssues(ctx: FhirContext, type: string, id: string | undefined): Promise<OperationOutcomeIssue[]> {
  if (!id)
    throw badRequest('mode=delete validates the deletion of an existing resource: use [type]/[id]/$validate', 'mode');
  try {
    await ctx.repo.read(type, id);
    return [issue('information', 'informational', `${type}/${id} can be deleted`)];
  } catch (err) {
    if (err instanceof OutcomeError && err.status !== 404) return err.outcome.issue ?? [];
    throw err;
  }
}

async function storedResource(ctx: FhirContext, type: string, id: string): Promise<Resource> {
  const row = await ctx.repo.read(type, id);
  return JSON.parse(row.content as string) as Resource;
}

function issue(
  severity: OperationOutcomeIssue['severity'],
  code: OperationOutcomeIssue['code'],
  diagnostics: string,
  expression?: string,
): OperationOutcomeIssue {
  return { severity, code, diagnostics, ...(expression ? { expression: [expression] } : {}) };
}

function respond(issues: OperationOutcomeIssue[]) {
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue:
      issues.length > 0 ? issues : [issue('information', 'informational', 'Validation successful: no issues found')],
  };
  return { status: 200, resource: outcome };
}
