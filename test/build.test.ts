import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './global-setup.ts';
import { createTestDatabase, dropTestDatabase, fhir } from './harness.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';
import { until } from './until.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * The production build: `npm run build` compiles the server to `dist/` (no TypeScript at boot), and
 * `npm run start:built` (what the Dockerfile runs) serves FHIR and runs a built-in bot in its worker thread from it.
 */
describe('npm run build', () => {
  let server: ServerProcess;
  let databaseUrl: string;
  let fhirBase: string;

  beforeAll(async () => {
    await promisify(execFile)('npm', ['run', 'build'], { cwd: ROOT, timeout: 180_000 });
    databaseUrl = await createTestDatabase('build');
    const port = await freePort();
    fhirBase = `http://127.0.0.1:${port}/fhir`;
    server = await startServerProcess(databaseUrl, port, { BOTS: 'flag-out-of-range' }, 'start:built');
  }, 240_000);
  afterAll(async () => {
    server?.child.kill('SIGTERM');
    if (server) await new Promise((resolve) => server.child.once('exit', resolve));
    if (databaseUrl) await dropTestDatabase(databaseUrl);
  });

  it('runs the compiled server: CapabilityStatement, writes, and a bot in a worker thread', async () => {
    const metadata = await fhir({ fhirBase }, 'GET', 'metadata');
    expect(metadata.status).toBe(200);
    expect(metadata.body.software).toMatchObject({
      name: 'Tributary',
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
    });
    const range = { referenceRange: [{ high: { value: 140, unit: 'mmHg' } }] };
    const created = await fhir({ fhirBase }, 'POST', 'Observation', {
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'systolic' },
      valueQuantity: { value: 182, unit: 'mmHg' },
      ...range,
    });
    expect(created.status).toBe(201);
    const flagged = await until(async () => {
      const o = (await fhir({ fhirBase }, 'GET', `Observation/${created.body.id}`)).body;
      return o.meta.versionId === '2' && o;
    });
    expect(flagged.interpretation[0].coding[0].code).toBe('H');
    expect(server.stderr()).not.toMatch(/tsx|ERR_/);
  });
});
