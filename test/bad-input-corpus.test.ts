import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../server/app.ts';
import { ADMIN, adminApi, adminToken, startAuthServer } from './auth-helpers.ts';
import { fhir } from './harness.ts';
import {
  BAD_HEADERS,
  BAD_QUERIES,
  BAD_SEGMENTS,
  BAD_VALUES,
  badBodies,
  badEntries,
  SEARCH_PARAMS,
} from './bad-input-shapes.ts';

/*
 * The bad-input corpus: every registered FHIR route (router.listRoutes()) and every /auth endpoint gets every shape of
 * bad input (test/bad-input-shapes.ts) with a token and without. No answer may be a 5xx; a FHIR refusal must carry an
 * OperationOutcome with an error issue, an OAuth JSON refusal its RFC 6749 `error`. All failures are collected and
 * reported together; the number of probes is printed.
 */

let server: Tributary;
let token: string;
const BASIC = `Basic ${Buffer.from(`${ADMIN.id}:${ADMIN.secret}`).toString('base64')}`;
const REDIRECT = 'http://127.0.0.1:9/cb';

beforeAll(async () => {
  server = await startAuthServer();
  token = await adminToken(server);
  const auth = { authorization: `Bearer ${token}` };
  await fhir(server, 'PUT', 'Patient/p1', { resourceType: 'Patient', id: 'p1', name: [{ family: 'Corpus' }] }, auth);
  await fhir(
    server,
    'PUT',
    'Observation/o1',
    {
      resourceType: 'Observation',
      id: 'o1',
      status: 'final',
      code: { text: 'x' },
      subject: { reference: 'Patient/p1' },
    },
    auth,
  );
  await fhir(
    server,
    'PUT',
    'Subscription/s1',
    {
      resourceType: 'Subscription',
      id: 's1',
      status: 'active',
      reason: 'corpus',
      criteria: 'Observation?code=x',
      channel: { type: 'websocket' },
    },
    auth,
  );
  await adminApi(server, token, 'POST', '/admin/clients', {
    client_id: 'corpus-app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
  });
});
afterAll(async () => {
  agent.destroy();
  await server?.close();
});

type Kind = 'fhir' | 'oauth';
interface Probe {
  kind: Kind;
  method: string;
  /** Path and query from the server's origin (`/fhir/Patient?x=1`). */
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** Send the admin bearer token (FHIR, admin API); off: anonymous or the probe's own credentials. */
  bearer: boolean;
}

/** What a probe was answered that it must not have been: a 5xx, or a refusal without its proper error body. */
function misanswer(probe: Probe, status: number, contentType: string, text: string): string | undefined {
  if (status >= 500) return 'a server error';
  if (status < 400 || probe.method === 'HEAD') return undefined;
  let body: any;
  try {
    body = contentType.includes('json') ? JSON.parse(text) : undefined;
  } catch {
    return 'a body that is not JSON';
  }
  if (probe.kind === 'fhir') {
    if (body?.resourceType !== 'OperationOutcome') return 'no OperationOutcome';
    if (!/^(error|fatal)$/.test(body.issue?.[0]?.severity) || !body.issue[0].diagnostics)
      return 'an OperationOutcome without an error issue';
  } else if (body !== undefined && typeof body.error !== 'string') {
    return 'a JSON refusal without an OAuth "error"';
  }
  return undefined;
}

const failures: string[] = [];
const counts: Record<Kind, number> = { fhir: 0, oauth: 0 };

async function send(probe: Probe): Promise<void> {
  counts[probe.kind]++;
  const headers: Record<string, string> = {
    ...(probe.bearer ? { authorization: `Bearer ${token}` } : {}),
    ...probe.headers,
  };
  if (probe.body !== undefined) headers['content-type'] ??= 'application/fhir+json';
  try {
    const res = await rawRequest(probe.method, probe.path, headers, probe.body);
    const wrong = misanswer(probe, res.status, res.contentType, res.text);
    if (wrong) failures.push(`${describeProbe(probe)} → ${res.status}, ${wrong}: ${res.text.slice(0, 160)}`);
  } catch (err) {
    failures.push(`${describeProbe(probe)} → no answer: ${(err as Error).message}`);
  }
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

/**
 * One HTTP request with node:http, which sends the path as given: fetch would resolve `..` and `%2e%2e` itself, and
 * refuses methods such as TRACE. Characters a request line cannot carry (spaces, quotes, non-ASCII) are escaped.
 */
function rawRequest(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; contentType: string; text: string }> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: path.replace(/[^\x21-\x7e]/g, encodeURIComponent),
        headers,
        agent,
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', reject);
    req.end(body);
  });
}

function describeProbe(p: Probe): string {
  const extra = [p.headers && JSON.stringify(p.headers).slice(0, 80), p.body && `body ${p.body.slice(0, 80)}`]
    .filter(Boolean)
    .join(' ');
  return `${p.bearer ? 'token' : 'anonymous'} ${p.method} ${p.path.slice(0, 160)} ${extra}`;
}

/** Sends probes a few at a time (the server is shared with other test files; the point is coverage, not load). */
async function sendAll(probes: Probe[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < probes.length) await send(probes[next++]);
    }),
  );
}

const IDS: Record<string, string> = { Patient: 'p1', Observation: 'o1', Subscription: 's1', Device: 'd1' };

/** Concrete paths (under /fhir) of a route pattern such as `:type/:id/_history/:vid`, with the index of the last variable segment. */
function instances(pattern: string): { path: string[]; variable: number }[] {
  const parts = pattern === '' ? [] : pattern.split('/');
  const fixedType = parts[0] && /^[A-Z]/.test(parts[0]) ? parts[0] : undefined;
  const types = parts.includes(':type') ? ['Patient', 'Observation'] : [fixedType ?? 'Patient'];
  return types.map((type) => {
    let variable = -1;
    const path = parts.map((p, i) => {
      if (!p.startsWith(':') && p !== '*') return p;
      variable = i;
      if (p === ':type' || p === ':compartment') return type;
      if (p === ':id') return IDS[fixedType ?? type] ?? 'x1';
      if (p === ':vid') return '1';
      if (p === ':op') return '$everything';
      return p === '*' ? '*' : 'x1';
    });
    return { path, variable };
  });
}

/** A valid body for a write route, so that header shapes reach the handler. */
function validBody(method: string, path: string[]): Pick<Probe, 'body' | 'headers'> {
  if (method === 'PATCH')
    return {
      body: '[{"op":"add","path":"/active","value":true}]',
      headers: { 'content-type': 'application/json-patch+json' },
    };
  if (path.length === 0) return { body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [] }) };
  if (path.at(-1)?.startsWith('$')) return { body: JSON.stringify({ resourceType: 'Parameters' }) };
  const type = path[0];
  const id = path.length === 2 ? path[1] : undefined;
  const resource =
    type === 'Observation' ? { resourceType: type, status: 'final', code: { text: 'x' } } : { resourceType: type };
  return { body: JSON.stringify(id ? { ...resource, id } : resource) };
}

/** Every shape of bad input for one route (method, pattern), with a token or without. */
function routeProbes(method: string, pattern: string, bearer: boolean): Probe[] {
  const probes: Probe[] = [];
  for (const { path, variable } of instances(pattern)) {
    const base = `/fhir/${path.join('/')}`;
    const valid = method === 'POST' || method === 'PUT' || method === 'PATCH' ? validBody(method, path) : {};
    const probe = (p: Partial<Probe>): Probe => ({
      kind: 'fhir',
      method,
      path: base,
      bearer,
      ...valid,
      ...p,
      headers: { ...valid.headers, ...p.headers },
    });
    if (variable >= 0) {
      for (const segment of BAD_SEGMENTS)
        probes.push(probe({ path: `/fhir/${path.map((p, i) => (i === variable ? segment : p)).join('/')}` }));
    }
    for (const query of BAD_QUERIES) probes.push(probe({ path: `${base}?${query}` }));
    if (!bearer) continue;
    for (const headers of BAD_HEADERS) probes.push(probe({ headers }));
    if (method === 'GET')
      for (const query of BAD_QUERIES.slice(0, 12)) probes.push(probe({ method: 'HEAD', path: `${base}?${query}` }));
    if (valid.body !== undefined) {
      for (const body of badBodies(
        path[0] && /^[A-Z]/.test(path[0]) ? path[0] : 'Bundle',
        path.length === 2 ? path[1] : undefined,
      )) {
        const type = body.startsWith('[') ? 'application/json-patch+json' : 'application/fhir+json';
        probes.push(probe({ body, headers: { 'content-type': type } }));
      }
      probes.push(
        probe({
          body: '<Patient xmlns="http://hl7.org/fhir"><language value="a&#0;b"/></Patient>',
          headers: { 'content-type': 'application/fhir+xml' },
        }),
      );
      probes.push(
        probe({ body: '_id=%00&constructor=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
      );
    }
  }
  return probes;
}

/** Search values of every parameter type, by GET and by POST `_search`. */
function searchProbes(): Probe[] {
  const probes: Probe[] = [];
  for (const [type, param] of SEARCH_PARAMS) {
    for (const value of BAD_VALUES) {
      probes.push({ kind: 'fhir', method: 'GET', path: `/fhir/${type}?${param}=${value}`, bearer: true });
      probes.push({ kind: 'fhir', method: 'GET', path: `/fhir/${type}?${param}:missing=${value}`, bearer: true });
    }
    probes.push({
      kind: 'fhir',
      method: 'POST',
      path: `/fhir/${type}/_search`,
      body: `${param}=%00&${param}=gt1e999999`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      bearer: true,
    });
  }
  return probes;
}

const FORMS = [
  'token=%00',
  'token=%ED%A0%80',
  'token=constructor&token_type_hint=__proto__',
  'grant_type=%00',
  'grant_type=client_credentials&scope=%00',
  'grant_type=client_credentials&scope=system%2F%00.rs',
  'grant_type=authorization_code&code=%00&redirect_uri=%00&code_verifier=%00',
  'grant_type=refresh_token&refresh_token=%00',
  'client_id=%00&grant_type=client_credentials',
  'client_assertion_type=%00&client_assertion=%00&grant_type=client_credentials',
  'constructor=1&__proto__=1&hasOwnProperty=1',
  '%zz=%zz',
  'username=%00&password=%00',
  'decision=approve&patient=%00&scope=%00',
];
const JSON_BODIES = [
  '{"username":"\\u0000","password":"x","role":"admin"}',
  '{"username":"u","password":"\\ud800","role":"patient","patient":"\\u0000"}',
  '{"patient":"\\ud800","encounter":"\\u0000"}',
  '{"client_id":"\\u0000","redirect_uris":["http://127.0.0.1:9/cb"]}',
  '{"redirect_uris":["http://127.0.0.1:9/\\u0000"],"token_endpoint_auth_method":"none"}',
  '{"redirect_uris":["http://127.0.0.1:9/cb"],"client_name":"\\udfff","token_endpoint_auth_method":"none"}',
  '{"redirect_uris":["http://127.0.0.1:9/cb"],"jwks":{"keys":[{"kty":"\\u0000"}]}}',
  '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}',
  '{"n":1e999999,"scope":"system/*.rs"}',
  '[]',
  'null',
  '"x"',
  '{',
];
const AUTHORIZE = [
  'client_id',
  'redirect_uri',
  'response_type',
  'scope',
  'state',
  'nonce',
  'aud',
  'launch',
  'code_challenge',
  'code_challenge_method',
  'prompt',
  'login_hint',
  'claims',
  'request',
  'max_age',
];

/** Every /auth endpoint with bad query strings, path segments and bodies. */
function authProbes(bearer: boolean): Probe[] {
  const probes: Probe[] = [];
  const probe = (method: string, path: string, p: Partial<Probe> = {}): Probe => ({
    kind: 'oauth',
    method,
    path,
    bearer,
    ...p,
  });
  const valid = `client_id=corpus-app&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=openid&aud=${encodeURIComponent(server.fhirBase)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256&state=s`;
  for (const name of AUTHORIZE) {
    for (const value of ['%00', '%ED%A0%80', '%zz', 'constructor'])
      probes.push(probe('GET', `/auth/authorize?${valid}&${name}=${value}`));
    probes.push(probe('GET', `/auth/authorize?${name}=%00`));
  }
  for (const path of [
    '/auth/jwks',
    '/auth/userinfo',
    '/auth/.well-known/openid-configuration',
    '/.well-known/smart-configuration',
    '/fhir/.well-known/smart-configuration',
    '/auth/smart-style.json',
    '/auth/admin/clients',
    '/auth/session/end',
  ]) {
    for (const query of BAD_QUERIES.slice(0, 10)) probes.push(probe('GET', `${path}?${query}`));
  }
  for (const segment of BAD_SEGMENTS) {
    probes.push(probe('GET', `/auth/admin/clients/${segment}`), probe('DELETE', `/auth/admin/clients/${segment}`));
    probes.push(
      probe('PUT', `/auth/admin/clients/${segment}`, {
        body: '{"redirect_uris":["http://127.0.0.1:9/cb"]}',
        headers: { 'content-type': 'application/json' },
      }),
    );
    probes.push(
      probe('GET', `/auth/interaction/${segment}`),
      probe('GET', `/auth/interaction/${segment}/abort`),
      probe('GET', `/auth/${segment}`),
    );
    for (const action of ['login', 'consent'])
      probes.push(
        probe('POST', `/auth/interaction/${segment}/${action}`, {
          body: FORMS[12 + (action === 'consent' ? 1 : 0)],
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
      );
  }
  for (const path of ['/auth/token', '/auth/introspect', '/auth/revoke']) {
    for (const body of FORMS) {
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      probes.push(probe('POST', path, { body, headers: form }));
      probes.push(probe('POST', path, { body, headers: { ...form, authorization: BASIC }, bearer: false }));
    }
  }
  for (const path of ['/auth/register', '/auth/admin/clients', '/auth/admin/users', '/auth/launch']) {
    for (const body of JSON_BODIES)
      probes.push(probe('POST', path, { body, headers: { 'content-type': 'application/json' } }));
  }
  return probes;
}

describe('bad-input corpus', () => {
  it(
    'no route answers 5xx to bad input, and every refusal has its proper error body',
    async () => {
      const routes = server.router.listRoutes();
      const ordered = [...routes.filter((r) => r.method !== 'DELETE'), ...routes.filter((r) => r.method === 'DELETE')];
      const probes: Probe[] = [];
      for (const bearer of [true, false])
        for (const route of ordered) probes.push(...routeProbes(route.method, route.pattern, bearer));
      probes.push(...searchProbes());
      for (const method of ['OPTIONS', 'TRACE', 'PROPFIND', 'PURGE', 'LINK'])
        probes.push({ kind: 'fhir', method, path: '/fhir/Patient/p1', bearer: true });
      const entries = badEntries();
      const text = (e: unknown) => JSON.stringify(e);
      // Entries without escapes for non-characters reach the router one by one; a Bundle with them is refused whole.
      probes.push({
        kind: 'fhir',
        method: 'POST',
        path: '/fhir',
        body: text({ resourceType: 'Bundle', type: 'transaction', entry: entries }),
        bearer: true,
      });
      probes.push({
        kind: 'fhir',
        method: 'POST',
        path: '/fhir',
        body: text({ resourceType: 'Bundle', type: 'batch', entry: entries }),
        bearer: true,
      });
      probes.push(...authProbes(true), ...authProbes(false));
      await sendAll(probes);

      const batch = await fhir(
        server,
        'POST',
        '',
        { resourceType: 'Bundle', type: 'batch', entry: entries.filter((e) => !text(e).includes('\\u')) },
        { authorization: `Bearer ${token}` },
      );
      counts.fhir++;
      expect(batch.status).toBe(200);
      const answers = (batch.body.entry as { response: { status: string; outcome?: { resourceType: string } } }[]).map(
        (e) => e.response,
      );
      answers.forEach((r, i) => {
        const status = Number(r.status.slice(0, 3));
        if (status >= 500 || (status >= 400 && r.outcome?.resourceType !== 'OperationOutcome'))
          failures.push(`batch entry ${i} → ${r.status}`);
      });
      expect(answers.filter((r) => r.status.startsWith('400')).length).toBeGreaterThan(answers.length / 2);

      console.log(
        `bad-input corpus: ${counts.fhir + counts.oauth} probes (${counts.fhir} FHIR over ${routes.length} routes, ${counts.oauth} /auth), ${failures.length} misanswered`,
      );
      expect(failures).toEqual([]);
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    },
    15 * 60_000,
  );
});
