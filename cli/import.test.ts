import type { Bundle } from '@medplum/fhirtypes';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../server/app.ts';
import { fhir, startTestServer } from '../test/harness.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = join(ROOT, 'bin/tributary.mjs');
const SYNTHEA = join(ROOT, 'test/fixtures/synthea');
const NDJSON = join(ROOT, 'test/fixtures/bulk-ndjson');

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `tributary import …` (bin/tributary.mjs) as its own process in `cwd`, where it keeps its state file. */
function startCli(cwd: string, args: string[]): { child: ChildProcess; done: Promise<CliRun> } {
  const { TRIBUTARY_TOKEN: _t, TRIBUTARY_CLIENT_ID: _i, TRIBUTARY_CLIENT_SECRET: _s, ...env } = process.env;
  const child = spawn(process.execPath, [BIN, 'import', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const done = new Promise<CliRun>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

const runCli = (cwd: string, args: string[]) => startCli(cwd, args).done;

/** Resources per type in the fixtures: Bundle entries, and NDJSON lines (typed by their file name). */
function expectedCounts(dirs: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const dir of dirs) {
    for (const f of readdirSync(dir)) {
      const raw = readFileSync(join(dir, f));
      const text = () => (f.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
      if (/\.json(\.gz)?$/.test(f)) {
        for (const e of (JSON.parse(text()) as Bundle).entry ?? [])
          counts[e.resource!.resourceType] = (counts[e.resource!.resourceType] ?? 0) + 1;
      } else if (/\.ndjson(\.gz)?$/.test(f)) {
        const type = f.split('.')[0];
        counts[type] =
          (counts[type] ?? 0) +
          text()
            .split('\n')
            .filter((l) => l.trim()).length;
      }
    }
  }
  return counts;
}

let server: Tributary;
let work: string;

async function serverCounts(s: Tributary, types: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const type of types) counts[type] = (await fhir(s, 'GET', `${type}?_summary=count&_total=accurate`)).body.total;
  return counts;
}

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('tributary import', () => {
  it('loads Synthea transaction Bundles and NDJSON, resolves conditional references to later files, and skips everything on a re-run', async () => {
    work = mkdtempSync(join(tmpdir(), 'tributary-import-'));
    const data = join(work, 'data');
    cpSync(SYNTHEA, join(data, 'synthea'), { recursive: true });
    cpSync(NDJSON, join(data, 'bulk'), { recursive: true });
    const expected = expectedCounts([SYNTHEA, NDJSON]);
    const total = Object.values(expected).reduce((a, b) => a + b, 0);

    const first = await runCli(work, ['data', '--url', server.fhirBase]);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toContain('files: 8 (8 finished now, 0 skipped');
    expect(first.stdout).toMatch(new RegExp(`resources: ${total} in [\\d.]+ s \\(\\d+ resources/s\\)`));
    expect(first.stdout).not.toContain('failures');
    expect(await serverCounts(server, Object.keys(expected))).toEqual(expected);
    expect(readdirSync(work).filter((f) => /^\.import-state-[0-9a-f]{12}\.json$/.test(f))).toHaveLength(1);

    // NDJSON ids are kept; the encounters' conditional references (read before the practitioners' file) resolved.
    const encounterLine = gunzipSync(readFileSync(join(NDJSON, 'Encounter.000.ndjson.gz')))
      .toString()
      .split('\n')[0];
    const id = JSON.parse(encounterLine).id;
    const encounter = (await fhir(server, 'GET', `Encounter/${id}`)).body;
    expect(encounter.participant[0].individual.reference).toMatch(/^Practitioner\/[\w-]+$/);
    expect(encounter.serviceProvider.reference).toMatch(/^Organization\/[\w-]+$/);

    const again = await runCli(work, ['data', '--url', server.fhirBase]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain('files: 8 (0 finished now, 8 skipped as finished earlier');
    expect(again.stdout).toContain('resources: 0 ');
    expect(await serverCounts(server, Object.keys(expected))).toEqual(expected);
  });

  it('resumes an interrupted import where it stopped, sending no transaction twice', async () => {
    const s = await startTestServer();
    const dir = mkdtempSync(join(tmpdir(), 'tributary-resume-'));
    try {
      cpSync(SYNTHEA, join(dir, 'data/a'), { recursive: true });
      cpSync(NDJSON, join(dir, 'data/b'), { recursive: true });
      const expected = expectedCounts([SYNTHEA, NDJSON]);
      const args = ['data', '--url', s.fhirBase, '--concurrency', '1', '--batch-size', '1'];
      const { child, done } = startCli(dir, args);
      // Interrupt once the first Bundle is recorded as finished: at most the one in flight finishes after it.
      const stateFile = () => readdirSync(dir).find((f) => f.startsWith('.import-state-'));
      const finishedFiles = () => {
        const f = stateFile();
        if (!f) return 0;
        try {
          return Object.values(
            JSON.parse(readFileSync(join(dir, f), 'utf8')).files as Record<string, { done: boolean }>,
          ).filter((p) => p.done).length;
        } catch {
          return 0;
        }
      };
      while (finishedFiles() === 0 && child.exitCode === null) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGINT');
      const interrupted = await done;
      expect(interrupted.code, interrupted.stdout + interrupted.stderr).toBe(130);
      expect(interrupted.stdout).toContain('stopped: interrupted; run the same command again to resume');
      const partial = await serverCounts(s, Object.keys(expected));
      expect(partial.Patient).toBeGreaterThanOrEqual(1);
      expect(partial.Patient).toBeLessThan(expected.Patient);

      const resumed = await runCli(dir, args);
      expect(resumed.code, resumed.stdout + resumed.stderr).toBe(0);
      expect(resumed.stdout).toMatch(/files: 8 \(\d finished now, [1-2] skipped as finished earlier, 0 not finished\)/);
      expect(await serverCounts(s, Object.keys(expected))).toEqual(expected);
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports bad lines, refused resources and refused Bundles with their reasons, imports the rest, and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-failures-'));
    try {
      const patient = (id: string, extra: object = {}) => JSON.stringify({ resourceType: 'Patient', id, ...extra });
      mkdirSync(join(dir, 'in'));
      writeFileSync(
        join(dir, 'in/patients.ndjson'),
        [
          patient('imp-ok-1'),
          '{not json',
          '',
          '{"resourceType":"Patient"}',
          patient('imp-bad', { gender: 'robot' }),
          patient('imp-ok-2'),
        ].join('\n'),
      );
      const identifier = [{ system: 'urn:test:import', value: 'refused-transaction' }];
      const noCode = { resourceType: 'Observation', status: 'final' };
      const bundle = (type: 'transaction' | 'batch') => ({
        resourceType: 'Bundle',
        type,
        entry: [
          {
            resource: { resourceType: 'Patient', identifier, active: type === 'batch' },
            request: { method: 'POST', url: 'Patient' },
          },
          { resource: noCode, request: { method: 'POST', url: 'Observation' } },
        ],
      });
      writeFileSync(join(dir, 'in/refused-transaction.json'), JSON.stringify(bundle('transaction')));
      writeFileSync(join(dir, 'in/half-batch.json'), JSON.stringify(bundle('batch')));
      writeFileSync(join(dir, 'in/not-a-bundle.json'), patient('imp-lonely'));

      const run = await runCli(dir, ['in', '--url', server.fhirBase]);
      expect(run.code, run.stdout + run.stderr).toBe(1);
      const out = run.stdout;
      expect(out).toContain('failures (6):');
      expect(out).toMatch(/in\/patients\.ndjson:2 {2}invalid JSON: /);
      expect(out).toMatch(/in\/patients\.ndjson:4 {2}Patient without a valid id/);
      expect(out).toMatch(
        /in\/patients\.ndjson:5 {2}400 .*Bundle\.entry\[1\] \(PUT Patient\/imp-bad\): Value "robot" is not in the required value set/,
      );
      expect(out).toMatch(/in\/refused-transaction\.json {2}(400|422) Bundle\.entry\[1\] \(POST Observation\): .*code/);
      expect(out).toMatch(/in\/half-batch\.json entry\[1\] {2}(400|422) .*code/);
      expect(out).toMatch(/in\/not-a-bundle\.json {2}not a transaction or batch Bundle/);
      expect(out).toContain('resources: 3 ');

      expect((await fhir(server, 'GET', 'Patient/imp-ok-1')).status).toBe(200);
      expect((await fhir(server, 'GET', 'Patient/imp-ok-2')).status).toBe(200);
      expect((await fhir(server, 'GET', 'Patient/imp-bad')).status).toBe(404);
      // The refused transaction left nothing behind; the batch's good entry went in.
      const patients = await fhir(server, 'GET', 'Patient?identifier=urn:test:import|refused-transaction');
      expect(patients.body.entry.map((e: any) => e.resource.active)).toEqual([true]);

      // Refusals are kept: a re-run sends nothing again, reports them again, and still exits 1.
      const again = await runCli(dir, ['in', '--url', server.fhirBase]);
      expect(again.code).toBe(1);
      expect(again.stdout).toContain('resources: 0 ');
      expect(again.stdout).toContain('failures recorded by earlier runs (files unchanged; --fresh to retry them) (6):');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gets a system/*.* token with --client-id/--client-secret when the server requires authorization', async () => {
    const secret = 'import-test-secret-0123456789abcdef';
    const s = await startTestServer({}, { AUTH: 'on', ADMIN_CLIENT_ID: 'importer', ADMIN_CLIENT_SECRET: secret });
    const dir = mkdtempSync(join(tmpdir(), 'tributary-auth-'));
    try {
      const refused = await runCli(dir, [NDJSON, '--url', s.fhirBase]);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(/stopped: the server answered 401: /);

      const run = await runCli(dir, [
        NDJSON,
        '--url',
        s.fhirBase,
        '--client-id',
        'importer',
        '--client-secret',
        secret,
      ]);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toContain('resources: 11 ');
      expect(existsSync(dir)).toBe(true);
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
