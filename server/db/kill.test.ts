import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { postmasterPid, postmastersOf, tempDataDir } from '../../test/embedded-cluster.ts';
import { freePort } from '../../test/global-setup.ts';
import { fhir } from '../../test/harness.ts';
import { startServerProcess, type ServerProcess } from '../../test/server-process.ts';
import { until } from '../../test/until.ts';
import { isAlive } from './stale-postmaster.ts';

/*
 * The kill test of issue 13 item 13: `npm start`'s server process alone is SIGKILLed again and again on its embedded
 * Postgres. Its postmaster must not outlive it (the watchdog stops it; a restart that comes first stops it itself),
 * and every restart must come up, right away, on the same data. Printed: the restart times.
 */
const KILLS = 20;
const dataDir = tempDataDir('kill');
const clusterDir = join(dataDir, 'postgres');
let server: ServerProcess | undefined;

afterAll(() => {
  if (server && server.child.exitCode === null) server.child.kill('SIGKILL');
  for (const pid of postmastersOf(clusterDir)) process.kill(pid, 'SIGQUIT');
  rmSync(dataDir, { recursive: true, force: true });
});

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGKILL');
  await exited;
}

describe('SIGKILL of the server process', () => {
  it(
    `${KILLS} times: its Postgres never outlives it for long, and every restart is ready on the same data`,
    { timeout: 600_000 },
    async () => {
      const port = await freePort();
      const env = { DATABASE_URL: '', DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) };
      const base = { fhirBase: `http://127.0.0.1:${port}/fhir` };
      server = await startServerProcess('', port, env);
      const created = await fhir(base, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Survivor' }] });
      expect(created.status).toBe(201);

      const restartMs: number[] = [];
      for (let i = 0; i < KILLS; i++) {
        const postmaster = postmasterPid(clusterDir)!;
        expect(isAlive(postmaster)).toBe(true);
        await kill(server.child);
        if (i === 0) {
          // Left alone, the postmaster of a killed server stops by itself: its watchdog saw the server's pipe close.
          await until(async () => !isAlive(postmaster), 30_000, 'the postmaster of the killed server to stop');
          expect(postmastersOf(clusterDir)).toEqual([]);
        }
        // Every other restart comes at once, while the old postmaster may still be shutting down.
        const started = performance.now();
        server = await startServerProcess('', port, env);
        restartMs.push(performance.now() - started);
        expect(isAlive(postmaster)).toBe(false);
        expect(postmastersOf(clusterDir)).toEqual([postmasterPid(clusterDir)]);
        expect(server.stderr()).toBe('');
        const read = await fhir(base, 'GET', `Patient/${created.body.id}`);
        expect(read.status).toBe(200);
        expect(read.body.name).toEqual([{ family: 'Survivor' }]);
      }
      // Printed, not asserted: a restart is mostly Node loading the server, and its ≤ 3 s target is checked by
      // `npm run bench` (row "restart right after a SIGKILL") on a quiet machine; timed assertions here would only
      // measure how busy the CI box is.
      const sorted = [...restartMs].sort((a, b) => a - b);
      console.log(
        `kill test: ${KILLS} SIGKILLs; restart → /healthz 200, ms: ${restartMs.map(Math.round).join(', ')} ` +
          `(median ${Math.round(sorted[KILLS >> 1])}, max ${Math.round(sorted[KILLS - 1])}; load average ${loadavg()[0].toFixed(1)})`,
      );
    },
  );
});
