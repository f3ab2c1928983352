import type { CodeSystem, Coding, Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { badRequest, notFound } from '../../server/fhir/outcomes.ts';
import type { FhirContext, FhirRequest } from '../../server/core/types.ts';
import { subsumes, type CodeSystemHandle } from '../codesystem/handle.ts';
import { MemoryCodeSystem } from '../codesystem/memory.ts';
import type { FlatConcept } from '../model.ts';
import { delegate } from '../remote.ts';
import { resolveCodeSystem } from '../resolve.ts';
import { checkInSystem } from '../valueset/membership.ts';
import { OperationInput, parametersOf } from './params.ts';
import { validationResult } from './results.ts';

/** The code system of an instance-level call (`CodeSystem/[id]/$op`), or the one `system`/`url` names. */
async function systemFor(
  ctx: FhirContext,
  id: string | undefined,
  url: string | undefined,
  version: string | undefined,
): Promise<CodeSystemHandle | undefined> {
  if (id) {
    const row = await ctx.repo.read('CodeSystem', id);
    return new MemoryCodeSystem(JSON.parse(row.content as string) as CodeSystem);
  }
  if (!url) throw badRequest('Name the code system: system (or url), or call the operation on a CodeSystem instance');
  return resolveCodeSystem(ctx.repo, url, version);
}

/** The coding an operation is about: `coding`, or `code` with `system`. */
function codingOf(input: OperationInput, systemParam: string): Coding {
  const coding = input.coding('coding');
  if (coding) return coding;
  return { system: input.string(systemParam), code: input.string('code'), version: input.string('version') };
}

function propertyParts(concept: FlatConcept, related: { parents: FlatConcept[]; children: FlatConcept[] }) {
  const parts: ParametersParameter[] = [];
  const prop = (code: string, value: ParametersParameter) =>
    parts.push({ name: 'property', part: [{ name: 'code', valueCode: code }, value] });
  related.parents.forEach((p) => prop('parent', { name: 'value', valueCode: p.code }));
  related.children.forEach((c) => prop('child', { name: 'value', valueCode: c.code }));
  prop('inactive', { name: 'value', valueBoolean: concept.inactive });
  if (concept.definition) prop('definition', { name: 'value', valueString: concept.definition });
  for (const p of concept.properties ?? []) {
    const { code, ...value } = p;
    const [key, v] = Object.entries(value)[0] ?? [];
    if (code && key?.startsWith('value')) prop(code, { name: 'value', [key]: v } as ParametersParameter);
  }
  return parts;
}

/** `CodeSystem/$lookup`: name, version, display, designations and properties (parent, child, inactive, …) of a code. */
export async function lookup(ctx: FhirContext, req: FhirRequest, id?: string): Promise<Parameters> {
  const input = new OperationInput(req);
  const coding = codingOf(input, 'system');
  if (!coding.code) throw badRequest('$lookup needs a code (code and system, or coding)', 'code');
  const cs = await systemFor(ctx, id, coding.system, coding.version);
  if (!cs) {
    const remote = await delegate('CodeSystem/$lookup', req);
    if (remote) return remote as Parameters;
    throw notFound(`The code system ${coding.system} is not known to this server`, 'system');
  }
  const concept = await cs.find(ctx.repo, coding.code);
  if (!concept) throw notFound(`Unknown code "${coding.code}" in the code system ${cs.url}`, 'code');
  const wanted = new Set(input.strings('property'));
  const related = {
    parents: await cs.byOrds(ctx.repo, concept.parents),
    children: await cs.children(ctx.repo, concept.ord),
  };
  const properties = propertyParts(concept, related).filter(
    (p) => wanted.size === 0 || wanted.has(p.part?.[0].valueCode as string),
  );
  return parametersOf([
    { name: 'name', valueString: cs.header.name ?? cs.header.title ?? cs.url },
    cs.version ? { name: 'version', valueString: cs.version } : undefined,
    concept.display ? { name: 'display', valueString: concept.display } : undefined,
    ...(concept.designations ?? []).map((d): ParametersParameter => ({
      name: 'designation',
      part: [
        ...(d.language ? [{ name: 'language', valueCode: d.language }] : []),
        ...(d.use ? [{ name: 'use', valueCoding: d.use }] : []),
        { name: 'value', valueString: d.value },
      ],
    })),
    ...properties,
  ]);
}

/** `CodeSystem/$validate-code`: whether a code (and its display, when given) is in the code system. */
export async function validateCodeInSystem(ctx: FhirContext, req: FhirRequest, id?: string): Promise<Parameters> {
  const input = new OperationInput(req);
  const cc = input.codeableConcept('codeableConcept');
  const codings = cc?.coding?.length ? cc.coding : [codingOf(input, 'url')];
  const display = input.string('display');
  const cs = await systemFor(ctx, id, codings[0].system, codings[0].version);
  if (!cs) {
    const remote = await delegate('CodeSystem/$validate-code', req);
    if (remote) return remote as Parameters;
  }
  const checks = [];
  for (const c of codings) {
    checks.push(
      await checkInSystem(ctx.repo, { ...c, system: c.system ?? cs?.url, display: c.display ?? display }, cs),
    );
  }
  return validationResult(checks.find((c) => c.valid) ?? checks[0]);
}

/** `CodeSystem/$subsumes`: equivalent, subsumes, subsumed-by or not-subsumed, from the is-a closure. */
export async function subsumesOperation(ctx: FhirContext, req: FhirRequest, id?: string): Promise<Parameters> {
  const input = new OperationInput(req);
  const a = input.coding('codingA') ?? { code: input.string('codeA') };
  const b = input.coding('codingB') ?? { code: input.string('codeB') };
  if (!a.code || !b.code) throw badRequest('$subsumes needs codeA and codeB (or codingA and codingB)');
  const system = input.string('system') ?? a.system ?? b.system;
  if ((a.system && a.system !== system) || (b.system && b.system !== system))
    throw badRequest('$subsumes compares codes of one code system');
  const cs = await systemFor(ctx, id, system, input.string('version'));
  if (!cs) {
    const remote = await delegate('CodeSystem/$subsumes', req);
    if (remote) return remote as Parameters;
    throw notFound(`The code system ${system} is not known to this server`, 'system');
  }
  const [ca, cb] = [await cs.find(ctx.repo, a.code), await cs.find(ctx.repo, b.code)];
  if (!ca) throw badRequest(`Unknown code "${a.code}" in the code system ${cs.url}`, 'codeA');
  if (!cb) throw badRequest(`Unknown code "${b.code}" in the code system ${cs.url}`, 'codeB');
  const outcome =
    ca.ord === cb.ord
      ? 'equivalent'
      : subsumes(ca, cb)
        ? 'subsumes'
        : subsumes(cb, ca)
          ? 'subsumed-by'
          : 'not-subsumed';
  return parametersOf([{ name: 'outcome', valueCode: outcome }]);
}
