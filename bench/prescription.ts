/**
 * What prescription validation costs per request: `npx tsx bench/prescription.ts [requests] [rounds]` (defaults 200
 * requests per lane, 3 rounds; medians of the rounds). Tributary runs in this process with
 * `BOTS=prescription-validation` (the bot switched off, so only the measured requests run) on a fresh database of
 * `$DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/postgres), loaded with the test fixtures of
 * bots/prescription-validation. Lanes, one request at a time over HTTP: the server's own `$validate` of the same body
 * (the baseline), `$validate-prescription` of a clean and of an interacting prescription, and a create without and
 * with the hard stop (`Prefer: handling=strict`). Prints p50/p99 in ms and the ratio of each p50 to its baseline,
 * with the load average.
 */
import { loadavg } from 'node:os';
import pino from 'pino';
import { startTributary } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { loadFixtures, mr } from '../bots/prescription-validation/tests/fixtures.ts';
import { benchDatabase } from './bench-db.ts';

const requests = Number(process.argv[2] ?? 200);
const rounds = Number(process.argv[3] ?? 3);
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const db = await benchDatabase(adminUrl);
const server = await startTributary(
  { ...loadConfig({ AUTH: 'off', BOTS: 'prescription-validation' }), port: 0, host: '127.0.0.1', databaseUrl: db.url },
  { logger: pino({ level: 'silent' }) },
);

async function call(method: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.fhirBase}/${path}`, {
    method,
    headers: { 'content-type': 'application/fhir+json', ...headers },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  if (res.status >= 300 && res.status !== 422) throw new Error(`${method} ${path}: ${res.status}`);
  return res.status;
}

interface Lane {
  name: string;
  baseline?: string;
  run(i: number): Promise<unknown>;
}

const clean = mr({ rxcui: '17767', dose: 5 });
const interacting = mr({ patient: 'p-interact', rxcui: '343047', dose: 300 });
// each create is another patient's, so that the hard stop's duplicate check finds nothing to refuse
const fresh = (i: number, tag: string) => ({ ...mr({ rxcui: '17767', dose: 5 }), note: [{ text: `${tag} ${i}` }] });
const lanes: Lane[] = [
  { name: '$validate (server validator)', run: () => call('POST', 'MedicationRequest/$validate', clean) },
  {
    name: '$validate-prescription, clean',
    baseline: '$validate (server validator)',
    run: () => call('POST', 'MedicationRequest/$validate-prescription', clean),
  },
  {
    name: '$validate-prescription, interaction',
    baseline: '$validate (server validator)',
    run: () => call('POST', 'MedicationRequest/$validate-prescription', interacting),
  },
  { name: 'create', run: (i) => call('POST', 'MedicationRequest', { ...fresh(i, 'plain'), status: 'on-hold' }) },
  {
    name: 'create, hard stop',
    baseline: 'create',
    run: (i) => call('POST', 'MedicationRequest', fresh(i, 'strict'), { prefer: 'handling=strict' }),
  },
];

try {
  const off = [{ op: 'replace', path: '/status', value: 'inactive' }];
  await fetch(`${server.fhirBase}/Device/bot-prescription-validation`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json-patch+json' },
    body: JSON.stringify(off),
  });
  await loadFixtures(server);
  const results = new Map<string, { p50: number[]; p99: number[] }>();
  for (let round = 0; round <= rounds; round++) {
    for (const lane of lanes) {
      const ms: number[] = [];
      for (let i = 0; i < requests; i++) {
        const t = performance.now();
        await lane.run(round * requests + i);
        ms.push(performance.now() - t);
      }
      if (round === 0) continue; // warm-up
      ms.sort((a, b) => a - b);
      const r = results.get(lane.name) ?? { p50: [], p99: [] };
      r.p50.push(ms[Math.floor(ms.length * 0.5)]);
      r.p99.push(ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.99))]);
      results.set(lane.name, r);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    `prescription validation: ${requests} requests per lane, median of ${rounds} rounds (after a warm-up round)`,
  );
  console.log(
    `load average (1/5/15 min): ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  console.log('| lane | p50 ms | p99 ms | p50 ratio to baseline |');
  console.log('|---|---|---|---|');
  for (const lane of lanes) {
    const r = results.get(lane.name)!;
    const base = lane.baseline ? median(results.get(lane.baseline)!.p50) : undefined;
    const ratio = base ? `${(median(r.p50) / base).toFixed(2)} × ${lane.baseline}` : 'baseline';
    console.log(`| ${lane.name} | ${median(r.p50).toFixed(2)} | ${median(r.p99).toFixed(2)} | ${ratio} |`);
  }
} finally {
  await server.close();
  await db.drop();
}
