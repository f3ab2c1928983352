import type { ValueSet, ValueSetComposeInclude, ValueSetExpansionContains } from '@medplum/fhirtypes';
import { unprocessable } from '../../server/fhir/outcomes.ts';
import { FILTER_OPS } from '../codesystem/handle.ts';
import type { ConceptRow, Queryable } from '../model.ts';
import { resolveCodeSystem, resolveResource } from '../resolve.ts';
import { EMPTY, except, intersect, rowsPart, union, type Part } from './parts.ts';

/** Deepest nesting of ValueSets (`compose.include.valueSet`) followed. */
const MAX_DEPTH = 10;
/** Sequence numbers of one include start at its index times this (positions within a system stay below it). */
const SEQ_STRIDE = 1_000_000_000;

/** What compiling a ValueSet learned besides its concepts. */
export interface Compiled {
  part: Part;
  /** Systems included whole or by filter that this server does not hold: membership of their codes is unknown. */
  openSystems: Set<string>;
  /** Systems (url|version) the concepts came from, for `expansion.parameter` `used-codesystem`. */
  usedSystems: Set<string>;
}

interface CompileContext {
  db: Queryable;
  depth: number;
  /** ValueSet URLs on the current nesting path (a ValueSet including itself is refused). */
  path: string[];
  openSystems: Set<string>;
  usedSystems: Set<string>;
}

/**
 * Compiles a ValueSet's definition into the set of its concepts: `compose` (enumerated concepts, filters, whole
 * systems, nested ValueSets, excludes) or, without one, a stored `expansion`.
 */
export async function compileValueSet(db: Queryable, vs: ValueSet): Promise<Compiled> {
  const ctx: CompileContext = { db, depth: 0, path: [], openSystems: new Set(), usedSystems: new Set() };
  const part = await valueSetPart(ctx, vs);
  return { part, openSystems: ctx.openSystems, usedSystems: ctx.usedSystems };
}

async function valueSetPart(ctx: CompileContext, vs: ValueSet): Promise<Part> {
  if (vs.url && ctx.path.includes(vs.url)) throw unprocessable(`ValueSet ${vs.url} includes itself`);
  if (ctx.depth > MAX_DEPTH) throw unprocessable(`ValueSet ${vs.url ?? ''} nests more than ${MAX_DEPTH} deep`);
  const inner: CompileContext = { ...ctx, depth: ctx.depth + 1, path: vs.url ? [...ctx.path, vs.url] : ctx.path };
  if (!vs.compose) return rowsPart(expansionRows(vs.expansion?.contains ?? []));
  const includes = await Promise.all((vs.compose.include ?? []).map((inc, i) => includePart(inner, inc, i)));
  const excludes = await Promise.all((vs.compose.exclude ?? []).map((exc, i) => includePart(inner, exc, i)));
  const included = union(includes);
  return excludes.length ? except(included, union(excludes)) : included;
}

/** The concepts of a stored expansion (nested `contains` flattened; abstract headings without a code left out). */
function expansionRows(contains: ValueSetExpansionContains[], out: ConceptRow[] = []): ConceptRow[] {
  for (const c of contains) {
    if (c.code && c.system)
      out.push({
        system: c.system,
        version: c.version,
        code: c.code,
        display: c.display,
        inactive: c.inactive,
        abstract: c.abstract,
        seq: out.length,
      });
    if (c.contains) expansionRows(c.contains, out);
  }
  return out;
}

async function includePart(ctx: CompileContext, inc: ValueSetComposeInclude, index: number): Promise<Part> {
  const parts: Part[] = [];
  if (inc.system) parts.push(await systemPart(ctx, inc, index * SEQ_STRIDE));
  for (const nested of inc.valueSet ?? []) {
    const vs = await resolveResource<ValueSet>(ctx.db, 'ValueSet', nested);
    if (!vs) throw unprocessable(`ValueSet ${nested} (included by ${ctx.path.at(-1) ?? 'the ValueSet'}) is not known`);
    parts.push(await valueSetPart(ctx, vs));
  }
  if (parts.length === 0) return EMPTY;
  return parts.reduce((acc, p) => intersect(acc, p));
}

async function systemPart(ctx: CompileContext, inc: ValueSetComposeInclude, seqBase: number): Promise<Part> {
  const system = inc.system as string;
  const handle = await resolveCodeSystem(ctx.db, system, inc.version);
  if (handle) ctx.usedSystems.add(handle.version ? `${handle.url}|${handle.version}` : handle.url);
  if (inc.concept?.length) {
    const rows: ConceptRow[] = [];
    for (const [i, k] of inc.concept.entries()) {
      if (typeof k.code !== 'string') continue;
      const known = handle ? await handle.find(ctx.db, k.code) : undefined;
      if (handle && !known && handle.header.content === 'complete') continue; // not a code of the system
      rows.push({
        system,
        version: handle?.version ?? inc.version,
        code: known?.code ?? k.code,
        display: k.display ?? known?.display,
        inactive: known?.inactive || undefined,
        abstract: known?.abstract || undefined,
        designations: known?.designations,
        seq: seqBase + i,
      });
    }
    return rowsPart(rows);
  }
  const filters = (inc.filter ?? []).map((f) => ({
    property: String(f.property ?? ''),
    op: String(f.op ?? ''),
    value: String(f.value ?? ''),
  }));
  for (const f of filters) {
    if (!FILTER_OPS.has(f.op)) throw unprocessable(`The filter operator "${f.op}" is not supported`);
  }
  if (!handle) {
    ctx.openSystems.add(system);
    return EMPTY;
  }
  return handle.select(ctx.db, filters, seqBase);
}
