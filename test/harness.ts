import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { startTributary, type StartOptions, type Tributary } from '../server/app.ts';
import { loadConfig, type TributaryConfig } from '../server/config.ts';

/** The admin URL of the test Postgres (embedded, or the machine's via DATABASE_URL); see global-setup.ts. */
export function adminDatabaseUrl(): string {
  return inject('adminDatabaseUrl');
}

/** Creates a fresh, empty database in the test Postgres and returns its URL. */
export async function createTestDatabase(prefix = 't'): Promise<string> {
  const admin = adminDatabaseUrl();
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Starts a Tributary on a free port with its own fresh database. `overrides` change the configuration
 * (e.g. `{ maxBodyBytes }`); `env` is read like the process environment first. Authorization is off unless `env`
 * says `AUTH: 'on'` (auth tests do; the product default is on). `options` add doors (a test's own) or a logger.
 */
export async function startTestServer(
  overrides: Partial<TributaryConfig> = {},
  env: NodeJS.ProcessEnv = {},
  options: StartOptions = {},
): Promise<Tributary> {
  const databaseUrl = overrides.databaseUrl ?? (await createTestDatabase());
  const config: TributaryConfig = {
    // Doors' listeners take free loopback ports too (never their defaults: tests run side by side).
    ...loadConfig({
      AUTH: 'off',
      MLLP_PORT: '0',
      MLLP_HOST: '127.0.0.1',
      MQTT_PORT: '0',
      MQTT_HOST: '127.0.0.1',
      DB_POOL_SIZE: '6',
      ...env,
    }),
    port: 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    ...overrides,
    databaseUrl,
  };
  const server = await startTributary(config, options).catch(async (err: unknown) => {
    if (!overrides.databaseUrl) await dropTestDatabase(databaseUrl);
    throw err;
  });
  if (overrides.databaseUrl) return server;
  // A database the harness created is dropped with the server, so runs against a shared Postgres leave nothing behind.
  const close = server.close.bind(server);
  server.close = async () => {
    await close();
    await dropTestDatabase(databaseUrl);
  };
  return server;
}

/** Drops a database made by createTestDatabase (connections are terminated first). */
export async function dropTestDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const client = new pg.Client({ connectionString: adminDatabaseUrl() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** A tiny FHIR JSON client for tests: sends a request to the server and parses the reply. */
export async function fhir(
  server: Pick<Tributary, 'fhirBase'>,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: any }> {
  const init: RequestInit = { method, headers: { accept: 'application/fhir+json', ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/fhir+json';
  }
  const res = await fetch(`${server.fhirBase}/${path}`, init);
  const text = await res.text();
  let parsed: unknown = text;
  if (text && (res.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed };
}
