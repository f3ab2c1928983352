import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { EmbeddedPostgresError, lastLines, type RunAs } from './cluster-init.ts';
import { WATCHDOG_NAME } from './stale-postmaster.ts';

/** A postmaster started by startPostmaster. */
export interface Postmaster {
  /** The postmaster's process id. */
  pid: number;
  /** Settles when the postmaster has exited (asked to or not), with how it ended. */
  exited: Promise<string>;
  /** Asks for a fast shutdown and waits for it. */
  stop(): Promise<void>;
}

/**
 * The watchdog: a POSIX shell that starts Postgres (`"$@"`), prints its pid, and, when its own standard input
 * reaches end-of-file, asks Postgres for a fast shutdown (SIGINT). That standard input is a pipe from this Node
 * process, so end-of-file comes both when the server stops the cluster on purpose (it closes the pipe) and when the
 * server dies in any way, SIGKILL included (the kernel closes it): the embedded Postgres dies with its parent. Node
 * cannot set PR_SET_PDEATHSIG on a child, and a shell's `read` costs nothing while it waits. The shell then waits
 * for Postgres and exits with its status. `$1` is the owning Tributary's pid, for stale-postmaster.ts.
 */
const WATCHDOG = `
shift
exec 3<&0
"$@" </dev/null >/dev/null 3<&- &
pg=$!
echo "$pg"
{ read -r _ <&3; kill -INT "$pg" 2>/dev/null; } &
watch=$!
exec 3<&-
wait "$pg"
status=$?
kill "$watch" 2>/dev/null
exit "$status"
`;

/** Start-up output kept for error messages. */
const KEEP_OUTPUT = 8_000;

/**
 * Starts `postgres` on `clusterDir` under the watchdog (in its own session, so a terminal's Ctrl-C reaches only the
 * server, which then stops the cluster itself) and resolves once the postmaster accepts connections (its
 * postmaster.pid says `ready`). If it exits first, the promise rejects with its last log lines (e.g. the port is
 * taken). Postgres's log lines go to `log`.
 */
export async function startPostmaster(
  postgres: string,
  clusterDir: string,
  args: string[],
  runAs: RunAs | undefined,
  log: (line: string) => void,
): Promise<Postmaster> {
  const child = spawn(
    '/bin/sh',
    ['-c', WATCHDOG, WATCHDOG_NAME, String(process.pid), postgres, '-D', clusterDir, ...args],
    {
      ...runAs,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_MESSAGES: 'C' },
    },
  );
  // Ending the pipe of a shell that has already exited fails with EPIPE: nothing to do then.
  child.stdin.on('error', () => {});
  let output = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    output = (output + chunk).slice(-KEEP_OUTPUT);
    for (const line of chunk.split('\n')) if (line.trim()) log(line.trim());
  });
  const exited = new Promise<string>((done) => {
    child.once('error', (err) => done(err.message));
    child.once('exit', (code, signal) => done(signal ? `signal ${signal}` : `exit code ${code}`));
  });
  const pid = await new Promise<number | undefined>((done) => {
    child.stdout.setEncoding('utf8').once('data', (d: string) => done(Number.parseInt(d, 10)));
    void exited.then(() => done(undefined));
  });
  const stop = async () => {
    child.stdin.end();
    await exited;
  };
  const failed = (how: string) =>
    new EmbeddedPostgresError(`The embedded Postgres (${clusterDir}) did not start (${how}): ${whyItFailed(output)}`);
  if (!pid) throw failed(await exited);
  let ended: string | undefined;
  void exited.then((how) => (ended = how));
  while (!(await isReady(clusterDir, pid))) {
    if (ended !== undefined) throw failed(ended);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { pid, exited, stop };
}

/** Whether postmaster.pid is this postmaster's and says it accepts connections (line 8, PM_STATUS_READY). */
async function isReady(clusterDir: string, pid: number): Promise<boolean> {
  const lines = await readFile(resolve(clusterDir, 'postmaster.pid'), 'utf8').then(
    (t) => t.split('\n'),
    () => [],
  );
  return Number(lines[0]) === pid && lines[7]?.trim() === 'ready';
}

/**
 * The lines of Postgres's start-up log that say why it stopped (its FATAL, ERROR and HINT lines, and the LOG line of
 * a failed bind, without their time stamps), or its last lines when none does.
 */
function whyItFailed(output: string): string {
  const lines = output
    .split('\n')
    .map((line) => /\b((?:FATAL|PANIC|ERROR|HINT|LOG):.*)$/.exec(line)?.[1])
    .filter((line): line is string => !!line && (!line.startsWith('LOG:') || line.includes('could not bind')))
    .map((line) => line.replace(/:\s+/, ': '));
  return lines.length ? lines.join(' / ') : lastLines(output);
}
