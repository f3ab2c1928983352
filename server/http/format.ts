import { notAcceptable, unsupportedMediaType } from '../fhir/outcomes.ts';

/** Wire formats of FHIR resources. */
export type FhirFormat = 'json' | 'xml';

/** Media types and `_format` aliases of each format (a Map: `_format=constructor` must not find Object's members). */
const FORMAT_ALIASES = new Map<string, FhirFormat>(
  Object.entries({
    json: 'json',
    'application/json': 'json',
    'application/fhir+json': 'json',
    'application/json+fhir': 'json',
    xml: 'xml',
    'text/xml': 'xml',
    'application/xml': 'xml',
    'application/fhir+xml': 'xml',
    'application/xml+fhir': 'xml',
  } satisfies Record<string, FhirFormat>),
);

/** The media type sent for each format. */
export const MEDIA_TYPES: Record<FhirFormat, string> = {
  json: 'application/fhir+json; charset=utf-8',
  xml: 'application/fhir+xml; charset=utf-8',
};

/** Picks the response format from `_format` (wins) or `Accept`; JSON when neither says; 406 when neither fits. */
export function negotiateFormat(formatParam: string | undefined, accept: string | undefined): FhirFormat {
  if (formatParam) {
    // An unescaped `+` in `_format=application/fhir+xml` arrives as a space.
    const f = FORMAT_ALIASES.get(formatParam.trim().toLowerCase().split(';')[0].trim().replace(' ', '+'));
    if (!f) throw notAcceptable(`Unsupported _format "${formatParam}"`);
    return f;
  }
  if (!accept) return 'json';
  const ranges = accept
    .split(',')
    .map((part) => {
      const [type, ...params] = part.trim().toLowerCase().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { type: type.trim(), q: q ? Number(q.slice(2)) : 1 };
    })
    .filter((r) => r.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const r of ranges) {
    const f = FORMAT_ALIASES.get(r.type);
    if (f) return f;
    if (r.type === '*/*' || r.type === 'application/*' || r.type === 'text/*')
      return r.type === 'text/*' ? 'xml' : 'json';
  }
  throw notAcceptable(`None of the accepted media types can be produced: ${accept}`);
}

/** The body formats a request may have. */
export type BodyKind = FhirFormat | 'json-patch' | 'form';

/** Classifies a request's Content-Type; 415 when it is not one this server reads. */
export function bodyKind(contentType: string | undefined): BodyKind {
  const type = (contentType ?? '').toLowerCase().split(';')[0].trim();
  if (type === 'application/json-patch+json') return 'json-patch';
  if (type === 'application/x-www-form-urlencoded') return 'form';
  const f = FORMAT_ALIASES.get(type);
  if (!f) throw unsupportedMediaType(`Unsupported Content-Type "${contentType ?? ''}"`);
  return f;
}
