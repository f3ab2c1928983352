import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { fhir, startTestServer } from '../../../test/harness.ts';
import { EndpointPolicy } from '../endpoint-policy.ts';

let server: Tributary;

beforeAll(async () => {
  // No SUBSCRIPTION_ALLOWED_HOSTS: private and loopback endpoints are refused.
  server = await startTestServer({ maxBodyBytes: 64 * 1024 });
});
afterAll(async () => {
  await server?.close();
});

const subscription = (changes: Record<string, unknown> = {}, channel: Record<string, unknown> = {}) => ({
  resourceType: 'Subscription',
  status: 'requested',
  reason: 'bad input',
  criteria: 'Observation?code=1234',
  ...changes,
  channel: { type: 'rest-hook', endpoint: 'https://receiver.example.org/hook', ...channel },
});

async function refused(body: unknown, status: number, text: RegExp, expression?: string) {
  const res = await fhir(server, 'POST', 'Subscription', body);
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.resourceType).toBe('OperationOutcome');
  expect(JSON.stringify(res.body.issue)).toMatch(text);
  if (expression) expect(res.body.issue[0].expression).toContain(expression);
}

describe('Subscription bad input', () => {
  it('refuses invalid criteria with a 422 naming Subscription.criteria', async () => {
    await refused(
      subscription({ criteria: 'NoSuchType?code=1' }),
      422,
      /Unknown resource type/,
      'Subscription.criteria',
    );
    await refused(
      subscription({ criteria: 'Observation?no-such-param=1' }),
      422,
      /no-such-param/,
      'Subscription.criteria',
    );
    await refused(subscription({ criteria: 'Observation?date=not-a-date' }), 422, /date/, 'Subscription.criteria');
    await refused(subscription({ criteria: 'Observation?code=1&_sort=date' }), 422, /_sort/, 'Subscription.criteria');
    await refused(
      subscription({ criteria: 'http://example.org/no-such-topic' }),
      422,
      /SubscriptionTopic/,
      'Subscription.criteria',
    );
  });

  it('refuses unknown channel types and payloads', async () => {
    await refused(
      subscription({}, { type: 'email', endpoint: 'mailto:a@example.org' }),
      422,
      /Channel type .{1,2}email.{1,2} is not supported/,
      'Subscription.channel.type',
    );
    await refused(
      subscription({}, { type: 'message', endpoint: 'urn:tributary:bot:no-such-bot' }),
      422,
      /no bot named/,
    );
    await refused(subscription({}, { payload: 'text/csv' }), 422, /text\/csv/, 'Subscription.channel.payload');
    await refused(subscription({}, { endpoint: undefined }), 422, /channel.endpoint/);
  });

  it('refuses endpoints that are not http(s) or point into the private network (SSRF)', async () => {
    for (const endpoint of ['ftp://receiver.example.org/x', 'file:///etc/passwd', 'gopher://x']) {
      await refused(subscription({}, { endpoint }), 422, /http or https/, 'Subscription.channel.endpoint');
    }
    for (const endpoint of [
      'http://127.0.0.1:8080/',
      'http://localhost/hook',
      'http://10.1.2.3/',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]/',
      'http://192.168.1.10/',
    ]) {
      await refused(subscription({}, { endpoint }), 422, /private or loopback/, 'Subscription.channel.endpoint');
    }
    await refused(subscription({}, { endpoint: 'https://user:pass@receiver.example.org/' }), 422, /credentials/);
  });

  it('refuses malformed or reserved channel headers', async () => {
    await refused(
      subscription({}, { header: ['no colon here'] }),
      422,
      /Name: value/,
      'Subscription.channel.header[0]',
    );
    await refused(subscription({}, { header: ['X-Signature: forged'] }), 422, /set by the server/);
    await refused(subscription({}, { header: Array.from({ length: 21 }, (_, i) => `X-H${i}: v`) }), 422, /At most 20/);
  });

  it('refuses an oversize Subscription with 413 and stores nothing', async () => {
    const count = async () => (await fhir(server, 'GET', 'Subscription?_summary=count')).body.total;
    const before = await count();
    const res = await fhir(server, 'POST', 'Subscription', subscription({ reason: 'x'.repeat(100 * 1024) }));
    expect(res.status).toBe(413);
    expect(res.body.resourceType).toBe('OperationOutcome');
    expect(await count()).toBe(before);
  });

  it('a transaction with one invalid Subscription changes nothing', async () => {
    const res = await fhir(server, 'POST', '', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          resource: { resourceType: 'Patient', name: [{ family: 'KeptOut' }] },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          resource: subscription({}, { endpoint: 'http://10.0.0.1/' }),
          request: { method: 'POST', url: 'Subscription' },
        },
      ],
    });
    expect(res.status).toBe(422);
    expect((await fhir(server, 'GET', 'Patient?name=KeptOut&_summary=count')).body.total).toBe(0);
  });

  it('normalises hosts before the SSRF check: IPv6 forms of IPv4, other IPv4 spellings, trailing dots, upper case', async () => {
    for (const endpoint of [
      'http://[::7f00:1]:18080/', // IPv4-compatible ::127.0.0.1
      'http://[::ffff:127.0.0.1]/', // IPv4-mapped
      'http://[0:0:0:0:0:ffff:a9fe:a9fe]/', // mapped 169.254.169.254 (cloud metadata)
      'http://[64:ff9b::a00:1]/', // NAT64 of 10.0.0.1
      'http://[2002:7f00:1::1]/', // 6to4 of 127.0.0.1
      'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/', // Teredo
      'http://[::]/',
      'http://[fd00::1]/',
      'http://2130706433/', // 127.0.0.1 as a number
      'http://0x7f.1/',
      'http://017700000001/',
      'http://127.1/',
      'http://0/',
      'http://localhost.:18080/',
      'http://LOCALHOST/',
      'http://api.localhost./',
    ]) {
      await refused(subscription({}, { endpoint }), 422, /private or loopback/, 'Subscription.channel.endpoint');
    }
    const policy = new EndpointPolicy([]);
    expect(policy.checkUrl('https://[2606:4700:4700::1111]/hook', 'x').hostname).toBe('[2606:4700:4700::1111]');
    expect(policy.checkUrl('https://receiver.example.org./hook', 'x').hostname).toBe('receiver.example.org.');
    // The allow-list is normalised the same way, and covers the address whatever form it is written in.
    const allowed = new EndpointPolicy(['127.0.0.1', 'Hooks.Internal.']);
    expect(allowed.checkUrl('http://[::ffff:7f00:1]:9/', 'x').port).toBe('9');
    expect(allowed.checkUrl('http://hooks.internal/', 'x').hostname).toBe('hooks.internal');
  });

  it('checks resolved addresses on every connection: a host name that resolves to loopback is refused', async () => {
    const lookup = new EndpointPolicy([]).lookup();
    const refusal = await new Promise<Error | null>((resolve) => lookup('localhost', {}, (err) => resolve(err)));
    expect(refusal?.message).toMatch(/resolves to .* private address/);
    const allowed = await new Promise<Error | null>((resolve) =>
      new EndpointPolicy(['localhost']).lookup()('localhost', {}, (err) => resolve(err)),
    );
    expect(allowed).toBeNull();
    // This machine's own name (not a literal address, so the write is accepted) is refused when resolved, if it is local.
    const own = await new Promise<Error | null>((resolve) => lookup(hostname(), {}, (err) => resolve(err)));
    const ownAddress = await import('node:dns/promises').then((d) => d.lookup(hostname())).catch(() => undefined);
    if (ownAddress && /^(127\.|::1$|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)/.test(ownAddress.address))
      expect(own?.message).toMatch(/private address/);
    else expect(own).toBeNull();
  });
});
