/**
 * What authorization and auditing cost on the FHIR read path: `npx tsx bench/auth-audit.ts [seconds] [connections]
 * [rounds]` (defaults 3 s, 16 connections, 5 rounds; smoke test: `npx tsx bench/auth-audit.ts 1 2 1`). Starts three
 * servers — AUTH=off, AUTH on with AUDIT=off, AUTH on with AUDIT on — and runs `GET Patient/[id]` with autocannon (in
 * a worker thread, off the servers' event loop) against each in turn, round after round, so load from elsewhere on the
 * machine falls on all three alike. AUTH-on servers are read with the token of a backend client confined to
 * `system/Patient.rs system/Observation.rs`. Prints the median sustainable requests/s (events still in memory after a
 * run are written to the audit queue before the next one, and that time counts), p50 and p99 latency over the rounds,
 * the ratio to AUTH=off; then the rate when the indexing of the queued events into AuditEvent resources (which the
 * server does in the background, audit-indexer.ts) is counted too, and the AuditEvents written and dropped. Uses DATABASE_URL (an admin URL; a database is created per server and dropped
 * after) or an embedded Postgres.
 */
import autocannon from 'autocannon';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { startTributary, type Tributary } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { benchDatabase, benchPostgres } from './bench-db.ts';

const seconds = Number(process.argv[2] ?? 3);
const connections = Number(process.argv[3] ?? 16);
const rounds = Number(process.argv[4] ?? 5);
const ADMIN = { id: 'bench-admin', secret: 'bench-admin-secret-0123456789' };
const CONFINED_SCOPE = 'system/Patient.rs system/Observation.rs';

/** One server under test, with a patient to read and the headers to read it with. */
interface Variant {
  name: string;
  server: Tributary;
  url: string;
  headers: Record<string, string>;
  samples: { rps: number; withIndexing: number; p50: number; p99: number; cpu: number; cpuIndexing: number }[];
  /** CPU ms so far of this process and of the Postgres backends of the variant's database. */
  cpu: () => Promise<number>;
  close: () => Promise<void>;
}

/** CPU ms of a process so far (Linux /proc; 0 once it is gone). */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * (1000 / 100);
  } catch {
    return 0;
  }
}

async function startVariant(adminUrl: string, name: string, env: NodeJS.ProcessEnv): Promise<Variant> {
  const db = await benchDatabase(adminUrl);
  const config = {
    ...loadConfig({
      ...env,
      ADMIN_CLIENT_ID: ADMIN.id,
      ADMIN_CLIENT_SECRET: ADMIN.secret,
      API_RATE_LIMIT: '0',
      AUTH_RATE_LIMIT: '0',
    }),
    port: 0,
    host: '127.0.0.1',
    databaseUrl: db.url,
  };
  const server = await startTributary(config, { logger: pino({ level: 'silent' }) });
  const headers: Record<string, string> = { 'content-type': 'application/fhir+json' };
  const adminHeaders = { ...headers };
  if (env.AUTH !== 'off') {
    const token = async (id: string, secret: string, scope: string) => {
      const res = await fetch(`${server.url}/auth/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: `grant_type=client_credentials&scope=${encodeURIComponent(scope)}`,
      });
      return `Bearer ${((await res.json()) as { access_token: string }).access_token}`;
    };
    adminHeaders.authorization = await token(ADMIN.id, ADMIN.secret, 'system/*.*');
    const registered = await fetch(`${server.url}/auth/admin/clients`, {
      method: 'POST',
      headers: { ...adminHeaders, 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'bench (confined)',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: CONFINED_SCOPE,
      }),
    });
    const client = (await registered.json()) as { client_id: string; client_secret: string };
    headers.authorization = await token(client.client_id, client.client_secret, CONFINED_SCOPE);
  }
  const created = await fetch(`${server.fhirBase}/Patient`, {
    method: 'POST',
    headers: adminHeaders,
    body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Bench' }] }),
  });
  const id = ((await created.json()) as { id: string }).id;
  // This process's CPU (all variants run in it, one at a time) plus that of the database's backends: what a request
  // costs the machine, which other work on a shared machine moves far less than it moves requests/s.
  const backends = new Map<number, number>();
  const cpu = async () => {
    const { rows } = await server.pool.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database()',
    );
    for (const { pid } of rows) backends.set(pid, Math.max(backends.get(pid) ?? 0, cpuMs(pid)));
    const own = process.cpuUsage();
    return (own.user + own.system) / 1000 + [...backends.values()].reduce((a, b) => a + b, 0);
  };
  const close = async () => {
    await server.close();
    await db.drop();
  };
  return { name, server, url: `${server.fhirBase}/Patient/${id}`, headers, samples: [], cpu, close };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const postgres = await benchPostgres(process.env.DATABASE_URL ?? '', !process.env.DATABASE_URL);
  const adminUrl = postgres.adminUrl;
  const stop = () => postgres.stop();
  const variants: Variant[] = [];
  try {
    variants.push(
      await startVariant(adminUrl, 'AUTH=off', { AUTH: 'off' }),
      await startVariant(adminUrl, 'AUTH on, AUDIT=off', { AUTH: 'on', AUDIT: 'off' }),
      await startVariant(adminUrl, 'AUTH on, AUDIT on', { AUTH: 'on', AUDIT: 'on' }),
    );
    for (let round = 0; round < rounds; round++) {
      for (const v of variants) {
        const cpu0 = await v.cpu();
        const result = await autocannon({ url: v.url, headers: v.headers, connections, duration: seconds, workers: 1 });
        // Sustainable throughput: events still in memory are written to the audit queue before the next run, and that
        // time counts; so does, in `withIndexing`, the indexing of the queue into AuditEvent resources.
        const drainStart = performance.now();
        await v.server.auth.audit?.persist();
        const drained = (performance.now() - drainStart) / 1000;
        const cpu1 = await v.cpu();
        const indexStart = performance.now();
        await v.server.auth.audit?.flush();
        const indexed = (performance.now() - indexStart) / 1000;
        const cpu2 = await v.cpu();
        const perRequest = (ms: number) => (ms * 1000) / result.requests.total;
        v.samples.push({
          cpu: perRequest(cpu1 - cpu0),
          cpuIndexing: perRequest(cpu2 - cpu0),
          rps: result.requests.total / (result.duration + drained),
          withIndexing: result.requests.total / (result.duration + drained + indexed),
          p50: result.latency.p50,
          p99: result.latency.p99,
        });
      }
    }
    const base = median(variants[0].samples.map((x) => x.rps));
    const load = loadavg().map((l) => l.toFixed(2));
    console.log(
      `GET Patient/[id], ${connections} connections, ${rounds} rounds of ${seconds} s per variant (medians); ${cpus().length} CPUs, load average ${load.join(' ')} at the end; AUTH-on token: ${CONFINED_SCOPE}`,
    );
    const baseCpu = median(variants[0].samples.map((x) => x.cpu));
    console.log(
      '| variant | req/s | ratio | p50 ms | p99 ms | req/s counting the indexing | ratio | CPU µs/req | CPU ratio | CPU µs/req counting the indexing | CPU ratio | AuditEvents written | dropped |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const v of variants) {
      const audit = v.server.auth.audit;
      await audit?.flush();
      const written = audit
        ? Number(
            (await v.server.pool.query("SELECT count(*) AS n FROM resource WHERE resource_type = 'AuditEvent'")).rows[0]
              .n,
          )
        : undefined;
      const rps = median(v.samples.map((x) => x.rps));
      const withIndexing = median(v.samples.map((x) => x.withIndexing));
      const p50 = median(v.samples.map((x) => x.p50));
      const p99 = median(v.samples.map((x) => x.p99));
      const cpu = median(v.samples.map((x) => x.cpu));
      const cpuIndexing = median(v.samples.map((x) => x.cpuIndexing));
      // CPU ratio: the AUTH=off CPU per request over this variant's, the rate ratio a saturated machine would show.
      const cpuColumns = `${cpu.toFixed(0)} | ${(baseCpu / cpu).toFixed(2)} | ${cpuIndexing.toFixed(0)} | ${(baseCpu / cpuIndexing).toFixed(2)}`;
      console.log(
        `| ${v.name} | ${rps.toFixed(0)} | ${(rps / base).toFixed(2)} | ${p50} | ${p99} | ${withIndexing.toFixed(0)} | ${(withIndexing / base).toFixed(2)} | ${cpuColumns} | ${written ?? '-'} | ${audit?.dropped ?? '-'} |`,
      );
    }
  } finally {
    for (const v of variants) await v.close();
    await stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
