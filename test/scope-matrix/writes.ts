import { randomUUID } from 'node:crypto';
import { fhir } from '../harness.ts';
import { FIXTURES, type Fixture, type Slots } from './fixtures.ts';
import type { TokenKind, World } from './cases.ts';

/**
 * The scope matrix's compartment write cases (issue 13 item 1): every type in the Patient compartment × every
 * compartment parameter of it × the own patient only / the other patient only / both (one resource naming the own
 * patient and the other one by the parameter) × create, conditional create, update, patch, conditional update and a
 * transaction entry. A compartment-confined token may write exactly the "own" shapes (no new Patient, which is
 * another patient's compartment); an unconfined one every shape of the types it may write. Test code only.
 */

export type Shape = 'own' | 'other' | 'both';
const SHAPES: Shape[] = ['own', 'other', 'both'];
export const WRITE_INTERACTIONS = [
  'create',
  'conditional create',
  'update',
  'patch',
  'conditional update',
  'transaction entry',
] as const;
type Interaction = (typeof WRITE_INTERACTIONS)[number];
const CREATES: ReadonlySet<Interaction> = new Set(['create', 'conditional create', 'transaction entry']);

/** One compartment-parameter slot of a fixture, as recorded from it. */
interface Slot {
  params: string[];
  many: boolean;
  neutral?: string;
}

/** A resource of one type whose compartment references take one shape for one parameter. */
export interface ShapedWrite {
  type: string;
  param: string;
  shape: Shape;
  /** Builds it (fresh each time) with these patients as "own" and "other". */
  build: (own: string, other: string) => Record<string, any>;
}

/** What one case showed, for the matrix's judge. */
export interface WriteOutcome {
  label: string;
  expected: boolean;
  status: number;
  changed: boolean;
  violations: string[];
}

/** The slots a fixture fills, in the order it fills them. */
export function slotsOf(fixture: Fixture): Slot[] {
  const slots: Slot[] = [];
  const record = (many: boolean) => (params: string, neutral?: string) => {
    slots.push({ params: params.split('|'), many, neutral });
    return many ? [] : { reference: '' };
  };
  fixture({ one: record(false) as Slots['one'], many: record(true) as Slots['many'] });
  return slots;
}

/**
 * The references of each slot for `param` in `shape` ("own"/"other" stand for the two patients): the slot(s) of the
 * parameter get the shape's patients; the others a non-patient reference where the element allows one, else the
 * shape's home patient. "both" names the other patient by the parameter and the own patient by the same repeating
 * element or by another parameter; undefined when the type has no way to (one single-valued parameter).
 */
function plan(slots: Slot[], param: string, shape: Shape): string[][] | undefined {
  const home = shape === 'other' ? 'other' : 'own';
  const tested = (s: Slot) => s.params.includes(param);
  const refs = slots.map((s) => {
    if (!tested(s)) return [s.neutral ?? home];
    if (shape !== 'both') return [shape];
    return s.many ? ['own', 'other'] : ['other'];
  });
  if (shape === 'both' && slots.every((s) => !tested(s) || !s.many)) {
    const elsewhere = slots.findIndex((s) => !tested(s) && !s.neutral);
    const index = elsewhere >= 0 ? elsewhere : slots.findIndex((s) => !tested(s));
    if (index < 0) return undefined;
    refs[index] = ['own'];
  }
  return refs;
}

function build(type: string, fixture: Fixture, refs: string[][], own: string, other: string): Record<string, any> {
  const reference = (r: string) => ({
    reference: r === 'own' ? `Patient/${own}` : r === 'other' ? `Patient/${other}` : r,
  });
  let i = 0;
  const slots: Slots = {
    one: () => reference(refs[i++][0]),
    many: (_params, _neutral, wrap = (r) => r) => refs[i++].map((r) => wrap(reference(r))),
  };
  return { resourceType: type, ...fixture(slots) };
}

/** Every shaped write of the matrix. */
export function shapedWrites(): ShapedWrite[] {
  const out: ShapedWrite[] = [];
  for (const [type, fixture] of Object.entries(FIXTURES)) {
    const slots = slotsOf(fixture);
    for (const param of new Set(slots.flatMap((s) => s.params))) {
      for (const shape of SHAPES) {
        const refs = plan(slots, param, shape);
        if (refs) out.push({ type, param, shape, build: (own, other) => build(type, fixture, refs, own, other) });
      }
    }
  }
  return out;
}

/**
 * SMART semantics: a kind may write a shape when it may write the type (and, in a transaction, the companion
 * Observation), and a confined kind only "own" shapes.
 */
function expected(kind: TokenKind, w: ShapedWrite, interaction: Interaction): boolean {
  if (!kind.writes(w.type) || (interaction === 'transaction entry' && !kind.writes('Observation'))) return false;
  if (kind.unconfined) return true;
  return w.shape === 'own' && !(w.type === 'Patient' && CREATES.has(interaction));
}

/** A case: one shaped write by one interaction, tagged with its own marker so its effect can be found. */
interface WriteCase {
  write: ShapedWrite;
  interaction: Interaction;
  marker: string;
  /** For updates: the existing version (exclusively the own patient's) it replaces. */
  current?: Record<string, any>;
}

/**
 * Runs every compartment write case for one token kind and reports each. Updates replace fresh own-shaped resources
 * the admin created beforehand; what was written is found afterwards by each case's marker tag. Patient cases update
 * the own Patient itself, so they run one at a time and the admin restores it after each.
 */
export async function runCompartmentWrites(w: World, kind: TokenKind): Promise<WriteOutcome[]> {
  const system = `urn:matrix-write:${randomUUID()}`;
  const tagged = (resource: Record<string, any>, marker: string): Record<string, any> => ({
    ...resource,
    meta: { tag: [{ system, code: marker }] },
  });
  const asAdmin = { authorization: `Bearer ${w.admin}` };
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fhir(w.server, method, path, body, { authorization: `Bearer ${kind.token}`, ...headers });

  const cases: WriteCase[] = shapedWrites().flatMap((write) =>
    WRITE_INTERACTIONS.map((interaction) => ({ write, interaction, marker: randomUUID() })),
  );
  const [patientCases, otherCases] = [
    cases.filter((c) => c.write.type === 'Patient'),
    cases.filter((c) => c.write.type !== 'Patient'),
  ];
  await createCurrents(
    w,
    otherCases.filter((c) => !CREATES.has(c.interaction)),
    (c) => tagged(c.write.build(w.own, w.other), `${c.marker}-current`),
  );

  /** Performs a case; returns its status and, for a transaction, the marker of its companion entry. */
  const perform = async (c: WriteCase): Promise<number> => {
    const body = tagged(c.write.build(w.own, w.other), c.marker);
    const type = c.write.type;
    switch (c.interaction) {
      case 'create':
        return (await call('POST', type, body)).status;
      case 'conditional create':
        return (await call('POST', type, body, { 'if-none-exist': `_tag=${system}|${c.marker}` })).status;
      case 'update':
        return (await call('PUT', `${type}/${c.current!.id}`, { ...body, id: c.current!.id })).status;
      case 'conditional update':
        return (await call('PUT', `${type}?_id=${c.current!.id}`, { ...body, id: c.current!.id })).status;
      case 'patch': {
        const ops = Object.entries(body)
          .filter(([k]) => k !== 'resourceType')
          .map(([k, value]) => ({ op: 'add', path: `/${k}`, value }));
        return (await call('PATCH', `${type}/${c.current!.id}`, ops, { 'content-type': 'application/json-patch+json' }))
          .status;
      }
      case 'transaction entry': {
        const companion = tagged(
          {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'companion' },
            subject: { reference: `Patient/${w.own}` },
          },
          `${c.marker}-companion`,
        );
        const entry = [companion, body].map((resource) => ({
          resource,
          request: { method: 'POST', url: resource.resourceType },
        }));
        return (await call('POST', '', { resourceType: 'Bundle', type: 'transaction', entry })).status;
      }
    }
  };

  const statuses = new Map<WriteCase, number>();
  await pool(otherCases, 4, async (c) => statuses.set(c, await perform(c)));
  const written = await markersWritten(w, system, [...new Set(otherCases.map((c) => c.write.type)), 'Observation']);
  const outcomes = otherCases.map((c) => {
    const changed = written.has(c.marker);
    const violations =
      c.interaction === 'transaction entry' && written.has(`${c.marker}-companion`) !== changed
        ? ['half-written transaction']
        : [];
    return outcome(kind, c, statuses.get(c)!, changed, violations);
  });

  const original = (await fhir(w.server, 'GET', `Patient/${w.own}`, undefined, asAdmin)).body;
  for (const c of patientCases) {
    if (!CREATES.has(c.interaction)) c.current = original;
    const status = await perform(c);
    const after = (await fhir(w.server, 'GET', `Patient/${w.own}`, undefined, asAdmin)).body;
    const created = CREATES.has(c.interaction) && (await markersWritten(w, system, ['Patient'])).has(c.marker);
    const changed = created || after.meta.versionId !== original.meta.versionId;
    if (after.meta.versionId !== original.meta.versionId) {
      const { meta: _meta, ...content } = original;
      const restored = await fhir(w.server, 'PUT', `Patient/${w.own}`, content, asAdmin);
      original.meta = restored.body.meta;
    }
    outcomes.push(outcome(kind, c, status, changed, []));
  }
  return outcomes;
}

function outcome(kind: TokenKind, c: WriteCase, status: number, changed: boolean, violations: string[]): WriteOutcome {
  const { type, param, shape } = c.write;
  return {
    label: `${kind.name} ${c.interaction} ${type}.${param} ${shape}`,
    expected: expected(kind, c.write, c.interaction),
    status,
    changed,
    violations,
  };
}

/** Creates (as the admin, in transactions) the current version each update case replaces. */
async function createCurrents(
  w: World,
  cases: WriteCase[],
  body: (c: WriteCase) => Record<string, any>,
): Promise<void> {
  for (let i = 0; i < cases.length; i += 250) {
    const chunk = cases.slice(i, i + 250);
    const entry = chunk.map((c) => ({ resource: body(c), request: { method: 'POST', url: c.write.type } }));
    const res = await fhir(
      w.server,
      'POST',
      '',
      { resourceType: 'Bundle', type: 'transaction', entry },
      { authorization: `Bearer ${w.admin}` },
    );
    if (res.status !== 200)
      throw new Error(
        `creating the matrix's current versions: ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`,
      );
    chunk.forEach((c, j) => (c.current = res.body.entry[j].resource));
  }
}

/** The markers (tag codes of `system`) the current versions of these types carry, as the admin finds them. */
async function markersWritten(w: World, system: string, types: string[]): Promise<Set<string>> {
  const markers = new Set<string>();
  for (const type of types) {
    let path: string | undefined = `${type}?_tag=${encodeURIComponent(`${system}|`)}&_count=1000&_elements=id`;
    while (path) {
      const res = await fhir(w.server, 'GET', path, undefined, { authorization: `Bearer ${w.admin}` });
      for (const e of res.body.entry ?? [])
        for (const t of e.resource.meta?.tag ?? []) if (t.system === system) markers.add(t.code);
      const next: string | undefined = res.body.link?.find((l: any) => l.relation === 'next')?.url;
      path = next?.slice(w.server.fhirBase.length + 1);
    }
  }
  return markers;
}

/** Runs `fn` over `items`, `size` at a time. */
async function pool<T>(items: T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: size }, worker));
}
