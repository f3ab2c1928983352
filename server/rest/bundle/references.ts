import { badRequest, preconditionFailed } from '../../fhir/outcomes.ts';
import { findMatchingIds } from '../../search/conditional.ts';
import { parseConditionalQuery } from '../../search/conditional-query.ts';
import { requireResourceType } from '../../core/router.ts';
import type { FhirContext } from '../../core/types.ts';
import type { EntryWork } from './entries.ts';

/** Placeholder URL (an entry's fullUrl, a conditional reference) → the `Type/id` it stands for. */
export type ReferenceMap = Map<string, string>;

const CONDITIONAL_REFERENCE = /^[A-Z][A-Za-z]+\?./;
/** Links in narrative XHTML; the spec asks for `<a href>` and `<img src>` to be rewritten too. */
const NARRATIVE_LINK = /\b(href|src)="([^"]*)"/g;

/**
 * Rewrites, in place, every string in the entries' bodies (and their conditional URLs' values) that equals a key of
 * `map` — Reference.reference, canonical and uri elements alike — and every narrative link to one. Version-specific
 * placeholders (`…/_history/n`) keep their version part. Returns the conditional references (`Type?query` in a
 * `reference`) it met, for resolveConditionalReferences.
 */
export function rewritePlaceholders(works: EntryWork[], map: ReferenceMap): Set<string> {
  const conditional = new Set<string>();
  const rewrite = (s: string, key: string): string | undefined => {
    const mapped = mapPlaceholder(s, map);
    if (mapped !== undefined) return mapped;
    if (key === 'div') return rewriteNarrative(s, map);
    if (key === 'reference' && CONDITIONAL_REFERENCE.test(s)) conditional.add(s);
    return undefined;
  };
  for (const work of works) {
    if (work.request.body !== undefined) walkStrings(work.request.body, '', rewrite);
    walkStrings(work.request.query, '', rewrite);
  }
  return conditional;
}

/**
 * Resolves conditional references (`Patient?identifier=sys|val`) with the search engine: exactly one match becomes
 * `Type/id` in `map`; no match → 400, several → 412 (the transaction fails, as the spec requires).
 */
export async function resolveConditionalReferences(
  ctx: FhirContext,
  references: Set<string>,
  map: ReferenceMap,
): Promise<void> {
  for (const reference of references) {
    const q = reference.indexOf('?');
    const type = reference.slice(0, q);
    requireResourceType(type);
    const ids = await findMatchingIds(ctx.repo, type, parseConditionalQuery(reference.slice(q + 1)), 2, {
      access: ctx.access,
      baseUrl: ctx.baseUrl,
    });
    if (ids.length === 0) throw badRequest(`Conditional reference "${reference}" matches no resource`, 'reference');
    if (ids.length > 1)
      throw preconditionFailed(`Conditional reference "${reference}" matches more than one resource`, 'reference');
    map.set(reference, `${type}/${ids[0]}`);
  }
}

function mapPlaceholder(s: string, map: ReferenceMap): string | undefined {
  const direct = map.get(s);
  if (direct !== undefined) return direct;
  const h = s.indexOf('/_history/');
  if (h > 0) {
    const target = map.get(s.slice(0, h));
    if (target !== undefined) return target + s.slice(h);
  }
  return undefined;
}

function rewriteNarrative(div: string, map: ReferenceMap): string | undefined {
  if (!div.includes('="')) return undefined;
  let changed = false;
  const out = div.replace(NARRATIVE_LINK, (whole, attr: string, url: string) => {
    const mapped = mapPlaceholder(url, map);
    if (mapped === undefined) return whole;
    changed = true;
    return `${attr}="${mapped}"`;
  });
  return changed ? out : undefined;
}

/** Visits every string in a JSON tree with the key it sits under (array items: the array's key), replacing it in place. */
function walkStrings(node: unknown, key: string, visit: (s: string, key: string) => string | undefined): void {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const v = node[i];
      if (typeof v === 'string') {
        const r = visit(v, key);
        if (r !== undefined) node[i] = r;
      } else if (v && typeof v === 'object') walkStrings(v, key, visit);
    }
  } else if (node && typeof node === 'object') {
    const obj = node as Record<string, unknown>;
    for (const k of Object.keys(obj)) {
      const v = obj[k];
      if (typeof v === 'string') {
        const r = visit(v, k);
        if (r !== undefined) obj[k] = r;
      } else if (v && typeof v === 'object') walkStrings(v, k, visit);
    }
  }
}
