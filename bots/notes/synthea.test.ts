import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { Bundle, DocumentReference, OperationOutcome } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';
import { INVENTED_SENTENCE, startLlmTestServer, type LlmTestServer } from './llm-test-server.ts';
import { draftText } from './test-record.ts';

/**
 * Drafts on real Synthea encounters: the project's fixtures, then FHIR_TESTDATA's (default ../shared/data) bundles
 * when present, up to 20 encounters, those with the most resources first (three per patient at most). The offline
 * generator and the model path (the local test server) must both produce drafts in which the checker finds no value
 * absent from the inputs; a model answer that invents values must be caught on every one.
 */
const FIXTURES = fileURLToPath(new URL('../../test/fixtures/synthea/', import.meta.url));
const SHARED = join(resolve(process.env.FHIR_TESTDATA ?? '../shared/data'), 'synthea/bundles');
const WANTED = 20;
const PER_PATIENT = 3;

let offline: Tributary;
let withModel: Tributary;
let llm: LlmTestServer;
const encounters: { server: string; offlineId: string; modelId: string }[] = [];

function bundleFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.json(\.gz)?$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

function readBundle(path: string): Bundle {
  const raw = readFileSync(path);
  return JSON.parse((path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')) as Bundle;
}

/** The encounters of a bundle (fullUrls) with the most resources pointing at them. */
function busiestEncounters(bundle: Bundle): string[] {
  const counts = new Map<string, number>();
  for (const e of bundle.entry ?? []) {
    const ref = (e.resource as { encounter?: { reference?: string } } | undefined)?.encounter?.reference;
    if (ref) counts.set(ref, (counts.get(ref) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, PER_PATIENT)
    .map(([ref]) => ref);
}

/** Ingests a patient bundle and returns the server ids of the chosen encounters. */
async function ingest(server: Tributary, bundle: Bundle, chosen: string[]): Promise<string[]> {
  const res = await fhir(server, 'POST', '', bundle);
  expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
  return chosen.map((fullUrl) => {
    const i = bundle.entry?.findIndex((e) => e.fullUrl === fullUrl) ?? -1;
    return (res.body as Bundle).entry?.[i]?.response?.location?.split('/')[1] as string;
  });
}

beforeAll(async () => {
  llm = await startLlmTestServer();
  [offline, withModel] = await Promise.all([
    startTestServer({}, { BOTS: 'notes' }),
    startTestServer({}, { BOTS: 'notes', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model' }),
  ]);
  for (const file of [...bundleFiles(FIXTURES), ...bundleFiles(SHARED)]) {
    if (encounters.length >= WANTED) break;
    const bundle = readBundle(file);
    if (!bundle.entry?.some((e) => e.resource?.resourceType === 'Patient')) continue; // hospital, practitioner bundles
    const chosen = busiestEncounters(bundle).slice(0, WANTED - encounters.length);
    const [inOffline, inModel] = await Promise.all([
      ingest(offline, bundle, chosen),
      ingest(withModel, bundle, chosen),
    ]);
    chosen.forEach((_, i) => encounters.push({ server: file, offlineId: inOffline[i], modelId: inModel[i] }));
  }
}, 300_000);

afterAll(async () => {
  await Promise.all([offline?.close(), withModel?.close()]);
  await llm?.close();
});

async function draft(server: Tributary, id: string): Promise<DocumentReference> {
  const res = await fhir(server, 'POST', `Encounter/${id}/$draft-note`);
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(201);
  return res.body as DocumentReference;
}

/** The checker's findings on a stored draft, as text for a readable failure. */
function findings(doc: DocumentReference): string {
  const outcome = doc.contained?.find((r) => r.resourceType === 'OperationOutcome') as OperationOutcome | undefined;
  return (outcome?.issue ?? []).map((i) => `${i.diagnostics} in: ${i.details?.text}`).join('\n');
}

describe('drafts on Synthea encounters', () => {
  it('has the encounters (20 when FHIR_TESTDATA is there)', () => {
    expect(encounters.length).toBe(existsSync(SHARED) ? WANTED : bundleFiles(FIXTURES).length * PER_PATIENT);
  });

  it('offline: the checker finds no value absent from the inputs', async () => {
    for (const e of encounters) {
      const doc = await draft(offline, e.offlineId);
      expect(findings(doc), e.server).toBe('');
      expect(doc.extension).toBeUndefined();
      expect(draftText(doc)).toContain('## SOAP note');
    }
  }, 120_000);

  it('model path: the checker finds no value absent from the inputs', async () => {
    llm.behaviour = 'faithful';
    for (const e of encounters) {
      const doc = await draft(withModel, e.modelId);
      expect(findings(doc), e.server).toBe('');
      expect(doc.meta?.tag?.[0].code).toBe('ai-drafted');
    }
  }, 120_000);

  it('model path: an answer that invents values is caught on every encounter, and only that sentence', async () => {
    llm.behaviour = 'inventive';
    for (const e of encounters) {
      const doc = await draft(withModel, e.modelId);
      const outcome = doc.contained?.[0] as OperationOutcome;
      expect(
        outcome.issue.map((i) => i.details?.text),
        e.server,
      ).toEqual([INVENTED_SENTENCE]);
    }
    llm.behaviour = 'faithful';
  }, 120_000);
});
