import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { postgresBinaries } from '../server/db/cluster-init.ts';

/**
 * A fresh DATA_DIR under the OS temp directory for a cluster of a test's own. It is made traversable: run as root,
 * the cluster belongs to the OS user `postgres`, which must be able to enter it.
 */
export function tempDataDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tributary-${prefix}-`));
  chmodSync(dir, 0o755);
  return dir;
}

/** The pid a cluster's postmaster.pid names, or undefined without one. */
export function postmasterPid(clusterDir: string): number | undefined {
  try {
    return Number(readFileSync(join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
}

/**
 * Pids of every running postmaster whose data directory (`-D`) is `clusterDir` (Linux: read from /proc). A child the
 * postmaster has just forked shows the same command line until it names itself; it is told apart by its parent.
 */
export function postmastersOf(clusterDir: string): number[] {
  const pids = postgresProcessesOf(clusterDir);
  return pids.filter((pid) => !pids.includes(parentOf(pid)));
}

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

function postgresProcessesOf(clusterDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const d = args.indexOf('-D');
    if (/(^|\/)postgres$/.test(args[0]) && d > 0 && resolve(args[d + 1]) === resolve(clusterDir))
      pids.push(Number(entry));
  }
  return pids;
}

/**
 * Runs the embedded binaries' `pg_ctl` on `clusterDir` (e.g. `stop -m immediate`, what an operator would type) as
 * the cluster's owner: pg_ctl refuses to run as root. Resolves with its output; rejects when it fails. Give `start`
 * a log file (`-l`), or the postmaster's log is lost.
 */
export async function pgCtl(clusterDir: string, ...args: string[]): Promise<string> {
  const { pg_ctl } = await postgresBinaries();
  const owner = statSync(clusterDir);
  const runAs = userInfo().uid === 0 ? { uid: owner.uid, gid: owner.gid } : {};
  return new Promise((done, fail) => {
    const child = spawn(pg_ctl, [...args, '-D', clusterDir], { ...runAs, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('error', fail);
    // 'exit', not 'close': a postmaster `pg_ctl start` leaves running holds the pipes open.
    child.once('exit', (code) =>
      code === 0 ? done(output) : fail(new Error(`pg_ctl ${args.join(' ')}: exit ${code}: ${output}`)),
    );
  });
}
