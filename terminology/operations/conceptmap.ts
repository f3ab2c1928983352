import type { Coding, ConceptMap, Parameters } from '@medplum/fhirtypes';
import { badRequest, notFound } from '../../server/fhir/outcomes.ts';
import type { FhirContext, FhirRequest } from '../../server/core/types.ts';
import { anyMatch, candidateMaps, translateWith, type Translation } from '../conceptmap/translate.ts';
import { delegate } from '../remote.ts';
import { resolveResource } from '../resolve.ts';
import { OperationInput, parametersOf } from './params.ts';

function sourceScope(map: ConceptMap): string | undefined {
  return map.sourceUri ?? map.sourceCanonical;
}

function targetScope(map: ConceptMap): string | undefined {
  return map.targetUri ?? map.targetCanonical;
}

/**
 * `ConceptMap/$translate` (and `reverse`): the instance's map, the one `url` names, or every known map from the code's
 * system (narrowed by `source`/`target` ValueSets and `targetsystem`).
 */
export async function translate(ctx: FhirContext, req: FhirRequest, id?: string): Promise<Parameters> {
  const input = new OperationInput(req);
  const cc = input.codeableConcept('codeableConcept');
  const coding: Coding = input.coding('coding') ??
    cc?.coding?.[0] ?? { system: input.string('system'), code: input.string('code') };
  if (!coding.code || !coding.system) throw badRequest('$translate needs a code with its system (or a coding)', 'code');
  const reverse = input.boolean('reverse') ?? false;
  const targetSystem = input.string('targetsystem');
  const [source, target] = [input.string('source'), input.string('target')];
  let maps: ConceptMap[];
  if (id) maps = [JSON.parse((await ctx.repo.read('ConceptMap', id)).content as string) as ConceptMap];
  else if (input.string('url')) {
    const map = await resolveResource<ConceptMap>(ctx.repo, 'ConceptMap', input.string('url') as string);
    if (!map) throw notFound(`The ConceptMap ${input.string('url')} is not known to this server`, 'url');
    maps = [map];
  } else {
    maps = (await candidateMaps(ctx.repo, coding.system, reverse)).filter(
      (m) =>
        (!source || (reverse ? targetScope(m) : sourceScope(m)) === source) &&
        (!target || (reverse ? sourceScope(m) : targetScope(m)) === target),
    );
    if (maps.length === 0) {
      const remote = await delegate('ConceptMap/$translate', req);
      if (remote) return remote as Parameters;
    }
  }
  const matches: Translation[] = maps.flatMap((m) => translateWith(m, coding, reverse, targetSystem));
  const result = anyMatch(matches);
  return parametersOf([
    { name: 'result', valueBoolean: result },
    result
      ? undefined
      : { name: 'message', valueString: `No translation of ${coding.system}#${coding.code} was found` },
    ...matches.map((m) => ({
      name: 'match',
      part: [
        { name: 'equivalence', valueCode: m.equivalence },
        { name: 'concept', valueCoding: m.concept },
        ...(m.source ? [{ name: 'source', valueUri: m.source }] : []),
      ],
    })),
  ]);
}
