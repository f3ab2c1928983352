/**
 * The physical limit of the read, create and update paths on this machine, for bench/run.ts: a bare `node:http`
 * server with `pg` and nothing else (no framework, validation, indexing, history, outbox or authorization).
 * Run as a child process: `node --import tsx bench/baseline-server.ts` with DATABASE_URL, PORT, DB_POOL_SIZE.
 *
 * - `GET /fhir/{type}/{id}`: the stored JSON from Tributary's own `resource` table (the rows Tributary wrote).
 * - `POST /fhir/{type}`: inserts the body as is into a bare table under a fresh id; 201 with Location.
 * - `PUT /fhir/{type}/{id}`: upserts the body as is into that table; 200.
 * - `GET /healthz`: 200.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DB_POOL_SIZE ?? 10) });
await pool.query(
  'CREATE TABLE IF NOT EXISTS bare_resource (resource_type text NOT NULL, id text NOT NULL, content text NOT NULL, PRIMARY KEY (resource_type, id))',
);

const READ = 'SELECT content FROM resource WHERE resource_type = $1 AND id = $2 AND NOT deleted';
const INSERT = 'INSERT INTO bare_resource (resource_type, id, content) VALUES ($1, $2, $3)';
const UPSERT = `INSERT INTO bare_resource (resource_type, id, content) VALUES ($1, $2, $3)
  ON CONFLICT (resource_type, id) DO UPDATE SET content = EXCLUDED.content`;

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, content?: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, content ? { 'content-type': 'application/fhir+json', ...headers } : headers);
  res.end(content);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const [, base, type, id] = (req.url ?? '').split('?')[0].split('/');
  if (req.url === '/healthz') return send(res, 200, '{"status":"ok"}');
  if (base !== 'fhir' || !type) return send(res, 404);
  if (req.method === 'GET' && id) {
    const r = await pool.query({ name: 'read', text: READ, values: [type, id] });
    return r.rows.length ? send(res, 200, r.rows[0].content) : send(res, 404);
  }
  if (req.method === 'POST' && !id) {
    const newId = randomUUID();
    await pool.query({ name: 'insert', text: INSERT, values: [type, newId, await body(req)] });
    return send(res, 201, undefined, { location: `/fhir/${type}/${newId}` });
  }
  if (req.method === 'PUT' && id) {
    await pool.query({ name: 'upsert', text: UPSERT, values: [type, id, await body(req)] });
    return send(res, 200);
  }
  send(res, 405);
}

const server = createServer((req, res) => {
  handle(req, res).catch(() => send(res, 500));
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.end().then(() => process.exit(0));
});
