import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import type { Repository } from '../../core/repository.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { executeSearch } from '../engine.ts';
import { encodeCursor, parseSearch } from '../parse.ts';

/**
 * `_has` is answered two ways (where.ts, probeTargets): with more matching sources than targets it checks targets one
 * by one in order, otherwise it collects the targets of the matching sources. Each must give the right matches, pages
 * and totals; the data makes the estimates pick each way for one code.
 */
const PATIENTS = 6;
let server: Tributary;

beforeAll(async () => {
  server = await startTestServer({ validateWrites: false });
  const obs = (id: string, patient: number, code: string): Resource =>
    ({
      resourceType: 'Observation',
      id,
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code }] },
      subject: { reference: `Patient/has-${patient}` },
    }) as Resource;
  for (let p = 0; p < PATIENTS; p++) {
    await fhir(server, 'PUT', `Patient/has-${p}`, { resourceType: 'Patient', id: `has-${p}` });
    // "common": three per patient except the last (more sources than patients); "rare": one, on patient 2.
    for (let i = 0; p < PATIENTS - 1 && i < 3; i++)
      await fhir(server, 'PUT', `Observation/c-${p}-${i}`, obs(`c-${p}-${i}`, p, 'common'));
  }
  await fhir(server, 'PUT', 'Observation/rare-1', obs('rare-1', 2, 'rare'));
  // Contained Observations carry index rows too; they never make their patient match.
  const contained = Array.from({ length: 2 * PATIENTS }, (_, i) => ({
    ...obs(`in-${i}`, PATIENTS - 1, 'contained-only'),
    id: `in-${i}`,
  }));
  await fhir(server, 'PUT', 'DiagnosticReport/dr-1', {
    resourceType: 'DiagnosticReport',
    id: 'dr-1',
    status: 'final',
    code: { text: 'panel' },
    contained,
    result: contained.map((c) => ({ reference: `#${c.id}` })),
  });
  await server.repo.query('ANALYZE', []);
});
afterAll(async () => {
  await server?.close();
});

/** Runs a Patient search in-process and returns the matched ids, the total and the SQL it ran. */
async function search(query: string): Promise<{ ids: string[]; total?: number; next?: string; sql: string[] }> {
  const sql: string[] = [];
  const repo = Object.create(server.repo) as Repository;
  repo.query = ((text: string, values: unknown[]) => {
    sql.push(text);
    return server.repo.query(text, values);
  }) as Repository['query'];
  const params: Record<string, string[]> = {};
  for (const [k, v] of new URLSearchParams(query)) (params[k] ??= []).push(v);
  const page = await executeSearch({ repo, baseUrl: server.fhirBase }, parseSearch(['Patient'], params, 'strict'));
  return { ids: page.matches.map((m) => m.id), total: page.total, next: page.next && encodeCursor(page.next), sql };
}

const probes = (sql: string[]) => sql.some((s) => s.includes('OFFSET 0'));

describe('_has plans', () => {
  it('checks patients one by one for a code most patients have, with the same pages and total', async () => {
    const first = await search('_has:Observation:patient:code=common&_count=3&_total=accurate');
    expect(probes(first.sql)).toBe(true);
    expect(first.ids).toEqual(['has-0', 'has-1', 'has-2']);
    expect(first.total).toBe(PATIENTS - 1);
    const second = await search(
      `_has:Observation:patient:code=common&_count=3&_cursor=${encodeURIComponent(first.next as string)}`,
    );
    expect(second.ids).toEqual(['has-3', 'has-4']);
    expect(second.next).toBeUndefined();
  });

  it('collects the patients of a rare code', async () => {
    const rare = await search('_has:Observation:patient:code=rare&_total=accurate');
    expect(probes(rare.sql)).toBe(false);
    expect(rare.ids).toEqual(['has-2']);
    expect(rare.total).toBe(1);
  });

  it('never matches through contained resources, whichever way', async () => {
    const contained = await search('_has:Observation:patient:code=contained-only&_total=accurate');
    expect(probes(contained.sql)).toBe(true);
    expect(contained.ids).toEqual([]);
    expect(contained.total).toBe(0);
  });

  it('combines with other criteria either way', async () => {
    expect((await search('_has:Observation:patient:code=common&_id=has-4,has-5')).ids).toEqual(['has-4']);
    expect((await search('_has:Observation:patient:code=rare&_id=has-2,has-3')).ids).toEqual(['has-2']);
  });
});
