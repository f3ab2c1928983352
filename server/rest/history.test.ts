import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';

let server: Tributary;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

/** Follows `next` links from a first page URL and returns every page's entries. */
async function allPages(path: string, between?: (page: number) => Promise<void>): Promise<any[][]> {
  const pages: any[][] = [];
  let url: string | undefined = `${server.fhirBase}/${path}`;
  while (url) {
    const res: Response = await fetch(url, { headers: { accept: 'application/fhir+json' } });
    expect(res.status).toBe(200);
    const bundle: any = await res.json();
    expect(bundle.type).toBe('history');
    pages.push(bundle.entry ?? []);
    url = bundle.link.find((l: any) => l.relation === 'next')?.url;
    if (url && between) await between(pages.length);
  }
  return pages;
}

const versionKey = (e: any) => `${e.fullUrl}|${e.response.etag}`;

async function createDevice(extra: Record<string, unknown> = {}): Promise<any> {
  const res = await fhir(server, 'POST', 'Device', { resourceType: 'Device', ...extra });
  expect(res.status).toBe(201);
  return res.body;
}

describe('history', () => {
  it('pages instance history with _count: next links keep _count, cover every version once, newest first', async () => {
    const device = await createDevice();
    for (let v = 2; v <= 7; v++) {
      expect(
        (
          await fhir(server, 'PUT', `Device/${device.id}`, {
            resourceType: 'Device',
            id: device.id,
            lotNumber: `v${v}`,
          })
        ).status,
      ).toBe(200);
    }
    const pages = await allPages(`Device/${device.id}/_history?_count=3`);
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    const versions = pages.flat().map((e) => e.resource.meta.versionId);
    expect(versions).toEqual(['7', '6', '5', '4', '3', '2', '1']);
    const first = await fhir(server, 'GET', `Device/${device.id}/_history?_count=3`);
    const next = first.body.link.find((l: any) => l.relation === 'next').url;
    expect(new URL(next).searchParams.get('_count')).toBe('3');
    expect(first.body.link.find((l: any) => l.relation === 'first').url).toBe(
      `${server.fhirBase}/Device/${device.id}/_history?_count=3`,
    );
    expect(first.body.entry[0].request).toEqual({ method: 'PUT', url: `Device/${device.id}` });
    expect(pages[2][0].request).toEqual({ method: 'POST', url: 'Device' });
  });

  it('neither skips nor repeats entries while other clients write during paging', async () => {
    const type = 'Substance';
    const before: string[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await fhir(server, 'POST', type, { resourceType: type, code: { text: `s${i}` } });
      before.push(res.body.id);
    }
    const expected = (await fhir(server, 'GET', `${type}/_history?_count=100`)).body.entry.map(versionKey);
    expect(expected).toHaveLength(12);
    let writes = 0;
    const pages = await allPages(`${type}/_history?_count=5`, async () => {
      // New resources and new versions of already-paged and not-yet-paged resources, concurrently with paging.
      await Promise.all([
        fhir(server, 'POST', type, { resourceType: type, code: { text: `new${writes++}` } }),
        fhir(server, 'PUT', `${type}/${before[writes % 12]}`, {
          resourceType: type,
          id: before[writes % 12],
          code: { text: 'changed' },
        }),
        fhir(server, 'PUT', `${type}/${before[11 - (writes % 12)]}`, {
          resourceType: type,
          id: before[11 - (writes % 12)],
          code: { text: 'changed' },
        }),
      ]);
    });
    const seen = pages.flat().map(versionKey);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expected);
    const stamps = pages.flat().map((e) => Date.parse(e.response.lastModified));
    expect([...stamps].sort((a, b) => b - a)).toEqual(stamps);
  });

  it('_since keeps versions at or after the instant; _at keeps the versions current during the period', async () => {
    const d = await createDevice({ lotNumber: 'one' });
    await new Promise((r) => setTimeout(r, 5));
    const v2 = (await fhir(server, 'PUT', `Device/${d.id}`, { resourceType: 'Device', id: d.id, lotNumber: 'two' }))
      .body;
    await new Promise((r) => setTimeout(r, 5));
    const v3 = (await fhir(server, 'PUT', `Device/${d.id}`, { resourceType: 'Device', id: d.id, lotNumber: 'three' }))
      .body;

    const versionsOf = async (query: string) =>
      (await fhir(server, 'GET', `Device/${d.id}/_history?${query}`)).body.entry.map(
        (e: any) => e.resource.meta.versionId,
      );
    expect(await versionsOf(`_since=${encodeURIComponent(v2.meta.lastUpdated)}`)).toEqual(['3', '2']);
    const afterV3 = new Date(Date.parse(v3.meta.lastUpdated) + 1).toISOString();
    expect(await versionsOf(`_since=${encodeURIComponent(afterV3)}`)).toEqual([]);

    const betweenV1andV2 = new Date(Date.parse(v2.meta.lastUpdated) - 1).toISOString();
    expect(await versionsOf(`_at=${encodeURIComponent(betweenV1andV2)}`)).toEqual(['1']);
    expect(await versionsOf(`_at=${encodeURIComponent(v2.meta.lastUpdated)}`)).toEqual(['2']);
    expect(await versionsOf(`_at=${encodeURIComponent(afterV3)}`)).toEqual(['3']);
    const today = v3.meta.lastUpdated.slice(0, 10);
    expect(await versionsOf(`_at=${today}`)).toEqual(['3', '2', '1']);
    expect(await versionsOf('_at=1999')).toEqual([]);
  });

  it('includes deletions, answers 404 for unknown ids and refuses bad parameters with 400', async () => {
    const d = await createDevice();
    await fhir(server, 'DELETE', `Device/${d.id}`);
    const history = await fhir(server, 'GET', `Device/${d.id}/_history`);
    expect(history.body.entry[0].request.method).toBe('DELETE');
    expect(history.body.entry[0].resource).toBeUndefined();
    expect((await fhir(server, 'GET', 'Device/nope/_history')).status).toBe(404);
    for (const q of [
      '_count=-1',
      '_count=abc',
      '_since=yesterday',
      '_at=2024-13',
      '_since=2024-01-01T10:00:00',
      '_cursor=garbage',
      '_count=1&_count=2',
    ]) {
      const res = await fhir(server, 'GET', `Device/_history?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
    const none = await fhir(server, 'GET', 'Device/_history?_count=0');
    expect(none.status).toBe(200);
    expect(none.body.entry).toEqual([]);
    expect(none.body.link.some((l: any) => l.relation === 'next')).toBe(false);
  });

  it('system history spans resource types', async () => {
    const d = await createDevice();
    const s = (await fhir(server, 'POST', 'Substance', { resourceType: 'Substance', code: { text: 'sys' } })).body;
    const res = await fhir(server, 'GET', '_history?_count=2');
    expect(res.body.entry.map((e: any) => e.fullUrl)).toEqual([
      `${server.fhirBase}/Substance/${s.id}`,
      `${server.fhirBase}/Device/${d.id}`,
    ]);
  });
});
