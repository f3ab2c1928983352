import type { Coding, Parameters, ValueSet } from '@medplum/fhirtypes';
import { badRequest, notFound } from '../../server/fhir/outcomes.ts';
import type { FhirContext, FhirRequest } from '../../server/core/types.ts';
import { delegate } from '../remote.ts';
import { resolveResource } from '../resolve.ts';
import { compileValueSet } from '../valueset/compose.ts';
import { expandValueSet, MAX_EXPANSION } from '../valueset/expand.ts';
import { checkInValueSet, type CodingCheck } from '../valueset/membership.ts';
import { OperationInput } from './params.ts';
import { validationResult } from './results.ts';

/** The ValueSet of the call: the instance, a `valueSet` parameter, or the one `url` names (undefined: not held). */
async function valueSetFor(ctx: FhirContext, input: OperationInput, id?: string): Promise<ValueSet | undefined> {
  if (id) return JSON.parse((await ctx.repo.read('ValueSet', id)).content as string) as ValueSet;
  const inline = input.resource<ValueSet>('valueSet', 'ValueSet');
  if (inline) return inline;
  const url = input.string('url') ?? input.string('context');
  if (!url)
    throw badRequest('Name the ValueSet: url, a valueSet parameter, or call the operation on an instance', 'url');
  return resolveResource<ValueSet>(ctx.repo, 'ValueSet', url, input.string('valueSetVersion'));
}

/** `ValueSet/$expand` (filter, count, offset, activeOnly, includeDesignations, displayLanguage). */
export async function expand(ctx: FhirContext, req: FhirRequest, id?: string): Promise<ValueSet> {
  const input = new OperationInput(req);
  const vs = await valueSetFor(ctx, input, id);
  if (!vs) {
    const remote = await delegate('ValueSet/$expand', req);
    if (remote) return remote as ValueSet;
    throw notFound(`The ValueSet ${input.string('url')} is not known to this server`, 'url');
  }
  return expandValueSet(ctx.repo, vs, {
    filter: input.string('filter'),
    offset: input.integer('offset', 1_000_000_000),
    count: input.integer('count', MAX_EXPANSION),
    activeOnly: input.boolean('activeOnly'),
    includeDesignations: input.boolean('includeDesignations'),
    displayLanguage: input.string('displayLanguage'),
  });
}

/** `ValueSet/$validate-code`: whether a code, Coding or CodeableConcept (any of its codings) is in the ValueSet. */
export async function validateCodeInValueSet(ctx: FhirContext, req: FhirRequest, id?: string): Promise<Parameters> {
  const input = new OperationInput(req);
  const cc = input.codeableConcept('codeableConcept');
  const single = input.coding('coding') ?? {
    system: input.string('system'),
    code: input.string('code'),
    version: input.string('systemVersion') ?? input.string('version'),
    display: input.string('display'),
  };
  const codings: Coding[] = cc?.coding?.length ? cc.coding : [single];
  if (!codings.some((c) => c.code)) throw badRequest('$validate-code needs a code, coding or codeableConcept', 'code');
  const vs = await valueSetFor(ctx, input, id);
  if (!vs) {
    const remote = await delegate('ValueSet/$validate-code', req);
    if (remote) return remote as Parameters;
    throw notFound(`The ValueSet ${input.string('url')} is not known to this server`, 'url');
  }
  const compiled = await compileValueSet(ctx.repo, vs);
  const options = { activeOnly: input.boolean('activeOnly'), abstractAllowed: input.boolean('abstract') };
  const checks: CodingCheck[] = [];
  for (const c of codings) checks.push(await checkInValueSet(ctx.repo, compiled, c, options));
  const best = checks.find((c) => c.valid) ?? checks.find((c) => c.unknownSystem) ?? checks[0];
  if (!best.valid && best.unknownSystem) {
    const remote = await delegate('ValueSet/$validate-code', req);
    if (remote) return remote as Parameters;
  }
  return validationResult(best);
}
