import { Writable } from 'node:stream';
import type { Bundle, DocumentReference, OperationOutcome, Provenance, Task } from '@medplum/fhirtypes';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';
import { DRAFT_TASK_SYSTEM } from './bot.ts';
import { INVENTED_SENTENCE, startLlmTestServer, type LlmTestServer } from './llm-test-server.ts';
import { OFFLINE_LABEL } from './offline.ts';
import { UNVERIFIED_EXTENSION } from './store.ts';
import { draftText, idsOf, parseEvents, testRecord } from './test-record.ts';

let offline: Tributary;
let withModel: Tributary;
let refusing: Tributary;
let llm: LlmTestServer;
const logLines: string[] = [];

async function createRecord(server: Tributary, status?: string, marker?: string): Promise<Record<string, string>> {
  const bundle = testRecord(status, marker);
  const res = await fhir(server, 'POST', '', bundle);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return idsOf(bundle, res.body as Bundle);
}

async function draftsOf(server: Tributary, encounter: string): Promise<DocumentReference[]> {
  const res = await fhir(server, 'GET', `DocumentReference?encounter=Encounter/${encounter}`);
  return ((res.body as Bundle).entry ?? []).map((e) => e.resource as DocumentReference);
}

beforeAll(async () => {
  llm = await startLlmTestServer({ slowMs: 1500 });
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    }),
  );
  [offline, withModel, refusing] = await Promise.all([
    startTestServer({}, { BOTS: 'notes' }, { logger }),
    startTestServer(
      {},
      { BOTS: 'notes', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model', LLM_API_KEY: 'k-1', LLM_TIMEOUT_MS: '500' },
    ),
    startTestServer(
      {},
      { BOTS: 'notes', LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'test-model', NOTES_UNVERIFIED_VALUES: 'refuse' },
    ),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([offline?.close(), withModel?.close(), refusing?.close()]);
  await llm?.close();
});

describe('offline generator (no model configured)', () => {
  it('stores a preliminary progress note with its Provenance, every value found in the record', async () => {
    const ids = await createRecord(offline);
    const before = llm.requests.length;
    const res = await fhir(offline, 'POST', `Encounter/${ids.enc}/$draft-note`);
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toContain(`/DocumentReference/${res.body.id}/_history/1`);
    const doc = res.body as DocumentReference;
    expect(doc).toMatchObject({
      status: 'current',
      docStatus: 'preliminary',
      type: { coding: [{ system: 'http://loinc.org', code: '11506-3' }] },
      subject: { reference: `Patient/${ids.pat}` },
      context: { encounter: [{ reference: `Encounter/${ids.enc}` }] },
      meta: { tag: [{ code: 'offline-template' }] },
    });
    expect(doc.extension).toBeUndefined();
    const text = draftText(doc);
    expect(text).toContain(OFFLINE_LABEL);
    for (const section of ['## SOAP note', '## Patient-friendly summary', '## Next steps'])
      expect(text).toContain(section);
    for (const value of [
      '38.2 Cel',
      '128 mm[Hg]',
      'Acute bronchitis',
      'Amoxicillin 500 MG Oral Capsule',
      'Latex',
      'Chest X-ray',
      'Cough for 5 days',
    ])
      expect(text).toContain(value);
    expect(text).not.toContain('[unverified');
    expect(llm.requests.length).toBe(before); // nothing went to a provider the server was not configured with

    const prov = await fhir(offline, 'GET', `Provenance?target=DocumentReference/${doc.id}`);
    const provenance = (prov.body as Bundle).entry?.map((e) => e.resource as Provenance) ?? [];
    expect(provenance).toHaveLength(1);
    expect(provenance[0].agent.map((a) => a.who?.reference ?? a.who?.display)).toEqual([
      'Device/bot-notes',
      'Tributary offline note template (not AI)',
    ]);
    const sources = provenance[0].entity?.map((e) => e.what.reference?.split('/_history')[0]) ?? [];
    expect(sources).toEqual(
      expect.arrayContaining([`Encounter/${ids.enc}`, `Observation/${ids.temp}`, `Communication/${ids.msg}`]),
    );
  });

  it('streams the draft as server-sent events, then the stored note', async () => {
    const ids = await createRecord(offline);
    const res = await fetch(`${offline.fhirBase}/Encounter/${ids.enc}/$draft-note`, {
      method: 'POST',
      headers: { accept: 'text/event-stream' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = parseEvents(await res.text());
    expect(events.map((e) => e.event)).toEqual(['start', 'delta', 'document']);
    expect(JSON.parse(events[0].data)).toMatchObject({ author: 'offline', inputs: 9, withheld: [] });
    const doc = JSON.parse(events[2].data) as DocumentReference;
    expect(draftText(doc)).toBe((JSON.parse(events[1].data) as { text: string }).text);
    expect((await draftsOf(offline, ids.enc)).map((d) => d.id)).toEqual([doc.id]);
  });

  it('logs counts, never content', async () => {
    const ids = await createRecord(offline);
    expect((await fhir(offline, 'POST', `Encounter/${ids.enc}/$draft-note`)).status).toBe(201);
    const draftLogs = logLines.filter((l) => l.includes('"note draft"'));
    expect(draftLogs.length).toBeGreaterThan(0);
    expect(JSON.parse(draftLogs.at(-1) as string).draftNote).toMatchObject({
      provider: 'offline',
      inputs: 9,
      unverifiedSentences: 0,
    });
    for (const secret of ['Cough for 5 days', 'Amoxicillin', 'Acute bronchitis', '38.2'])
      expect(logLines.some((l) => l.includes(secret))).toBe(false);
  });

  it('drafts for a requested Task (the notes bot) and completes it with the note', async () => {
    const ids = await createRecord(offline, 'finished');
    const task = (
      await fhir(offline, 'POST', 'Task', {
        resourceType: 'Task',
        status: 'requested',
        intent: 'order',
        code: { coding: [{ system: DRAFT_TASK_SYSTEM, code: 'draft-note' }] },
        focus: { reference: `Encounter/${ids.enc}` },
        for: { reference: `Patient/${ids.pat}` },
      })
    ).body as Task;
    let done: Task = task;
    for (let i = 0; i < 100 && done.status === 'requested'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      done = (await fhir(offline, 'GET', `Task/${task.id}`)).body as Task;
    }
    expect(done.status).toBe('completed');
    const drafts = await draftsOf(offline, ids.enc);
    expect(drafts).toHaveLength(1);
    expect(done.output?.[0].valueReference?.reference).toBe(`DocumentReference/${drafts[0].id}`);
    expect(drafts[0].docStatus).toBe('preliminary');
  }, 20_000);
});

describe('bad input', () => {
  it('a Task the bot cannot serve ends failed or rejected, with the reason', async () => {
    const task = async (focus: string) => {
      const created = await fhir(offline, 'POST', 'Task', {
        resourceType: 'Task',
        status: 'requested',
        intent: 'order',
        code: { coding: [{ system: DRAFT_TASK_SYSTEM, code: 'draft-note' }] },
        focus: { reference: focus },
      });
      let done = created.body as Task;
      for (let i = 0; i < 100 && done.status === 'requested'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        done = (await fhir(offline, 'GET', `Task/${done.id}`)).body as Task;
      }
      return done;
    };
    const failed = await task('Encounter/no-such-encounter');
    expect(failed, JSON.stringify(failed)).toMatchObject({
      status: 'failed',
      statusReason: { text: expect.stringContaining('not known') },
    });
    expect(await task('Patient/no-such-patient')).toMatchObject({ status: 'rejected' });
  }, 30_000);

  it('a read asking for an event stream gets its usual answer', async () => {
    const ids = await createRecord(offline);
    const res = await fhir(offline, 'GET', `Encounter/${ids.enc}`, undefined, { accept: 'text/event-stream' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/fhir+json');
  });

  it('answers an OperationOutcome, never a 500, and stores nothing', async () => {
    const ids = await createRecord(offline);
    const cases: [string, unknown, number][] = [
      ['Encounter/no-such-encounter/$draft-note', undefined, 404],
      ['Encounter/%00/$draft-note', undefined, 400],
      [`Encounter/${ids.enc}/$draft-note`, { resourceType: 'Patient' }, 400],
      [`Encounter/${ids.enc}/$draft-note`, '{"resourceType":"Parameters","parameter":[{"name":"x\\u0000"}]}', 400],
      [`Encounter/${ids.enc}/$draft-note`, '{not json', 400],
      [`Encounter/${ids.enc}/$draft-note`, '[1,2]', 400],
    ];
    for (const [path, body, status] of cases) {
      const res = await fhir(offline, 'POST', path, body);
      expect(res.status, path).toBe(status);
      expect(res.body.resourceType).toBe('OperationOutcome');
    }
    expect(await draftsOf(offline, ids.enc)).toEqual([]);
    expect((await fhir(offline, 'GET', `Encounter/${ids.enc}/$draft-note`)).status).toBe(405);
  });

  it('refuses an encounter too large to draft one note from', async () => {
    const ids = await createRecord(offline);
    const many: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: Array.from({ length: 201 }, (_, i) => ({
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { text: 'Heart rate' },
          subject: { reference: `Patient/${ids.pat}` },
          encounter: { reference: `Encounter/${ids.enc}` },
          valueQuantity: { value: 60 + (i % 40), unit: '/min' },
        },
        request: { method: 'POST', url: 'Observation' },
      })),
    };
    expect((await fhir(offline, 'POST', '', many)).status).toBe(200);
    const res = await fhir(offline, 'POST', `Encounter/${ids.enc}/$draft-note`);
    expect(res.status).toBe(400);
    expect(res.body.issue[0].code).toBe('too-costly');
    expect(await draftsOf(offline, ids.enc)).toEqual([]);
  });
});

describe('language model (local OpenAI-compatible test server)', () => {
  it('streams the model’s chunks and stores a draft the checker passes', async () => {
    llm.behaviour = 'faithful';
    const ids = await createRecord(withModel);
    const before = llm.requests.length;
    const res = await fetch(`${withModel.fhirBase}/Encounter/${ids.enc}/$draft-note`, {
      method: 'POST',
      headers: { accept: 'text/event-stream' },
    });
    const events = parseEvents(await res.text());
    const deltas = events.filter((e) => e.event === 'delta');
    expect(deltas.length).toBeGreaterThan(5); // the model's chunks, passed on as they came
    expect(events[0]).toMatchObject({ event: 'start' });
    expect(JSON.parse(events[0].data)).toMatchObject({ author: 'llm', model: 'test-model' });
    expect(events.map((e) => e.event)).not.toContain('check');
    const doc = JSON.parse(events.at(-1)?.data ?? '{}') as DocumentReference;
    expect(events.at(-1)?.event).toBe('document');
    expect(doc.meta?.tag?.[0].code).toBe('ai-drafted');
    expect(draftText(doc)).toBe(deltas.map((d) => (JSON.parse(d.data) as { text: string }).text).join(''));
    expect(doc.extension).toBeUndefined();
    const sent = llm.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0].auth).toBe('Bearer k-1');
    expect(sent[0].body).toMatchObject({ model: 'test-model', stream: true });
    expect(sent[0].body.messages[1].content).toContain('38.2 Cel');

    const prov = await fhir(withModel, 'GET', `Provenance?target=DocumentReference/${doc.id}`);
    const agents = (prov.body as Bundle<Provenance>).entry?.[0].resource?.agent ?? [];
    expect(agents[1].who).toMatchObject({ identifier: { value: 'test-model' } });
  });

  it('catches an invented value: the draft is stored with the warning extension and the OperationOutcome', async () => {
    llm.behaviour = 'inventive';
    const ids = await createRecord(withModel);
    const res = await fhir(withModel, 'POST', `Encounter/${ids.enc}/$draft-note`);
    expect(res.status).toBe(201);
    const doc = res.body as DocumentReference;
    expect(doc.extension).toEqual([{ url: UNVERIFIED_EXTENSION, valueReference: { reference: '#unverified' } }]);
    const outcome = doc.contained?.[0] as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue).toHaveLength(1);
    expect(outcome.issue[0].details?.text).toBe(INVENTED_SENTENCE);
    for (const v of ['number "39.47"', 'date "2031-02-14"', 'drug "Zanubrutinib"', 'dose "83 mg"'])
      expect(outcome.issue[0].diagnostics).toContain(v);
    expect(draftText(doc)).toContain(`${INVENTED_SENTENCE} [unverified: 2031-02-14; 83 mg; Zanubrutinib; 39.47]`);
  });

  it('refuses such a draft when so configured, storing nothing', async () => {
    llm.behaviour = 'inventive';
    const ids = await createRecord(refusing);
    const res = await fhir(refusing, 'POST', `Encounter/${ids.enc}/$draft-note`);
    expect(res.status).toBe(422);
    expect(res.body.issue[0]).toMatchObject({ severity: 'error', code: 'business-rule' });
    expect(await draftsOf(refusing, ids.enc)).toEqual([]);
    llm.behaviour = 'faithful';
    expect((await fhir(refusing, 'POST', `Encounter/${ids.enc}/$draft-note`)).status).toBe(201);
  });

  it('retries a failure before the first chunk; reports timeouts, refusals and broken streams; stores nothing then', async () => {
    const ids = await createRecord(withModel);
    const attempt = async (behaviour: LlmTestServer['behaviour']) => {
      llm.behaviour = behaviour;
      const before = llm.requests.length;
      const res = await fhir(withModel, 'POST', `Encounter/${ids.enc}/$draft-note`);
      return { status: res.status, body: res.body, requests: llm.requests.length - before };
    };
    expect(await attempt('flaky')).toMatchObject({ status: 201, requests: 2 });
    expect(await attempt('json')).toMatchObject({ status: 201, requests: 1 });
    const stored = (await draftsOf(withModel, ids.enc)).length;
    expect(await attempt('unauthorized')).toMatchObject({ status: 502, requests: 1 });
    expect(await attempt('cut')).toMatchObject({ status: 502, requests: 1 });
    const slow = await attempt('slow');
    expect(slow).toMatchObject({ status: 504, requests: 2 });
    expect(slow.body.issue[0].code).toBe('timeout');
    expect(await draftsOf(withModel, ids.enc)).toHaveLength(stored);
  }, 20_000);

  it('drops what no FHIR string may hold from a model’s text', async () => {
    llm.behaviour = 'garbled';
    const ids = await createRecord(withModel);
    const res = await fhir(withModel, 'POST', `Encounter/${ids.enc}/$draft-note`);
    expect(res.status).toBe(201);
    const text = draftText(res.body as DocumentReference);
    expect(text).toContain('## SOAP note');
    expect(text).not.toMatch(/[\u0000\u0007]/);
    expect(text).not.toContain('\ufffd'.repeat(2));
    llm.behaviour = 'faithful';
  });

  it('streams a failure as an error event', async () => {
    llm.behaviour = 'unauthorized';
    const ids = await createRecord(withModel);
    const res = await fetch(`${withModel.fhirBase}/Encounter/${ids.enc}/$draft-note`, {
      method: 'POST',
      headers: { accept: 'text/event-stream' },
    });
    const events = parseEvents(await res.text());
    expect(events.map((e) => e.event)).toEqual(['start', 'error']);
    expect(JSON.parse(events[1].data).resourceType).toBe('OperationOutcome');
    expect(await draftsOf(withModel, ids.enc)).toEqual([]);
  });
});
