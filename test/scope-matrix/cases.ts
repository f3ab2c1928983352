import { randomUUID } from 'node:crypto';
import type { Tributary } from '../../server/app.ts';
import { fhir } from '../harness.ts';
import type { Permission } from '../../server/auth/scopes.ts';

/**
 * The interactions of the scope matrix (scope-matrix.test.ts): how each is performed on a target, and what SMART
 * semantics say a token kind may get from it. Test code only.
 */

/** What a target resource is, relative to the token's patient ("own"). */
export type Target = 'own-vital' | 'own-lab' | 'other-vital' | 'own-patient' | 'other-patient';
export const OBSERVATION_TARGETS: Target[] = ['own-vital', 'own-lab', 'other-vital'];
export const PATIENT_TARGETS: Target[] = ['own-patient', 'other-patient'];
const isPatient = (t: Target) => t.endsWith('patient');

/** Whether the kind may do `p` on some resource of the target's type. */
export function mayOnTypeOf(k: TokenKind, p: Permission, t: Target): boolean {
  return (isPatient(t) ? PATIENT_TARGETS : OBSERVATION_TARGETS).some((x) => k.may(p, x));
}
/** The patient whose data a target is. */
const patientOf = (t: Target): Target => (t.startsWith('own') ? 'own-patient' : 'other-patient');

/** A kind of token and what SMART semantics let it do. */
export interface TokenKind {
  name: string;
  token: string;
  /** The SMART context of its scopes. */
  context: 'patient' | 'user' | 'system';
  /** Whether the token may do `p` on the target. */
  may: (p: Permission, t: Target) => boolean;
  /** True when it reaches every resource of the types it may use (no compartment, role or granular limit). */
  unconfined: boolean;
  /** True when it reaches every resource type (system-level interactions). */
  allTypes: boolean;
  /** Whether it may create and update (some) resources of a type. */
  writes: (type: string) => boolean;
}

/** One Bundle entry's outcome, judged like a single interaction with permission `p` on target `t`. */
export interface EntryResult {
  t: Target;
  p: Permission;
  status: number;
  changed: boolean;
}

/** What performing an interaction showed. */
export interface Result {
  status: number;
  /** Every resource the answer served (nested Bundles flattened). */
  served: any[];
  /** The resource a search is built to find (its id). */
  target?: string;
  total?: number;
  /** Whether the target was changed (writes judged by their effect). */
  changed?: boolean;
  entries?: EntryResult[];
  /** What is wrong whatever the token (e.g. a transaction half-written). */
  violations?: string[];
}

export interface Case {
  interaction: string;
  targets: Target[];
  /** Searches: only what they serve tells allowed from refused (200 with nothing is a refusal). */
  search?: boolean;
  /** Statuses that count as allowed (default: below 300). */
  allowed?: number[];
  /** Statuses that count as a refusal (default 403, 404). */
  refusals?: number[];
  /**
   * A by-id interaction that must not reveal existence: when the token has this permission on the target's type but
   * may not read the target, the refusal must be 404, as for a resource that does not exist.
   */
  absent?: Permission;
  expected: (k: TokenKind, t: Target) => boolean;
  run: (token: string, t: Target) => Promise<Result>;
}

const CRUDS: Permission[] = ['c', 'r', 'u', 'd', 's'];
const VITAL = {
  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }],
};
const LAB = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] };

/** A created target: its type, id, stored body, marker code (unique per target) and lastUpdated. */
interface Made {
  type: string;
  id: string;
  body: Record<string, any>;
  marker: string;
  lastUpdated: string;
}

/** The data the cases work on: a server, an admin token, and the own and other patients. */
export interface World {
  server: Tributary;
  admin: string;
  own: string;
  other: string;
}

/** Flattens what an answer serves: a resource, or a Bundle's entries (nested Bundles too). */
export function servedOf(body: any): any[] {
  if (body?.resourceType === 'Bundle')
    return (body.entry ?? []).flatMap((e: any) => (e.resource ? servedOf(e.resource) : []));
  return body?.id ? [body] : [];
}

/** What a served resource is, relative to the own patient (undefined: not patient data, e.g. an OperationOutcome). */
export function classify(w: World, r: any): Target | undefined {
  if (r.resourceType === 'Patient') return r.id === w.own ? 'own-patient' : 'other-patient';
  if (r.resourceType !== 'Observation') return undefined;
  if (r.subject?.reference !== `Patient/${w.own}`) return 'other-vital';
  return r.category?.[0]?.coding?.[0]?.code === 'laboratory' ? 'own-lab' : 'own-vital';
}

/**
 * The matrix's interactions on a world: by id, writes, operations and Bundles; and searches, each built to find one
 * target, which must be served exactly when the token may see it (and chains, `_has` and includes may not reach
 * past what it may read).
 */
export function matrixCases(w: World): { interactions: Case[]; searches: Case[] } {
  const asAdmin = { authorization: `Bearer ${w.admin}` };
  const call = async (
    token: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await fhir(w.server, method, path, body, { authorization: `Bearer ${token}`, ...headers });
    return {
      status: res.status,
      served: servedOf(res.body),
      total: res.body?.total as number | undefined,
      body: res.body,
    };
  };
  const patientId = (t: Target) => (patientOf(t) === 'own-patient' ? w.own : w.other);
  const observation = (t: Target, marker = randomUUID()) => ({
    resourceType: 'Observation',
    status: 'final',
    identifier: [{ system: 'urn:matrix', value: marker }],
    code: { coding: [{ system: 'urn:matrix', code: marker }] },
    category: [t === 'own-lab' ? LAB : VITAL],
    subject: { reference: `Patient/${patientId(t)}` },
  });
  /** Creates a fresh target (as admin); Patient targets are the two patients themselves. */
  const make = async (t: Target): Promise<Made> => {
    if (isPatient(t)) {
      const read = await fhir(w.server, 'GET', `Patient/${patientId(t)}`, undefined, asAdmin);
      return {
        type: 'Patient',
        id: read.body.id,
        body: read.body,
        marker: '',
        lastUpdated: read.body.meta.lastUpdated,
      };
    }
    const body = observation(t);
    const created = await fhir(w.server, 'POST', 'Observation', body, asAdmin);
    return {
      type: 'Observation',
      id: created.body.id,
      body: created.body,
      marker: body.identifier[0].value,
      lastUpdated: created.body.meta.lastUpdated,
    };
  };
  const adminRead = async (x: Made) => (await fhir(w.server, 'GET', `${x.type}/${x.id}`, undefined, asAdmin)).body;
  /** Whether an Observation with this marker was written. */
  const written = async (marker: string) =>
    (await fhir(w.server, 'GET', `Observation?identifier=urn:matrix|${marker}&_total=accurate`, undefined, asAdmin))
      .body.total > 0;
  const entryStatus = (e: any) => Number.parseInt(String(e?.response?.status ?? '0'), 10);

  const may = (p: Permission) => (k: TokenKind, t: Target) => k.may(p, t);
  const mayOnType = (k: TokenKind, p: Permission) => OBSERVATION_TARGETS.some((t) => k.may(p, t));
  const byId = (
    interaction: string,
    targets: Target[],
    p: Permission,
    path: (x: Made) => string,
    method = 'GET',
  ): Case => ({
    interaction,
    targets,
    absent: p,
    expected: may(p),
    run: async (tk, t) => {
      const x = await make(t);
      return call(tk, method, path(x));
    },
  });
  const search = (
    interaction: string,
    targets: Target[],
    expected: Case['expected'],
    run: (tk: string, x: Made, t: Target) => Promise<Result>,
  ): Case => ({
    interaction,
    targets,
    search: true,
    expected,
    run: async (tk, t) => run(tk, await make(t), t),
  });
  const deleted = async (t: Target) => {
    const x = await make(t);
    await fhir(w.server, 'DELETE', `Observation/${x.id}`, undefined, asAdmin);
    return x;
  };
  /** A transaction or batch of two creates: one of an own vital sign, one for the target. */
  const twoCreates = async (tk: string, type: 'batch' | 'transaction', t: Target) => {
    const a = observation('own-vital');
    const b = observation(t);
    const res = await call(tk, 'POST', '', {
      resourceType: 'Bundle',
      type,
      entry: [a, b].map((resource) => ({ resource, request: { method: 'POST', url: 'Observation' } })),
    });
    return { res, wroteA: await written(a.identifier[0].value), wroteB: await written(b.identifier[0].value) };
  };
  /** A transaction or batch of two reads: of an own vital sign, and of the target. */
  const twoReads = async (tk: string, type: 'batch' | 'transaction', t: Target) => {
    const [a, b] = [await make('own-vital'), await make(t)];
    const entry = [a, b].map((x) => ({ request: { method: 'GET', url: `${x.type}/${x.id}` } }));
    return call(tk, 'POST', '', { resourceType: 'Bundle', type, entry });
  };
  const moveToOther = (k: TokenKind) => k.may('u', 'own-vital') && k.may('u', 'other-vital');

  const interactions: Case[] = [
    byId('read', [...OBSERVATION_TARGETS, ...PATIENT_TARGETS], 'r', (x) => `${x.type}/${x.id}`),
    byId('vread', OBSERVATION_TARGETS, 'r', (x) => `${x.type}/${x.id}/_history/1`),
    byId('history-instance', [...OBSERVATION_TARGETS, ...PATIENT_TARGETS], 'r', (x) => `${x.type}/${x.id}/_history`),
    {
      // a deleted resource the token may not read must look absent (404), never gone (410)
      interaction: 'read-deleted',
      targets: OBSERVATION_TARGETS,
      allowed: [410],
      absent: 'r',
      expected: may('r'),
      run: async (tk, t) => call(tk, 'GET', `Observation/${(await deleted(t)).id}`),
    },
    {
      interaction: 'history-deleted',
      targets: OBSERVATION_TARGETS,
      absent: 'r',
      expected: may('r'),
      run: async (tk, t) => call(tk, 'GET', `Observation/${(await deleted(t)).id}/_history`),
    },
    {
      interaction: 'create',
      targets: OBSERVATION_TARGETS,
      expected: may('c'),
      run: async (tk, t) => {
        const body = observation(t);
        return { ...(await call(tk, 'POST', 'Observation', body)), changed: await written(body.identifier[0].value) };
      },
    },
    {
      // If-None-Exist naming an existing target: its copy in the body is created or the existing one returned
      interaction: 'conditional-create',
      targets: OBSERVATION_TARGETS,
      expected: may('c'),
      run: async (tk, t) => {
        const x = await make(t);
        const body = { ...observation(t), identifier: [{ system: 'urn:matrix', value: `${x.marker}-copy` }] };
        const res = await call(tk, 'POST', 'Observation', body, { 'if-none-exist': `_id=${x.id}` });
        const copy = await written(`${x.marker}-copy`);
        return { ...res, violations: res.status >= 300 && copy ? ['refused but written'] : [] };
      },
    },
    {
      interaction: 'update',
      targets: [...OBSERVATION_TARGETS, ...PATIENT_TARGETS],
      expected: may('u'),
      run: async (tk, t) => {
        const x = await make(t);
        return call(tk, 'PUT', `${x.type}/${x.id}`, x.body);
      },
    },
    {
      // a PUT to an id the token cannot see must answer exactly as a PUT to an unknown id (which then must not create)
      interaction: 'update (hidden vs unknown id)',
      targets: OBSERVATION_TARGETS,
      expected: may('u'),
      run: async (tk, t) => {
        const x = await make(t);
        const seen = (await call(tk, 'GET', `Observation/${x.id}`)).status !== 404;
        const unknown = randomUUID();
        // the probe an app confined to the own patient could send: its own data under the id
        const res = await call(tk, 'PUT', `Observation/${x.id}`, { ...observation('own-vital'), id: x.id });
        const probe = await call(tk, 'PUT', `Observation/${unknown}`, { ...observation('own-vital'), id: unknown });
        const same =
          probe.status === res.status &&
          JSON.stringify(probe.body).replaceAll(unknown, '') === JSON.stringify(res.body).replaceAll(x.id, '');
        return {
          ...res,
          violations:
            seen || same ? [] : [`existence leak: ${res.status} for a hidden id, ${probe.status} for an unknown one`],
        };
      },
    },
    {
      interaction: 'update-to-other-patient',
      targets: ['own-vital'],
      expected: moveToOther,
      run: async (tk, t) => {
        const x = await make(t);
        const res = await call(tk, 'PUT', `Observation/${x.id}`, {
          ...x.body,
          subject: { reference: `Patient/${w.other}` },
        });
        return { ...res, changed: (await adminRead(x)).subject.reference === `Patient/${w.other}` };
      },
    },
    {
      interaction: 'patch',
      targets: [...OBSERVATION_TARGETS, ...PATIENT_TARGETS],
      absent: 'u',
      expected: may('u'),
      run: async (tk, t) => {
        const x = await make(t);
        const res = await call(tk, 'PATCH', `${x.type}/${x.id}`, [{ op: 'add', path: '/language', value: 'en' }], {
          'content-type': 'application/json-patch+json',
        });
        return { ...res, changed: (await adminRead(x)).meta.versionId !== x.body.meta.versionId };
      },
    },
    {
      interaction: 'patch-to-other-patient',
      targets: ['own-vital'],
      expected: moveToOther,
      run: async (tk, t) => {
        const x = await make(t);
        const patch = [{ op: 'replace', path: '/subject/reference', value: `Patient/${w.other}` }];
        const res = await call(tk, 'PATCH', `Observation/${x.id}`, patch, {
          'content-type': 'application/json-patch+json',
        });
        return { ...res, changed: (await adminRead(x)).subject.reference === `Patient/${w.other}` };
      },
    },
    byId('delete', OBSERVATION_TARGETS, 'd', (x) => `Observation/${x.id}`, 'DELETE'),
    {
      // deleting again answers 200 (already gone) only to a token that may delete it
      interaction: 'delete-deleted',
      targets: OBSERVATION_TARGETS,
      absent: 'd',
      expected: may('d'),
      run: async (tk, t) => call(tk, 'DELETE', `Observation/${(await deleted(t)).id}`),
    },
    {
      interaction: 'conditional-update',
      targets: OBSERVATION_TARGETS,
      expected: may('u'),
      run: async (tk, t) => {
        const x = await make(t);
        return call(tk, 'PUT', `Observation?_id=${x.id}`, x.body);
      },
    },
    {
      interaction: 'conditional-patch',
      targets: OBSERVATION_TARGETS,
      // An invisible match is "no match" (404 for a conditional patch): a refusal; judged by the effect.
      refusals: [403, 404],
      expected: may('u'),
      run: async (tk, t) => {
        const x = await make(t);
        const res = await call(
          tk,
          'PATCH',
          `Observation?_id=${x.id}`,
          [{ op: 'add', path: '/language', value: 'en' }],
          { 'content-type': 'application/json-patch+json' },
        );
        return { ...res, changed: (await adminRead(x)).meta.versionId !== x.body.meta.versionId };
      },
    },
    {
      interaction: 'conditional-delete',
      targets: OBSERVATION_TARGETS,
      // An invisible match is "no match, nothing deleted" (200): a refusal; judged by the effect.
      refusals: [200, 403, 404],
      expected: may('d'),
      run: async (tk, t) => {
        const x = await make(t);
        const res = await call(tk, 'DELETE', `Observation?_id=${x.id}`);
        return {
          ...res,
          changed: (await fhir(w.server, 'GET', `Observation/${x.id}`, undefined, asAdmin)).status === 410,
        };
      },
    },
    {
      // type-level $validate stores and reveals nothing: it needs create or update on the type (README)
      interaction: '$validate',
      targets: OBSERVATION_TARGETS,
      expected: (k) => mayOnType(k, 'c') || mayOnType(k, 'u'),
      run: async (tk, t) => call(tk, 'POST', 'Observation/$validate', observation(t)),
    },
    {
      // instance-level $validate reads the stored resource: the token must also be able to read it
      interaction: '$validate-instance',
      targets: OBSERVATION_TARGETS,
      absent: 'u',
      expected: (k, t) => (mayOnType(k, 'c') || mayOnType(k, 'u')) && k.may('r', t),
      run: async (tk, t) => call(tk, 'GET', `Observation/${(await make(t)).id}/$validate`),
    },
    {
      // administrative: only a system/ identity with every permission on every type (the admin client)
      interaction: '$reindex (instance)',
      targets: OBSERVATION_TARGETS,
      expected: (k) => k.context === 'system' && k.unconfined && k.allTypes && CRUDS.every((p) => mayOnType(k, p)),
      run: async (tk, t) => call(tk, 'POST', `Observation/${(await make(t)).id}/$reindex`),
    },
    {
      interaction: 'transaction (own vital + target create)',
      targets: OBSERVATION_TARGETS,
      expected: (k, t) => k.may('c', 'own-vital') && k.may('c', t),
      run: async (tk, t) => {
        const { res, wroteA, wroteB } = await twoCreates(tk, 'transaction', t);
        return { ...res, changed: wroteA || wroteB, violations: wroteA === wroteB ? [] : ['half-written transaction'] };
      },
    },
    {
      interaction: 'transaction (own vital + target read)',
      targets: [...OBSERVATION_TARGETS, ...PATIENT_TARGETS],
      expected: (k, t) => k.may('r', 'own-vital') && k.may('r', t),
      run: async (tk, t) => twoReads(tk, 'transaction', t),
    },
    {
      interaction: 'batch (own vital + target create)',
      targets: OBSERVATION_TARGETS,
      expected: () => true,
      run: async (tk, t) => {
        const { res, wroteA, wroteB } = await twoCreates(tk, 'batch', t);
        const [ea, eb] = res.body?.entry ?? [];
        return {
          ...res,
          entries: [
            { t: 'own-vital', p: 'c', status: entryStatus(ea), changed: wroteA },
            { t, p: 'c', status: entryStatus(eb), changed: wroteB },
          ],
        };
      },
    },
    {
      interaction: 'batch (own vital + target read)',
      targets: [...OBSERVATION_TARGETS, ...PATIENT_TARGETS],
      expected: () => true,
      run: async (tk, t) => {
        const res = await twoReads(tk, 'batch', t);
        const [ea, eb] = res.body?.entry ?? [];
        const entry = (e: any, et: Target): EntryResult => ({
          t: et,
          p: 'r',
          status: entryStatus(e),
          changed: !!e?.resource,
        });
        return { ...res, entries: [entry(ea, 'own-vital'), entry(eb, t)] };
      },
    },
  ];

  const searches: Case[] = [
    search('search', OBSERVATION_TARGETS, may('s'), async (tk, x) => ({
      ...(await call(tk, 'GET', `Observation?_id=${x.id}&_total=accurate`)),
      target: x.id,
    })),
    // the planner's estimate would count what the token cannot see
    search('search _total=estimate', OBSERVATION_TARGETS, may('s'), async (tk, x) => ({
      ...(await call(tk, 'GET', `Observation?_id=${x.id}&_total=estimate`)),
      target: x.id,
    })),
    search('search (POST _search)', OBSERVATION_TARGETS, may('s'), async (tk, x) => ({
      ...(await call(tk, 'POST', 'Observation/_search', `_id=${x.id}`, {
        'content-type': 'application/x-www-form-urlencoded',
      })),
      target: x.id,
    })),
    search('search-system (_type)', OBSERVATION_TARGETS, may('s'), async (tk, x) => ({
      ...(await call(tk, 'GET', `?_type=Observation&_id=${x.id}`)),
      target: x.id,
    })),
    search('search _include', OBSERVATION_TARGETS, may('s'), async (tk, x) => ({
      ...(await call(tk, 'GET', `Observation?_id=${x.id}&_include=Observation:subject`)),
      target: x.id,
    })),
    search('search _revinclude', PATIENT_TARGETS, may('s'), async (tk, x) => ({
      ...(await call(tk, 'GET', `Patient?_id=${x.id}&_revinclude=Observation:subject`)),
      target: x.id,
    })),
    // a chain may only look through resources the token may read: subject.name of the other patient finds nothing
    search(
      'search chain subject.name',
      OBSERVATION_TARGETS,
      (k, t) => k.may('s', t) && k.may('r', patientOf(t)),
      async (tk, x, t) => ({
        ...(await call(
          tk,
          'GET',
          `Observation?subject.name=${t.startsWith('own') ? 'Own' : 'Other'}&_id=${x.id}&_total=accurate`,
        )),
        target: x.id,
      }),
    ),
    // an own vital sign whose hasMember is the target: chaining into the target's code must not reveal it
    search(
      'search chain into target',
      OBSERVATION_TARGETS,
      (k, t) => k.may('s', 'own-vital') && k.may('r', t),
      async (tk, x) => {
        const source = { ...observation('own-vital'), hasMember: [{ reference: `Observation/${x.id}` }] };
        const id = (await fhir(w.server, 'POST', 'Observation', source, asAdmin)).body.id;
        return {
          ...(await call(
            tk,
            'GET',
            `Observation?_id=${id}&has-member:Observation.code=urn:matrix|${x.marker}&_total=accurate`,
          )),
          target: id,
        };
      },
    ),
    // _has: the patient is found only when the token may see the Observation that names it
    search(
      'search _has',
      OBSERVATION_TARGETS,
      (k, t) => k.may('s', patientOf(t)) && k.may('r', t),
      async (tk, x, t) => ({
        ...(await call(tk, 'GET', `Patient?_has:Observation:subject:code=urn:matrix|${x.marker}&_total=accurate`)),
        target: patientId(t),
      }),
    ),
    search('compartment search Patient/[id]/Observation', OBSERVATION_TARGETS, may('s'), async (tk, x, t) => ({
      ...(await call(tk, 'GET', `Patient/${patientId(t)}/Observation?_id=${x.id}&_total=accurate`)),
      target: x.id,
    })),
    search(
      'Patient/$everything',
      OBSERVATION_TARGETS,
      (k, t) => k.may('r', patientOf(t)) && k.may('r', t),
      async (tk, x, t) => ({
        ...(await call(
          tk,
          'GET',
          `Patient/${patientId(t)}/$everything?_type=Patient,Observation&_since=${encodeURIComponent(x.lastUpdated)}`,
        )),
        target: x.id,
      }),
    ),
    // history cannot be confined by criteria (versions are not indexed): it needs an unconfined token (README)
    search(
      'history-type',
      OBSERVATION_TARGETS,
      (k, t) => k.may('s', t) && k.unconfined,
      async (tk, x) => ({
        ...(await call(tk, 'GET', `Observation/_history?_since=${encodeURIComponent(x.lastUpdated)}`)),
        target: x.id,
      }),
    ),
    search(
      'history-system',
      OBSERVATION_TARGETS,
      (k, t) => k.may('s', t) && k.unconfined && k.allTypes,
      async (tk, x) => ({
        ...(await call(tk, 'GET', `_history?_since=${encodeURIComponent(x.lastUpdated)}`)),
        target: x.id,
      }),
    ),
  ];
  return { interactions, searches };
}
