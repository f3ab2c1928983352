import type { CapabilityStatementRestResourceSearchParam } from '@medplum/fhirtypes';
import { loadDefinitions } from '../fhir/definitions.ts';
import { MODIFIERS, SPECIAL_CODES } from './criteria.ts';
import { searchParams, type ParamType } from '../fhir/search-params/registry.ts';

/** The search part of a CapabilityStatement's rest.resource entry for one type. */
export interface SearchCapabilities {
  searchParam: CapabilityStatementRestResourceSearchParam[];
  searchInclude: string[];
  searchRevInclude: string[];
}

/** Parameters every type supports besides its SearchParameters: answered by the engine itself. */
const LIST_PARAM: CapabilityStatementRestResourceSearchParam = {
  name: '_list',
  type: 'special',
  documentation: 'Resources listed in the List with this id',
};
const HAS_PARAM: CapabilityStatementRestResourceSearchParam = {
  name: '_has',
  type: 'special',
  documentation: 'Reverse chaining: _has:Type:reference:parameter',
};

/** The modifiers a parameter accepts (R4 CapabilityStatements have no element for them: they go in documentation). */
function modifiersOf(code: string, type: ParamType): string[] {
  if (code === '_id') return ['missing', 'not'];
  if (code === '_lastUpdated' || type === 'special' || SPECIAL_CODES.has(code)) return ['missing'];
  return ['missing', ...MODIFIERS[type], ...(type === 'reference' ? ['[type]'] : [])];
}

/**
 * What search supports for a resource type: every SearchParameter of the spec (and any added at runtime), the engine's
 * own parameters (`_has` where something can refer to the type), and the `_include`/`_revinclude` values (every reference parameter of the type, and every reference
 * parameter of any type whose declared targets include it). `_query` (named queries) is the one spec parameter not offered.
 */
export function searchCapabilities(resourceType: string): SearchCapabilities {
  const params = searchParams(resourceType).filter((p) => p.code !== '_query');
  const searchParam = params.map((p) => ({
    name: p.code,
    definition: p.url,
    type: p.type,
    documentation: `${p.resource.description ? p.resource.description + ' ' : ''}Modifiers: ${modifiersOf(p.code, p.type).join(', ')}.`,
  }));
  const searchInclude = params.filter((p) => p.type === 'reference').map((p) => `${resourceType}:${p.code}`);
  const searchRevInclude: string[] = [];
  for (const source of loadDefinitions().resourceTypes) {
    for (const p of searchParams(source)) {
      const targets = p.resource.target?.length ? p.target : [];
      if (p.type === 'reference' && targets.includes(resourceType)) searchRevInclude.push(`${source}:${p.code}`);
    }
  }
  const engine = searchRevInclude.length ? [LIST_PARAM, HAS_PARAM] : [LIST_PARAM];
  return { searchParam: [...searchParam, ...engine], searchInclude: ['*', ...searchInclude], searchRevInclude };
}
