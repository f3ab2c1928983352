import type { Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';

/**
 * Paging over 10,000 matches while other requests create, update and delete matching resources: following `next`
 * links, every resource that matched at the start and was not deleted is seen exactly once, and no resource twice.
 */
const TOTAL = 10_000;
let server: Tributary;
const originals: string[] = [];

beforeAll(async () => {
  server = await startTestServer({ validateWrites: false });
  for (let batch = 0; batch < TOTAL / 1000; batch++) {
    await server.repo.transaction(async (tx) => {
      for (let i = 0; i < 1000; i++) {
        const n = batch * 1000 + i;
        const created = await tx.create<Patient>({
          resourceType: 'Patient',
          meta: { tag: [{ system: 'urn:paging', code: 'run' }] },
          name: [{ family: `Family${String(n % 97).padStart(3, '0')}` }],
        });
        originals.push(created.id as string);
      }
    });
  }
});
afterAll(async () => {
  await server?.close();
});

/** Creates, updates and deletes matching resources until stopped; returns the ids it deleted. */
function churn(stop: () => boolean): Promise<Set<string>> {
  const deleted = new Set<string>();
  return (async () => {
    let i = 0;
    while (!stop()) {
      i++;
      await server.repo.create<Patient>({
        resourceType: 'Patient',
        meta: { tag: [{ system: 'urn:paging', code: 'run' }] },
        name: [{ family: `Family${String(i % 97).padStart(3, '0')}` }],
      });
      const target = originals[(i * 7919) % TOTAL];
      const current = JSON.parse((await server.repo.read('Patient', target)).content as string) as Patient;
      await server.repo.update({ ...current, id: target, active: i % 2 === 0 });
      if (i % 10 === 0) {
        const victim = originals[(i * 104729) % TOTAL];
        if (await server.repo.delete('Patient', victim)) deleted.add(victim);
      }
    }
    return deleted;
  })();
}

async function walk(first: string): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let url: string | undefined = first;
  let pages = 0;
  while (url) {
    const res = await fhir(server, 'GET', url.slice(server.fhirBase.length + 1));
    expect(res.status).toBe(200);
    ids.push(...(res.body.entry ?? []).map((e: { resource: Patient }) => e.resource.id));
    url = res.body.link.find((l: { relation: string }) => l.relation === 'next')?.url;
    pages++;
  }
  return { ids, pages };
}

describe('paging while data changes', () => {
  it.each([
    ['default order', 'Patient?_tag=urn:paging|run&_count=500'],
    ['sorted by family, descending', 'Patient?_tag=urn:paging|run&_count=500&_sort=-family'],
  ])('%s: no result twice, none skipped', async (_label, query) => {
    let done = false;
    const writer = churn(() => done);
    let result: { ids: string[]; pages: number };
    try {
      result = await walk(`${server.fhirBase}/${query}`);
    } finally {
      done = true;
    }
    const deleted = await writer;
    const seen = new Set(result.ids);
    expect(result.ids.length, 'no resource seen twice').toBe(seen.size);
    const skipped = originals.filter((id) => !seen.has(id) && !deleted.has(id));
    expect(skipped, 'no original skipped').toEqual([]);
    expect(result.pages).toBeGreaterThanOrEqual(TOTAL / 500 - deleted.size / 500);
    for (const id of deleted)
      await server.repo.update({
        resourceType: 'Patient',
        id,
        meta: { tag: [{ system: 'urn:paging', code: 'run' }] },
        name: [{ family: 'Family000' }],
      } as Patient & { id: string });
  });

  it('previous links walk the same pages back', async () => {
    const forward: string[][] = [];
    let res = await fhir(server, 'GET', 'Patient?_tag=urn:paging|run&_count=1000&_sort=family');
    for (;;) {
      forward.push(res.body.entry.map((e: { resource: Patient }) => e.resource.id));
      const next = res.body.link.find((l: { relation: string }) => l.relation === 'next')?.url;
      if (!next) break;
      res = await fhir(server, 'GET', next.slice(server.fhirBase.length + 1));
    }
    const backward: string[][] = [forward[forward.length - 1]];
    for (;;) {
      const previous = res.body.link.find((l: { relation: string }) => l.relation === 'previous')?.url;
      if (!previous) break;
      res = await fhir(server, 'GET', previous.slice(server.fhirBase.length + 1));
      backward.unshift(res.body.entry.map((e: { resource: Patient }) => e.resource.id));
    }
    expect(backward).toEqual(forward);
  });
});
