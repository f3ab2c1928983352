import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTributary, type Tributary } from '../app.ts';
import { loadConfig } from '../config.ts';
import { createTestDatabase, dropTestDatabase, fhir } from '../../test/harness.ts';

/** Every JSON line the server logged, parsed. */
const logLines: Record<string, any>[] = [];
let server: Tributary;
let databaseUrl: string;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) logLines.push(JSON.parse(line));
      done();
    },
  });
  databaseUrl = await createTestDatabase();
  const config = { ...loadConfig({ AUTH: 'off', MLLP_PORT: '0' }), port: 0, host: '127.0.0.1', databaseUrl };
  server = await startTributary(config, pino({ level: 'info' }, sink));
});
afterAll(async () => {
  await server?.close();
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

/** Samples of a Prometheus text exposition: metric name, labels, value. */
function samples(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(l);
      if (!m) throw new Error(`not a sample line: ${l}`);
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      return { name: m[1], labels, value: Number(m[3]) };
    });
}

describe('logs and metrics', () => {
  it('logs JSON lines carrying the request id, taken from X-Request-Id when given and echoed back', async () => {
    const given = await fhir(server, 'GET', 'Patient/does-not-exist', undefined, { 'x-request-id': 'trace-abc.123' });
    expect(given.status).toBe(404);
    expect(given.headers.get('x-request-id')).toBe('trace-abc.123');
    const mine = logLines.filter((l) => l.req?.id === 'trace-abc.123');
    expect(mine.map((l) => l.msg)).toEqual(['request refused', 'request completed']);
    expect(mine[0]).toMatchObject({ level: 30, status: 404 });
    expect(mine[1]).toMatchObject({ res: { statusCode: 404 } });

    const made = await fhir(server, 'GET', 'metadata', undefined, { 'x-request-id': 'not ok: has spaces' });
    const id = made.headers.get('x-request-id') as string;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(logLines.filter((l) => l.req?.id === id).map((l) => l.msg)).toEqual(['request completed']);
    // Every line logged for a request carries its id.
    expect(logLines.filter((l) => l.req && !l.req.id)).toEqual([]);
  });

  it('serves request counts and latency by interaction and resource type, and DB pool gauges, at /metrics', async () => {
    const created = await fhir(server, 'POST', 'Practitioner', { resourceType: 'Practitioner', active: true });
    expect(created.status).toBe(201);
    for (let i = 0; i < 3; i++) expect((await fhir(server, 'GET', `Practitioner/${created.body.id}`)).status).toBe(200);
    expect((await fhir(server, 'GET', 'Observation?code=1234-5')).status).toBe(200);

    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const all = samples(await res.text());
    const one = (name: string, labels: Record<string, string>) => {
      const found = all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
      return found[0].value;
    };
    expect(
      one('tributary_requests_total', { interaction: 'create', resource_type: 'Practitioner', status: '201' }),
    ).toBe(1);
    expect(one('tributary_requests_total', { interaction: 'read', resource_type: 'Practitioner', status: '200' })).toBe(
      3,
    );
    expect(
      one('tributary_requests_total', { interaction: 'search-type', resource_type: 'Observation', status: '200' }),
    ).toBe(1);
    expect(
      one('tributary_request_duration_seconds_count', { interaction: 'read', resource_type: 'Practitioner' }),
    ).toBe(3);
    expect(
      one('tributary_request_duration_seconds_bucket', {
        interaction: 'read',
        resource_type: 'Practitioner',
        le: '+Inf',
      }),
    ).toBe(3);
    expect(
      one('tributary_request_duration_seconds_sum', { interaction: 'read', resource_type: 'Practitioner' }),
    ).toBeGreaterThan(0);
    expect(one('tributary_db_pool_total', {})).toBeGreaterThanOrEqual(1);
    expect(one('tributary_db_pool_idle', {})).toBeGreaterThanOrEqual(0);
    expect(one('tributary_db_pool_waiting', {})).toBe(0);
  });
});
