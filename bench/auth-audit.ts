/**
 * What authorization and auditing cost on the FHIR read path: `npx tsx bench/auth-audit.ts [seconds] [connections]`
 * (defaults 10 s, 16 connections; smoke test: `npx tsx bench/auth-audit.ts 1 2`). Runs `GET Patient/[id]` with
 * autocannon against three servers in one run — AUTH=off, AUTH on with AUDIT=off, AUTH on with AUDIT on — and
 * prints requests/s, median and p99 latency and the ratio to AUTH=off, plus the AuditEvents written and dropped.
 * Uses DATABASE_URL (an admin URL; a database is created per server and dropped after) or an embedded Postgres.
 */
import autocannon from 'autocannon';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { startTributary } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { startEmbeddedPostgres } from '../server/db/embedded.ts';

const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 16);
const ADMIN = { id: 'bench-admin', secret: 'bench-admin-secret-0123456789' };

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function withDatabase<T>(adminUrl: string, fn: (url: string) => Promise<T>): Promise<T> {
  const name = `bench_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

interface Row {
  variant: string;
  rps: number;
  p50: number;
  p99: number;
  audited?: number;
  dropped?: number;
}

async function measure(adminUrl: string, variant: string, env: NodeJS.ProcessEnv): Promise<Row> {
  return withDatabase(adminUrl, async (databaseUrl) => {
    const config = { ...loadConfig({ ...env, ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret, API_RATE_LIMIT: '0', AUTH_RATE_LIMIT: '0' }), port: 0, host: '127.0.0.1', databaseUrl };
    const server = await startTributary(config, pino({ level: 'silent' }));
    try {
      const headers: Record<string, string> = { 'content-type': 'application/fhir+json' };
      if (env.AUTH !== 'off') {
        const res = await fetch(`${server.url}/auth/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${ADMIN.id}:${ADMIN.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials&scope=system/*.*',
        });
        headers.authorization = `Bearer ${((await res.json()) as { access_token: string }).access_token}`;
      }
      const created = await fetch(`${server.fhirBase}/Patient`, { method: 'POST', headers, body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Bench' }] }) });
      const id = ((await created.json()) as { id: string }).id;
      const result = await autocannon({ url: `${server.fhirBase}/Patient/${id}`, headers, connections, duration: seconds });
      await server.auth.audit?.flush();
      const audited = server.auth.audit
        ? Number((await server.pool.query("SELECT count(*) AS n FROM resource WHERE resource_type = 'AuditEvent'")).rows[0].n)
        : undefined;
      return { variant, rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, audited, dropped: server.auth.audit?.dropped };
    } finally {
      await server.close();
    }
  });
}

async function main(): Promise<void> {
  let adminUrl = process.env.DATABASE_URL;
  let stop = async () => {};
  if (!adminUrl) {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-bench-'));
    const embedded = await startEmbeddedPostgres(dir, await freePort());
    adminUrl = embedded.url;
    stop = async () => {
      await embedded.stop();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  try {
    const rows = [
      await measure(adminUrl, 'AUTH=off', { AUTH: 'off' }),
      await measure(adminUrl, 'AUTH on, AUDIT=off', { AUTH: 'on', AUDIT: 'off' }),
      await measure(adminUrl, 'AUTH on, AUDIT on', { AUTH: 'on', AUDIT: 'on' }),
    ];
    const base = rows[0].rps;
    console.log(`GET Patient/[id], ${connections} connections, ${seconds} s each`);
    console.log('| variant | req/s | ratio | p50 ms | p99 ms | AuditEvents written | dropped |');
    console.log('|---|---|---|---|---|---|---|');
    for (const r of rows) {
      console.log(`| ${r.variant} | ${r.rps.toFixed(0)} | ${(r.rps / base).toFixed(2)} | ${r.p50} | ${r.p99} | ${r.audited ?? '-'} | ${r.dropped ?? '-'} |`);
    }
  } finally {
    await stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
