import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';
import { until } from '../../test/until.ts';

let server: Tributary;

beforeAll(async () => {
  server = await startTestServer(
    {},
    {
      BOTS: 'flag-out-of-range',
      BOT_MODULES: 'test/bots/recorder.ts,test/bots/misbehaving.ts,test/bots/ticker.ts',
      SUBSCRIPTION_RETRY_BASE_MS: '20',
    },
  );
});
afterAll(async () => {
  await server?.close();
});

const observation = (code: string, extra: object = {}) => ({
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'urn:test', code }] },
  ...extra,
});
const search = async (query: string) =>
  (await fhir(server, 'GET', query)).body.entry?.map((e: any) => e.resource) ?? [];
const runsOf = (bot: string) => search(`AuditEvent?agent=Device/bot-${bot}&_count=100`);

describe('bots', () => {
  it('registers each bot as a Device with trigger Subscriptions', async () => {
    const device = await fhir(server, 'GET', 'Device/bot-flag-out-of-range');
    expect(device.status).toBe(200);
    expect(device.body.status).toBe('active');
    const trigger = await fhir(server, 'GET', 'Subscription/bot-flag-out-of-range-0');
    expect(trigger.body).toMatchObject({
      status: 'active',
      channel: { type: 'message', endpoint: 'urn:tributary:bot:flag-out-of-range' },
    });
  });

  it('the example bot flags an out-of-range Observation, with Provenance and an audited run; in range stays as is', async () => {
    const range = { referenceRange: [{ low: { value: 90, unit: 'mmHg' }, high: { value: 140, unit: 'mmHg' } }] };
    const high = await fhir(
      server,
      'POST',
      'Observation',
      observation('8480-6', { valueQuantity: { value: 182, unit: 'mmHg' }, ...range }),
    );
    const normal = await fhir(
      server,
      'POST',
      'Observation',
      observation('8480-6', { valueQuantity: { value: 120, unit: 'mmHg' }, ...range }),
    );
    const flagged = await until(async () => {
      const o = (await fhir(server, 'GET', `Observation/${high.body.id}`)).body;
      return o.meta.versionId === '2' && o;
    });
    expect(flagged.meta.tag).toContainEqual(expect.objectContaining({ code: 'out-of-range' }));
    expect(flagged.interpretation[0].coding[0].code).toBe('H');
    const [provenance] = await search(`Provenance?target=Observation/${high.body.id}`);
    expect(provenance.target[0].reference).toBe(`Observation/${high.body.id}/_history/2`);
    expect(provenance.agent[0].who.reference).toBe('Device/bot-flag-out-of-range');
    expect(provenance.entity[0]).toMatchObject({
      role: 'source',
      what: { reference: `Observation/${high.body.id}/_history/1` },
    });
    const runs = await until(async () => {
      const all = await runsOf('flag-out-of-range');
      const mine = all.filter((a: any) =>
        [high.body.id, normal.body.id].some((id) => a.entity[0].what.reference.includes(id)),
      );
      return mine.length >= 2 && mine;
    });
    for (const run of runs) expect(run.outcome).toBe('0');
    const normalRun = runs.find((a: any) => a.entity[0].what.reference.includes(normal.body.id));
    expect(normalRun.entity[0].detail.find((d: any) => d.type === 'result').valueString).toContain('within range');
    expect((await fhir(server, 'GET', `Observation/${normal.body.id}`)).body.meta.versionId).toBe('1');
  });

  it('a bot that throws is retried, then dead-lettered; each run is audited with its error', async () => {
    const obs = await fhir(server, 'POST', 'Observation', observation('throw'));
    const dead = await until(async () =>
      (await fhir(server, 'GET', 'Subscription/bot-misbehaving-0/$dead-letter')).body.parameter?.find((p: any) =>
        JSON.stringify(p).includes(obs.body.id),
      ),
    );
    expect(JSON.stringify(dead)).toContain('boom: the bot threw');
    const runs = (await runsOf('misbehaving')).filter((a: any) => a.entity[0].what.reference.includes(obs.body.id));
    expect(runs).toHaveLength(2);
    for (const run of runs) expect(run).toMatchObject({ outcome: '8', outcomeDesc: expect.stringContaining('boom') });
    expect(runs[0].entity[0].detail.find((d: any) => d.type === 'log').valueString).toContain('misbehaving: throw');
  });

  it('a bot that loops forever or exhausts its memory is stopped; the server keeps answering', async () => {
    const hang = await fhir(server, 'POST', 'Observation', observation('hang'));
    const oom = await fhir(server, 'POST', 'Observation', observation('oom'));
    // While the bot spins in its thread (its run is not over: no AuditEvent yet), the server answers.
    for (let i = 0; i < 5; i++) expect((await fhir(server, 'GET', `Observation/${hang.body.id}`)).status).toBe(200);
    const hangRuns = async () =>
      (await runsOf('misbehaving')).filter((a: any) => a.entity[0].what.reference.includes(hang.body.id));
    expect(await hangRuns()).toEqual([]);
    const failures = await until(async () => {
      const runs = (await runsOf('misbehaving')).filter((a: any) =>
        [hang.body.id, oom.body.id].some((id) => a.entity[0].what.reference.includes(id)),
      );
      return runs.length >= 4 && runs;
    }, 40_000);
    const desc = failures.map((a: any) => a.outcomeDesc).join('\n');
    expect(desc).toMatch(/did not finish within 3000 ms/);
    expect(desc).toMatch(/ran out of memory|crashed|exited/);
    expect((await fhir(server, 'GET', 'metadata')).status).toBe(200);
  }, 60_000);

  it("a bot's FHIR client is confined to its scopes", async () => {
    const obs = await fhir(server, 'POST', 'Observation', observation('forbidden'));
    const run = await until(async () =>
      (await runsOf('misbehaving')).find((a: any) => a.entity[0].what.reference.includes(obs.body.id)),
    );
    expect(run.outcomeDesc).toMatch(/Insufficient scope|create of Patient/);
    expect((await fhir(server, 'GET', 'Patient?name=NotAllowed&_summary=count')).body.total).toBe(0);
  });

  it('disabling a bot (its Device inactive) stops its runs; enabling resumes them', async () => {
    const patch = (status: string) =>
      fhir(server, 'PATCH', 'Device/bot-recorder', [{ op: 'replace', path: '/status', value: status }], {
        'content-type': 'application/json-patch+json',
      });
    expect((await patch('inactive')).status).toBe(200);
    const skipped = await fhir(server, 'POST', 'Observation', observation('bot-test'));
    await new Promise((r) => setTimeout(r, 1500));
    expect(await search(`Basic?identifier=urn:test:bot-run|Observation/${skipped.body.id}/1`)).toEqual([]);
    expect((await patch('active')).status).toBe(200);
    const ran = await fhir(server, 'POST', 'Observation', observation('bot-test'));
    await until(
      async () => (await search(`Basic?identifier=urn:test:bot-run|Observation/${ran.body.id}/1`)).length === 1,
    );
    expect(await search(`Basic?identifier=urn:test:bot-run|Observation/${skipped.body.id}/1`)).toEqual([]);
  });

  it('$execute runs a bot on demand with a given input; unknown bots and bad bodies are refused', async () => {
    const input = observation('8480-6', {
      id: 'not-stored',
      valueQuantity: { value: 100, unit: 'mmHg' },
      referenceRange: [{ high: { value: 140, unit: 'mmHg' } }],
    });
    const res = await fhir(server, 'POST', 'Device/bot-flag-out-of-range/$execute', {
      resourceType: 'Parameters',
      parameter: [{ name: 'input', resource: input }],
    });
    expect(res.status).toBe(200);
    const out = Object.fromEntries(
      res.body.parameter.map((p: any) => [p.name, p.valueCode ?? p.valueString ?? p.valueInteger]),
    );
    expect(out.outcome).toBe('success');
    expect(JSON.parse(out.result)).toEqual({ flagged: false, reason: 'within range' });
    expect((await fhir(server, 'POST', 'Device/bot-no-such-bot/$execute', input)).status).toBe(404);
    expect((await fhir(server, 'POST', 'Device/bot-flag-out-of-range/$execute', '[1,2]')).status).toBe(400);
  });

  it('a scheduled bot runs once per slot, audited', async () => {
    const slots = await until(async () => {
      const runs = await runsOf('ticker');
      return runs.length >= 3 && runs;
    });
    const keys = slots.map((a: any) => a.entity[0].detail.find((d: any) => d.type === 'result')?.valueString);
    expect(new Set(keys).size).toBe(keys.length);
    for (const run of slots) expect(run.subtype[0].code).toBe('schedule');
  });
});
