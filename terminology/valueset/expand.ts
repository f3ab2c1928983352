import { randomUUID } from 'node:crypto';
import type { ValueSet, ValueSetExpansionContains, ValueSetExpansionParameter } from '@medplum/fhirtypes';
import { OutcomeError, outcome } from '../../server/fhir/outcomes.ts';
import { OwnParams, type ConceptRow, type Designation, type Queryable } from '../model.ts';
import { runSql } from '../sql.ts';
import { compileValueSet } from './compose.ts';
import { PART_COLUMNS, partSql, type Part } from './parts.ts';

/** The `$expand` parameters this server acts on. */
export interface ExpandOptions {
  /** Text the concepts' displays (word starts) or codes must match. */
  filter?: string;
  offset?: number;
  count?: number;
  activeOnly?: boolean;
  includeDesignations?: boolean;
  /** Language of the displays (a designation in it replaces the display). */
  displayLanguage?: string;
}

/** Largest expansion returned without paging (`count`); larger ones answer `too-costly`. */
export const MAX_EXPANSION = 10_000;

/** A page of an expansion and the number of concepts in all. */
interface ExpandedPage {
  total: number;
  rows: ConceptRow[];
}

/** Regex special characters, escaped so a filter word is matched literally. */
function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function terms(filter: string | undefined): string[] {
  return (filter ?? '').toLowerCase().split(/\s+/).filter(Boolean).slice(0, 10);
}

function matchesText(row: ConceptRow, words: string[]): boolean {
  const display = (row.display ?? '').toLowerCase();
  const code = row.code.toLowerCase();
  return words.every(
    (w) => code.startsWith(w) || new RegExp(`(^|[^\\p{L}\\p{N}])${escapeRegex(w)}`, 'u').test(display),
  );
}

/** Pages through a compiled set of concepts: text filter, activeOnly, de-duplication, order of the definition. */
export async function expandPart(db: Queryable, part: Part, o: ExpandOptions): Promise<ExpandedPage> {
  const offset = o.offset ?? 0;
  const count = o.count ?? MAX_EXPANSION + 1;
  const words = terms(o.filter);
  if ('rows' in part) {
    const seen = new Set<string>();
    const all = part.rows
      .filter((r) => !(o.activeOnly && r.inactive))
      .filter((r) => words.length === 0 || matchesText(r, words))
      .filter((r) => !seen.has(`${r.system}|${r.code}`) && seen.add(`${r.system}|${r.code}`))
      .sort((a, b) => a.seq - b.seq);
    return { total: all.length, rows: all.slice(offset, offset + count) };
  }
  const p = new OwnParams();
  const where: string[] = [];
  if (o.activeOnly) where.push('NOT coalesce(inactive, false)');
  for (const w of words) {
    where.push(
      `(lower(code) LIKE ${p.add(w.replace(/[\\%_]/g, '\\$&') + '%')} OR display ~* ${p.add(`(^|[^[:alnum:]])${escapeRegex(w)}`)})`,
    );
  }
  const rows = await runSql<ConceptRow & { total: string; seq: string }>(
    db,
    `SELECT ${PART_COLUMNS}, count(*) OVER () AS total FROM (
       SELECT DISTINCT ON (system, code) * FROM (${partSql(part, p)}) u
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY system, code, seq
     ) d ORDER BY seq, system, code OFFSET ${p.add(offset)}::int LIMIT ${p.add(count)}::int`,
    p.values,
  );
  const total = rows.length ? Number(rows[0].total) : offset > 0 ? await countAll(db, part, where.length > 0) : 0;
  return { total, rows: rows.map((r) => ({ ...r, seq: Number(r.seq) })) };
}

/** The size of an expansion when the requested page was past its end. */
async function countAll(db: Queryable, part: Part, filtered: boolean): Promise<number> {
  if (filtered) return 0;
  const p = new OwnParams();
  const rows = await runSql<{ n: string }>(
    db,
    `SELECT count(DISTINCT (system, code)) AS n FROM (${partSql(part, p)}) u`,
    p.values,
  );
  return Number(rows[0]?.n ?? 0);
}

function displayIn(row: ConceptRow, language: string | undefined): string | undefined {
  if (!language) return row.display;
  const lang = language.toLowerCase();
  const designation = row.designations?.find(
    (d: Designation) =>
      d.language && (d.language.toLowerCase() === lang || d.language.toLowerCase().startsWith(`${lang}-`)),
  );
  return designation?.value ?? row.display;
}

/**
 * `ValueSet/$expand`: the ValueSet with an `expansion` (identifier, timestamp, total, offset, parameters, contains)
 * in the order of its definition. An expansion larger than MAX_EXPANSION without `count` answers too-costly (422),
 * as tx.fhir.org and HAPI refuse unbounded expansions; a ValueSet drawing on a system this server does not hold
 * answers 422 naming the system.
 */
export async function expandValueSet(db: Queryable, vs: ValueSet, o: ExpandOptions): Promise<ValueSet> {
  const compiled = await compileValueSet(db, vs);
  if (compiled.openSystems.size > 0) {
    throw new OutcomeError(
      422,
      outcome(
        'error',
        'not-found',
        `The code system ${[...compiled.openSystems].join(', ')} is not known to this server; the ValueSet cannot be expanded`,
      ),
    );
  }
  const page = await expandPart(db, compiled.part, o);
  if (o.count === undefined && page.total > MAX_EXPANSION) {
    throw new OutcomeError(
      422,
      outcome(
        'error',
        'too-costly',
        `The expansion has ${page.total} concepts, more than ${MAX_EXPANSION}; page it with count and offset`,
      ),
    );
  }
  const parameter: ValueSetExpansionParameter[] = [...compiled.usedSystems].map((s) => ({
    name: 'used-codesystem',
    valueUri: s,
  }));
  if (o.filter) parameter.push({ name: 'filter', valueString: o.filter });
  if (o.count !== undefined) parameter.push({ name: 'count', valueInteger: o.count });
  if (o.offset !== undefined) parameter.push({ name: 'offset', valueInteger: o.offset });
  if (o.activeOnly) parameter.push({ name: 'activeOnly', valueBoolean: true });
  if (o.displayLanguage) parameter.push({ name: 'displayLanguage', valueCode: o.displayLanguage });
  const contains: ValueSetExpansionContains[] = page.rows.map((r) => ({
    system: r.system,
    ...(r.version ? { version: r.version } : {}),
    ...(r.abstract ? { abstract: true } : {}),
    ...(r.inactive ? { inactive: true } : {}),
    code: r.code,
    ...(displayIn(r, o.displayLanguage) ? { display: displayIn(r, o.displayLanguage) } : {}),
    ...(o.includeDesignations && r.designations?.length ? { designation: r.designations.map((d) => ({ ...d })) } : {}),
  }));
  const { compose: _compose, expansion: _expansion, text: _text, ...rest } = vs;
  return {
    ...rest,
    expansion: {
      identifier: `urn:uuid:${randomUUID()}`,
      timestamp: new Date().toISOString(),
      total: page.total,
      ...(o.offset !== undefined ? { offset: o.offset } : {}),
      ...(parameter.length ? { parameter } : {}),
      ...(contains.length ? { contains } : {}),
    },
  };
}
