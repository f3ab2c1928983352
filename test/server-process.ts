import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** How the server is started: `npm start` (from source) or `npm run start:built` (the build in `dist/`). */
export type StartScript = 'start' | 'start:built';

/**
 * The node arguments of `npm start` (package.json's `start` script, `node <options> server/main.ts`), so that the
 * processes tests kill and benchmarks measure run exactly as `npm start` runs the server (heap settings included);
 * or those of `start:built` (`node <options> dist/server/main.js`).
 */
export function startArgs(script: StartScript = 'start'): string[] {
  const pkg = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const [command, ...args] = pkg.scripts[script].trim().split(/\s+/);
  const main = script === 'start' ? 'server/main.ts' : 'dist/server/main.js';
  if (command !== 'node' || args.at(-1) !== main)
    throw new Error(`Unexpected ${script} script: ${pkg.scripts[script]}`);
  return args;
}

/** A `server/main.ts` started as its own OS process (crash tests SIGKILL it). */
export interface ServerProcess {
  child: ChildProcess;
  /** What the process wrote to stderr so far. */
  stderr(): string;
  /** Its log lines (pino JSON on stdout) so far, the last 1 MB at most. */
  logs(): string;
}

/**
 * Starts `server/main.ts` as a child process on `databaseUrl` and `port` and waits until `/healthz` answers 200.
 * Authorization is off unless `env` turns it on (as in startTestServer). The child gets a clean configuration: vitest's own variables (it sets `BASE_URL=/` for Vite) are not passed on.
 */
export async function startServerProcess(
  databaseUrl: string,
  port: number,
  env: Record<string, string> = {},
  script: StartScript = 'start',
): Promise<ServerProcess> {
  const { BASE_URL: _vite, ...inherited } = process.env;
  // A port found free a moment ago may be taken by another test's server meanwhile: only this child's answer counts.
  const instance = randomUUID();
  const child = spawn(process.execPath, startArgs(script), {
    cwd: ROOT,
    env: {
      ...inherited,
      DATABASE_URL: databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      INSTANCE_ID: instance,
      AUTH: 'off',
      MLLP_PORT: '0', // a free port: server processes of tests run side by side
      MQTT_PORT: '0',
      // Small pools: test servers run side by side on one Postgres (the machine's allows 100 connections).
      DB_POOL_SIZE: '6',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let logs = '';
  child.stderr?.on('data', (d) => (stderr += d));
  child.stdout?.on('data', (d) => (logs = (logs + d).slice(-1_000_000)));
  const deadline = Date.now() + 60_000;
  let health = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited early: ${stderr}`);
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      async (r) => {
        health = `${r.status} ${await r.text()}`;
        return r.status === 200 && (JSON.parse(health.slice(4)) as { instance?: string }).instance === instance;
      },
      (err: Error) => ((health = err.message), false),
    );
    if (ok) return { child, stderr: () => stderr, logs: () => logs };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`server did not become ready (last /healthz: ${health}): ${stderr}\n${logs.slice(-4000)}`);
}
