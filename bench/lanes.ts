import autocannon from 'autocannon';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';

/** A Synthea transaction Bundle: its text as sent, and its resources as rows for the raw INSERT baseline. */
export interface SyntheaBundle {
  text: string;
  rows: { type: string; content: string }[];
}

/** The Synthea patient transaction Bundles of `dir` (not the hospital/practitioner ones), up to `limit`. */
export function loadSyntheaBundles(dir: string, limit = Infinity): SyntheaBundle[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json.gz') && f.includes('_'))
    .sort()
    .slice(0, limit);
  return files.map((f) => {
    const text = gunzipSync(readFileSync(join(dir, f))).toString('utf8');
    const bundle = JSON.parse(text) as { entry?: { resource: { resourceType: string } }[] };
    return {
      text,
      rows: (bundle.entry ?? []).map((e) => ({ type: e.resource.resourceType, content: JSON.stringify(e.resource) })),
    };
  });
}

/** CPU seconds (user + system) a process has used so far (Linux /proc; clock ticks of 10 ms). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs `work` from `parallel` workers until `seconds` have passed (work started before then is finished). */
async function forSeconds(
  seconds: number,
  parallel: number,
  work: (n: number) => Promise<number>,
): Promise<{ count: number; seconds: number }> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let next = 0;
  let count = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      // Awaited first, then added: `count += await work()` would read `count` before the await and drop the other
      // workers' additions made meanwhile.
      const done = await work(next++);
      count += done;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { count, seconds: (performance.now() - started) / 1000 };
}

/**
 * Synthea transactions POSTed to the FHIR base, `parallel` at a time, for `seconds`: resources written per second,
 * and the server process's (`pid`) CPU µs per resource.
 */
export async function ingestLane(
  fhirBase: string,
  pid: number,
  bundles: SyntheaBundle[],
  seconds: number,
  parallel: number,
): Promise<{ rate: number; cpu: number }> {
  const cpu = cpuSeconds(pid);
  const { count, seconds: took } = await forSeconds(seconds, parallel, async (n) => {
    const bundle = bundles[n % bundles.length];
    const res = await fetch(fhirBase, {
      method: 'POST',
      body: bundle.text,
      headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
    });
    const reply = await res.text();
    if (res.status !== 200) throw new Error(`transaction failed: ${res.status} ${reply.slice(0, 300)}`);
    return bundle.rows.length;
  });
  return { rate: count / took, cpu: ((cpuSeconds(pid) - cpu) * 1e6) / Math.max(count, 1) };
}

/**
 * The physical limit of ingest: the same resources' JSON as rows of a bare table (type, id, content; primary key
 * only), one multi-row INSERT per bundle (each its own transaction, like one transaction per bundle), `parallel`
 * connections, for `seconds`: rows per second.
 */
export async function rawInsertLane(
  databaseUrl: string,
  bundles: SyntheaBundle[],
  seconds: number,
  parallel: number,
): Promise<number> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: parallel });
  try {
    await pool.query(
      'CREATE TABLE IF NOT EXISTS bare_ingest (resource_type text NOT NULL, id text NOT NULL, content text NOT NULL, PRIMARY KEY (resource_type, id))',
    );
    const { count, seconds: took } = await forSeconds(seconds, parallel, async (n) => {
      const { rows } = bundles[n % bundles.length];
      const values: string[] = [];
      const params: string[] = [];
      rows.forEach((r, i) => {
        values.push(`($${i * 3 + 1}, $${i * 3 + 2}, $${i * 3 + 3})`);
        params.push(r.type, randomUUID(), r.content);
      });
      await pool.query(`INSERT INTO bare_ingest (resource_type, id, content) VALUES ${values.join(', ')}`, params);
      return rows.length;
    });
    return count / took;
  } finally {
    await pool.end();
  }
}

/** Throughput and latency of an HTTP lane. */
export interface HttpFigures {
  rps: number;
  p50: number;
  p99: number;
  /** Responses outside 2xx, and connection errors/timeouts. */
  bad: number;
  /** CPU µs the server process used per request. */
  cpu: number;
}

/** One kind of request of an HTTP lane; `next(n)` gives the n-th request's path and body. */
export interface HttpLane {
  method: 'GET' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  next(n: number): { path: string; body?: string };
}

/** Runs a lane with autocannon against `origin`, served by process `pid` (`warmup` seconds first, not counted). */
export async function httpLane(
  origin: string,
  pid: number,
  lane: HttpLane,
  seconds: number,
  connections: number,
  warmup: number,
): Promise<HttpFigures> {
  const run = async (duration: number) => {
    let n = 0;
    return autocannon({
      url: origin,
      connections,
      duration,
      requests: [
        {
          method: lane.method,
          headers: lane.headers,
          setupRequest: (req) => ({ ...req, ...lane.next(n++) }),
        },
      ],
    });
  };
  if (warmup > 0) await run(warmup);
  const cpu = cpuSeconds(pid);
  const r = await run(seconds);
  const used = cpuSeconds(pid) - cpu;
  return {
    rps: r.requests.total / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    bad: r.non2xx + r.errors + r.timeouts,
    cpu: (used * 1e6) / Math.max(r.requests.total, 1),
  };
}
