import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir, startTestServer } from '../../test/harness.ts';
import { clearRemoteCache } from '../remote.ts';

/** Delegation to a hosted terminology server (nock stands in for it: a third-party service) for what we do not hold. */
const REMOTE = 'https://tx.example.org/r4';
let server: Tributary;
beforeAll(async () => {
  process.env.TERMINOLOGY_SERVER_URL = REMOTE;
  server = await startTestServer();
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
afterAll(async () => {
  delete process.env.TERMINOLOGY_SERVER_URL;
  nock.cleanAll();
  nock.enableNetConnect();
  await server?.close();
});

const param = (body: any, name: string) => body.parameter?.find((p: any) => p.name === name);

describe('TERMINOLOGY_SERVER_URL', () => {
  it('delegates a code of a system we do not hold, and caches the answer', async () => {
    clearRemoteCache();
    const scope = nock('https://tx.example.org')
      .post('/r4/ValueSet/$validate-code')
      .once()
      .reply(200, {
        resourceType: 'Parameters',
        parameter: [
          { name: 'result', valueBoolean: true },
          { name: 'display', valueString: 'Lateral' },
        ],
      });
    const body = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'url', valueUri: 'http://hl7.org/fhir/ValueSet/media-view' },
        { name: 'coding', valueCoding: { system: 'http://snomed.info/sct', code: '399198007' } },
      ],
    };
    const first = await fhir(server, 'POST', 'ValueSet/$validate-code', body);
    expect(param(first.body, 'result').valueBoolean).toBe(true);
    const second = await fhir(server, 'POST', 'ValueSet/$validate-code', body);
    expect(param(second.body, 'display').valueString).toBe('Lateral');
    expect(scope.isDone()).toBe(true);
  });

  it('answers 502 with an OperationOutcome when the remote fails, and never asks it about what we hold', async () => {
    clearRemoteCache();
    nock('https://tx.example.org')
      .get(/\/r4\/CodeSystem\/\$lookup.*/)
      .reply(500, 'boom');
    const failed = await fhir(server, 'GET', 'CodeSystem/$lookup?system=http://snomed.info/sct&code=1');
    expect(failed.status).toBe(502);
    expect(failed.body.resourceType).toBe('OperationOutcome');
    const local = await fhir(
      server,
      'GET',
      'CodeSystem/$lookup?system=http://hl7.org/fhir/administrative-gender&code=male',
    );
    expect(local.status).toBe(200);
  });
});
