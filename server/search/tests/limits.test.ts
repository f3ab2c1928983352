import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import type { Repository } from '../../core/repository.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { loadSearchConfig } from '../config.ts';
import { executeSearch } from '../engine.ts';
import { parseSearch } from '../parse.ts';

/**
 * Issue 13 item 7: the pathological searches an outside probe found (exponential untyped chains, nested `_has`,
 * hundreds of parameters, values or sort keys) answer 400 `too-costly` naming the limit, with the default limits;
 * searches at the limits answer with their matches. Every door that parses a search (search, conditional writes,
 * Bundle entries) has the limits.
 */
let server: Tributary;

const repeat = (part: string, n: number, sep: string) => Array.from({ length: n }, () => part).join(sep);
/** `_has:Observation:has-member:` nested n times (Observations that have-member an Observation that …). */
const nestedHas = (n: number) => repeat('_has:Observation:has-member', n, ':');

beforeAll(async () => {
  server = await startTestServer();
  const put = async (resource: Resource) => {
    const res = await fhir(server, 'PUT', `${resource.resourceType}/${resource.id}`, resource);
    if (res.status >= 300) throw new Error(`${resource.resourceType}/${resource.id}: ${JSON.stringify(res.body)}`);
  };
  const code = { text: 'test' };
  await put({ resourceType: 'Patient', id: 'lim-p', name: [{ family: 'Limitson', given: ['Ada'] }], gender: 'female' });
  // o1 part-of p1 part-of p2 part-of o0 (final): Observation?part-of.part-of.part-of.status=final finds o1.
  await put({ resourceType: 'Observation', id: 'lim-o0', status: 'final', code });
  await put({
    resourceType: 'Procedure',
    id: 'lim-p2',
    status: 'completed',
    subject: { reference: 'Patient/lim-p' },
    partOf: [{ reference: 'Observation/lim-o0' }],
  });
  await put({
    resourceType: 'Procedure',
    id: 'lim-p1',
    status: 'completed',
    subject: { reference: 'Patient/lim-p' },
    partOf: [{ reference: 'Procedure/lim-p2' }],
  });
  await put({
    resourceType: 'Observation',
    id: 'lim-o1',
    status: 'preliminary',
    code,
    partOf: [{ reference: 'Procedure/lim-p1' }],
  });
  // c (final) has-member b has-member a, whose subject is the patient: three nested _has from Patient find it.
  await put({
    resourceType: 'Observation',
    id: 'lim-a',
    status: 'preliminary',
    code,
    subject: { reference: 'Patient/lim-p' },
  });
  await put({
    resourceType: 'Observation',
    id: 'lim-b',
    status: 'preliminary',
    code,
    hasMember: [{ reference: 'Observation/lim-a' }],
  });
  await put({
    resourceType: 'Observation',
    id: 'lim-c',
    status: 'final',
    code,
    hasMember: [{ reference: 'Observation/lim-b' }],
  });
  await put({
    resourceType: 'List',
    id: 'lim-list',
    status: 'current',
    mode: 'working',
    entry: [{ item: { reference: 'Patient/lim-p' } }],
  });
});
afterAll(async () => {
  await server?.close();
});

const ids = (body: any) =>
  (body.entry ?? [])
    .filter((e: any) => e.search?.mode === 'match')
    .map((e: any) => e.resource.id)
    .sort();

describe('search limits', () => {
  it('uses the documented defaults', () => {
    expect(loadSearchConfig({})).toEqual({
      timeoutMs: 5000,
      poolSize: 10,
      maxQueryLength: 8192,
      maxParameters: 50,
      maxValues: 100,
      maxChainDepth: 3,
      maxHasDepth: 3,
      maxChainTargets: 128,
      maxSortKeys: 5,
    });
  });

  it.each([
    ['8-link untyped chain', `Observation?${repeat('part-of', 8, '.')}.status=final`, 'SEARCH_MAX_CHAIN_DEPTH'],
    ['6-link untyped chain', `Observation?${repeat('part-of', 6, '.')}.status=final`, 'SEARCH_MAX_CHAIN_DEPTH'],
    [
      '4-link chain (was a 500: bind message parameter formats)',
      `Library?${repeat('derived-from', 4, '.')}.url=x`,
      'SEARCH_MAX_CHAIN_DEPTH',
    ],
    ['2-link chain through Reference(Any)', 'Library?derived-from.derived-from.url=x', 'SEARCH_MAX_CHAIN_TARGETS'],
    ['13 nested _has', `Observation?${nestedHas(13)}:status=final`, 'SEARCH_MAX_HAS_DEPTH'],
    ['50 nested _has', `Observation?${nestedHas(50)}:status=final`, 'SEARCH_MAX_HAS_DEPTH'],
    ['300 ANDed code=', `Observation?${repeat('code=1234-5', 300, '&')}`, 'SEARCH_MAX_PARAMETERS'],
    ['1,000 name=', `Patient?${repeat('name=x', 1000, '&')}`, 'SEARCH_MAX_PARAMETERS'],
    [
      '101 ORed values',
      `Patient?_id=${Array.from({ length: 101 }, (_, i) => `id-${i}`).join(',')}`,
      'SEARCH_MAX_VALUES',
    ],
    [
      '51 values ORed and ANDed',
      `Patient?name=${repeat('a', 51, ',')}&name=${repeat('b', 50, ',')}`,
      'SEARCH_MAX_VALUES',
    ],
    ['_sort with 200 keys', `Patient?_sort=${repeat('_id', 200, ',')}`, 'SEARCH_MAX_SORT_KEYS'],
    ['a 9,000-character query', `Patient?name=${'x'.repeat(9000)}`, 'SEARCH_MAX_QUERY_LENGTH'],
    ['system search with a chain on every type', '?subject.name=x', 'SEARCH_MAX_CHAIN_TARGETS'],
  ])('%s → 400 too-costly (%s)', async (_, query, setting) => {
    const res = await fhir(server, 'GET', query);
    expect(res.status).toBe(400);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(res.body.issue[0].code).toBe('too-costly');
    expect(res.body.issue[0].diagnostics).toContain(setting);
  });

  it.each([
    ['a 3-link untyped chain (30 branches)', `Observation?${repeat('part-of', 3, '.')}.status=final`, ['lim-o1']],
    ['3 nested _has', `Patient?_has:Observation:subject:${nestedHas(2)}:status=final`, ['lim-p']],
    ['a typed chain through Reference(Any)', 'List?item:Patient.name=Limitson', ['lim-list']],
    ['50 parameters', `Patient?${repeat('name=Limitson', 50, '&')}`, ['lim-p']],
    ['100 values', `Patient?_id=lim-p,${Array.from({ length: 99 }, (_, i) => `id-${i}`).join(',')}`, ['lim-p']],
    ['5 sort keys', 'Patient?_sort=name,-birthdate,gender,_id,-_lastUpdated', ['lim-p']],
  ])('%s at the limit answers its matches', async (_, query, expected) => {
    const res = await fhir(server, 'GET', query);
    expect(res.status).toBe(200);
    expect(ids(res.body)).toEqual(expected);
  });

  it('checks criteria past the eighth (planned row by row, not as joins) like the others', async () => {
    const nine = repeat('name=Limitson', 9, '&');
    expect(ids((await fhir(server, 'GET', `Patient?${nine}&gender=female&_total=accurate`)).body)).toEqual(['lim-p']);
    const none = await fhir(server, 'GET', `Patient?${nine}&gender=male&_total=accurate`);
    expect(ids(none.body)).toEqual([]);
    expect(none.body.total).toBe(0);
    expect(ids((await fhir(server, 'GET', `Patient?${nine}&_id:not=lim-p`)).body)).toEqual([]);
  });

  it('refuses a query over the length limit sent as a POST _search body too', async () => {
    const res = await fhir(server, 'POST', 'Patient/_search', `name=${'y'.repeat(9000)}`, {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(res.status).toBe(400);
    expect(res.body.issue[0].diagnostics).toContain('SEARCH_MAX_QUERY_LENGTH');
  });

  it('applies to conditional writes and to Bundle entries', async () => {
    const conditional = await fhir(
      server,
      'POST',
      'Observation',
      { resourceType: 'Observation', status: 'final', code: { text: 'x' } },
      {
        'if-none-exist': `${repeat('part-of', 8, '.')}.status=final`,
      },
    );
    expect(conditional.status).toBe(400);
    expect(conditional.body.issue[0].code).toBe('too-costly');
    const batch = await fhir(server, 'POST', '', {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [{ request: { method: 'GET', url: `Library?${repeat('derived-from', 4, '.')}.url=x` } }],
    });
    expect(batch.status).toBe(200);
    expect(batch.body.entry[0].response.status).toMatch(/^400/);
  });

  it('asks the planner once per nested _has level, not twice per level below it', async () => {
    const statements: string[] = [];
    const repo = Object.create(server.repo) as Repository;
    repo.query = ((text: string, values: unknown[]) => {
      statements.push(text);
      return server.repo.query(text, values);
    }) as Repository['query'];
    const query = { [`_has:Observation:subject:${nestedHas(2)}:status`]: ['final'] };
    const page = await executeSearch({ repo, baseUrl: server.fhirBase }, parseSearch(['Patient'], query, 'strict'));
    expect(page.matches.map((m) => m.id)).toEqual(['lim-p']);
    const probes = statements.filter((s) => s.startsWith('EXPLAIN') && !s.includes('t.resource_type = $1'));
    expect(probes).toHaveLength(3);
  });
});
