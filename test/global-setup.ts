import { mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../server/db/embedded.ts';

let embedded: EmbeddedDatabase | undefined;

/** A free TCP port on loopback (the embedded test Postgres must never take a service's fixed port). */
export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => done(port));
    });
  });
}

/**
 * Provides the admin URL of the Postgres the tests use: `DATABASE_URL` when set (CI's real-Postgres lane), else an
 * embedded Postgres under `.test-data/` on a free port. Each test file creates its own database in it (test/harness.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let url = process.env.DATABASE_URL;
  let dir: string | undefined;
  if (!url) {
    dir = resolve(process.env.TEST_DATA_DIR ?? '.test-data', `run-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    embedded = await startEmbeddedPostgres(dir, await freePort());
    url = embedded.url;
  }
  project.provide('adminDatabaseUrl', url);
  return async () => {
    await embedded?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
  }
}
