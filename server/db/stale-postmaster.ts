import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync, realpathSync, unlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { EmbeddedPostgresError } from './cluster-init.ts';

/** The name the watchdog shell runs under (`$0`), followed by the pid of the Tributary that owns it (postmaster.ts). */
export const WATCHDOG_NAME = 'tributary-pg-watchdog';

/** How long a leftover postmaster gets for each way of stopping it (fast, immediate, kill) before the next. */
const STOP_STEPS: [NodeJS.Signals, number][] = [
  ['SIGINT', 15_000],
  ['SIGQUIT', 5_000],
  ['SIGKILL', 5_000],
];

interface ProcessInfo {
  ppid: number;
  args: string[];
}

/**
 * Makes way for a new postmaster in `clusterDir`. A `postmaster.pid` whose process is a live postgres of this
 * directory is a cluster left running by a Tributary that died (SIGKILL, OOM kill, power cut of the node only): it
 * is stopped (a fast shutdown, then harder), unless the Tributary watching it is alive, which is refused with one
 * clear line (two servers on one DATA_DIR). A `postmaster.pid` whose pid now belongs to an unrelated process is
 * removed (Postgres would refuse to start on it). A dead pid is left to Postgres, which takes such files over itself.
 */
export async function clearStalePostmaster(clusterDir: string, log: Logger): Promise<void> {
  const pidFile = resolve(clusterDir, 'postmaster.pid');
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  const info = processInfo(pid);
  if (!info) return; // no way to tell on this platform: Postgres judges the file itself
  if (!isPostmasterOf(pid, info, clusterDir)) {
    log.warn({ pid, pidFile }, 'removing a stale postmaster.pid (its process id now belongs to another program)');
    unlinkSync(pidFile);
    return;
  }
  const owner = liveOwner(info);
  if (owner !== undefined) {
    throw new EmbeddedPostgresError(
      `${clusterDir} is in use by the embedded Postgres of another running Tributary (process ${owner}); stop it, or give this one another DATA_DIR`,
    );
  }
  log.warn({ pid, clusterDir }, 'stopping the embedded Postgres a previous Tributary process left running');
  for (const [signal, ms] of STOP_STEPS) {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
      throw new EmbeddedPostgresError(
        `A Postgres (process ${pid}) runs in ${clusterDir} and cannot be stopped by this user: ${(err as Error).message}`,
      );
    }
    if (await exited(pid, ms)) return;
  }
  throw new EmbeddedPostgresError(
    `A Postgres (process ${pid}) left running in ${clusterDir} does not stop; stop it and start again`,
  );
}

/** Whether a process exists (EPERM: it does, owned by someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function exited(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !isAlive(pid);
}

/** The process's parent and command line: from /proc on Linux, from `ps` elsewhere; undefined when unknown. */
function processInfo(pid: number): ProcessInfo | undefined {
  try {
    if (process.platform === 'linux') {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      return { ppid, args };
    }
    const line = execFileSync('ps', ['-o', 'ppid=', '-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    const [ppid, ...args] = line.split(/\s+/);
    return { ppid: Number(ppid), args };
  } catch {
    return undefined;
  }
}

/** A postgres program whose data directory (`-D`, or on Linux its working directory) is `clusterDir`. */
function isPostmasterOf(pid: number, info: ProcessInfo, clusterDir: string): boolean {
  if (!/(^|\/)postgres$/.test(info.args[0] ?? '')) return false;
  const same = (path: string) => samePath(path, clusterDir);
  const d = info.args.indexOf('-D');
  if (d >= 0 && info.args[d + 1]) return same(info.args[d + 1]);
  try {
    return same(readlinkSync(`/proc/${pid}/cwd`));
  } catch {
    return false;
  }
}

function samePath(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return resolve(p);
    }
  };
  return resolve(a) === resolve(b) || real(a) === real(b);
}

/**
 * The pid of a live Tributary (not this one) that runs the postmaster: the one its watchdog names, or its parent
 * when that is a Node process (versions before the watchdog started Postgres straight from Node).
 */
function liveOwner(postmaster: ProcessInfo): number | undefined {
  const parent = processInfo(postmaster.ppid);
  if (!parent) return undefined;
  const at = parent.args.indexOf(WATCHDOG_NAME);
  const owner =
    at >= 0 ? Number(parent.args[at + 1]) : /(^|\/)node$/.test(parent.args[0] ?? '') ? postmaster.ppid : undefined;
  return owner !== undefined && Number.isInteger(owner) && owner !== process.pid && isAlive(owner) ? owner : undefined;
}
