import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../server/app.ts';
import { fhir } from '../harness.ts';
import { startReceiver, type Receiver } from '../receiver.ts';
import { until } from '../until.ts';
import { openSocket } from '../ws-client.ts';
import {
  adminApi,
  adminToken,
  authorizeAsUser,
  oidcClient,
  startAuthServer,
  type UserActions,
  backendServiceToken,
} from '../auth-helpers.ts';

/**
 * The scope matrix of notifications: confined tokens (patient, user, narrowed system scopes) × every channel a
 * notification reaches a reader through ($events in each content mode, websocket bound both ways, a rest-hook the
 * token's client created) × own vs other patient's data. A reader gets an event exactly when it may read the version
 * the event is about (SMART semantics, written per kind below, never taken from what the server answered), and never
 * any of its content otherwise. Every target has its own subscriptions, so each event is attributable to one target.
 * Prints the matrix size; fails on any leak or missing notification.
 */

const REDIRECT = 'http://127.0.0.1:9/callback';
const SYSTEM = 'urn:notify-matrix';
const CONTENT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content';
const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

/** What a target is relative to the token's patient ("own"); `other-deleted` is created and then deleted. */
type Target = 'own-vital' | 'own-lab' | 'other-vital' | 'other-deleted';
const TARGETS: Target[] = ['own-vital', 'own-lab', 'other-vital', 'other-deleted'];
/** Events each target's subscriptions get (a create, and a delete for `other-deleted`). */
const EVENTS: Record<Target, number> = { 'own-vital': 1, 'own-lab': 1, 'other-vital': 1, 'other-deleted': 2 };

type Channel =
  | '$events id-only'
  | '$events full-resource'
  | '$events empty'
  | 'websocket bind-with-token'
  | 'websocket bind'
  | 'rest-hook';
const CHANNELS: Channel[] = [
  '$events id-only',
  '$events full-resource',
  '$events empty',
  'websocket bind-with-token',
  'websocket bind',
  'rest-hook',
];
/** Channels that carry the created version itself (deletions carry none). */
const FULL_RESOURCE = new Set<Channel>(['$events full-resource', 'websocket bind-with-token', 'rest-hook']);

interface Kind {
  name: string;
  token: string;
  /** May it read the target (SMART semantics)? */
  may: (t: Target) => boolean;
  /** May it read the Subscriptions of others (and so use $events and the websocket on them)? */
  readsSubscriptions: boolean;
  /** May it create Subscriptions (and so get rest-hook notifications)? */
  createsSubscriptions: boolean;
}

/** What one channel showed a kind about one target. */
interface Seen {
  /** Events (notification-event entries, pings, rest-hook requests). */
  events: number;
  /** Ids the notifications named (focus references, X-Tributary-Resource) and resources they carried. */
  ids: string[];
  resources: any[];
}

let server: Tributary;
let receiver: Receiver;
let admin: string;
let own: string;
let other: string;
const kinds: Kind[] = [];
/** The admin's websocket subscription of each target; per kind, its rest-hook subscription of each target (if any). */
const websocketSubscription = new Map<Target, string>();
const targetIds = new Map<Target, string>();

async function userToken(
  app: client.Configuration,
  scope: string,
  user: UserActions,
  launchPatient?: string,
): Promise<string> {
  const verifier = client.randomPKCECodeVerifier();
  const extra: Record<string, string> = launchPatient
    ? { launch: (await adminApi(server, admin, 'POST', '/launch', { patient: launchPatient })).launch }
    : {};
  const url = client.buildAuthorizationUrl(app, {
    redirect_uri: REDIRECT,
    scope,
    state: 's',
    aud: server.fhirBase,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  const { redirect } = await authorizeAsUser(url, user);
  return (await client.authorizationCodeGrant(app, redirect!, { pkceCodeVerifier: verifier, expectedState: 's' }))
    .access_token;
}

function backendToken(clientId: string, scope: string): Promise<string> {
  return backendServiceToken(server, admin, clientId, scope);
}

const criteria = (t: Target) => `Observation?code=${SYSTEM}|${t}`;
const fullResource = {
  payload: 'application/fhir+json',
  _payload: { extension: [{ url: CONTENT, valueCode: 'full-resource' }] },
};
const hookUrl = (kind: number, t: Target) => `${receiver.url}?kind=${kind}&target=${t}`;

beforeAll(async () => {
  server = await startAuthServer({ SUBSCRIPTION_ALLOWED_HOSTS: '127.0.0.1' });
  receiver = await startReceiver();
  admin = await adminToken(server);
  const asAdmin = { authorization: `Bearer ${admin}` };
  own = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Own' }] }, asAdmin)).body
    .id;
  other = (await fhir(server, 'POST', 'Patient', { resourceType: 'Patient', name: [{ family: 'Other' }] }, asAdmin))
    .body.id;
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'pat',
    password: 'pat password',
    role: 'patient',
    fhirUser: `Patient/${own}`,
    patient: own,
  });
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'doc',
    password: 'doc password',
    role: 'practitioner',
    fhirUser: 'Practitioner/doc',
  });
  await adminApi(server, admin, 'POST', '/admin/users', {
    username: 'dev',
    password: 'dev password',
    role: 'device',
    fhirUser: 'Device/monitor',
  });
  await adminApi(server, admin, 'POST', '/admin/clients', {
    client_id: 'notify-app',
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
  });
  const app = await oidcClient(server, 'notify-app', client.None());
  const isOwn = (t: Target) => t.startsWith('own');
  const isVital = (t: Target) => t !== 'own-lab';
  const vitals = `system/Observation.rs?category=vital-signs`;
  const ownSubject = `system/Observation.rs?subject=Patient/${own}`;
  kinds.push(
    {
      name: 'patient/*.rs (launch)',
      token: await userToken(app, 'launch patient/*.rs', { username: 'doc', password: 'doc password' }, own),
      may: isOwn,
      readsSubscriptions: false,
      createsSubscriptions: false,
    },
    {
      name: 'user/*.cruds (patient user)',
      token: await userToken(app, 'user/*.cruds', { username: 'pat', password: 'pat password' }),
      may: isOwn,
      readsSubscriptions: false,
      createsSubscriptions: false,
    },
    // role policy: Observations (all of them), Devices, Patients; no Subscriptions
    {
      name: 'user/*.* (device user)',
      token: await userToken(app, 'user/*.*', { username: 'dev', password: 'dev password' }),
      may: () => true,
      readsSubscriptions: false,
      createsSubscriptions: false,
    },
    {
      name: 'system/Subscription.rs',
      token: await backendToken('notify-subs', 'system/Subscription.rs'),
      may: () => false,
      readsSubscriptions: true,
      createsSubscriptions: false,
    },
    {
      name: `system/Subscription.cruds ${vitals}`,
      token: await backendToken('notify-vitals', `system/Subscription.cruds ${vitals}`),
      may: isVital,
      readsSubscriptions: true,
      createsSubscriptions: true,
    },
    {
      name: 'system/Subscription.cruds system/Observation.rs?subject=<own>',
      token: await backendToken('notify-own', `system/Subscription.cruds ${ownSubject}`),
      may: isOwn,
      readsSubscriptions: true,
      createsSubscriptions: true,
    },
    {
      name: 'system/*.rs (control)',
      token: await backendToken('notify-all', 'system/*.rs'),
      may: () => true,
      readsSubscriptions: true,
      createsSubscriptions: false,
    },
    {
      name: 'system/*.* (control)',
      token: admin,
      may: () => true,
      readsSubscriptions: true,
      createsSubscriptions: true,
    },
  );

  for (const t of TARGETS) {
    const sub = {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'notification matrix',
      criteria: criteria(t),
    };
    const ws = await fhir(
      server,
      'POST',
      'Subscription',
      { ...sub, channel: { type: 'websocket', ...fullResource } },
      asAdmin,
    );
    expect(ws.status).toBe(201);
    websocketSubscription.set(t, ws.body.id);
    for (const [i, kind] of kinds.entries()) {
      const hook = await fhir(
        server,
        'POST',
        'Subscription',
        { ...sub, channel: { type: 'rest-hook', endpoint: hookUrl(i, t), ...fullResource } },
        { authorization: `Bearer ${kind.token}` },
      );
      expect(hook.status).toBe(kind.createsSubscriptions ? 201 : 403);
    }
  }
  for (const t of TARGETS) {
    const obs = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: SYSTEM, code: t }] },
      category: [{ coding: [{ system: CATEGORY, code: t === 'own-lab' ? 'laboratory' : 'vital-signs' }] }],
      subject: { reference: `Patient/${t.startsWith('own') ? own : other}` },
    };
    const created = await fhir(server, 'POST', 'Observation', obs, asAdmin);
    expect(created.status).toBe(201);
    targetIds.set(t, created.body.id);
    if (t === 'other-deleted')
      expect((await fhir(server, 'DELETE', `Observation/${created.body.id}`, undefined, asAdmin)).status).toBe(200);
  }
  // Every event is matched and every notification delivered (or dropped).
  await until(
    async () => {
      const { rows } = await server.pool.query<{ n: number }>(
        `SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM subscription_delivery WHERE status = 'pending') AS n`,
      );
      return Number(rows[0].n) === 0;
    },
    60_000,
    'all notifications to be delivered',
  );
}, 300_000);
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

/** The notification events and focus entries of a notification Bundle. */
function seenInBundle(bundle: any): Seen {
  const status = bundle.entry?.[0]?.resource;
  const events = (status?.parameter ?? []).filter((p: any) => p.name === 'notification-event').length;
  const focus = (bundle.entry ?? []).slice(1);
  return {
    events,
    ids: focus.map((e: any) => /Observation\/([^/]+)/.exec(e.fullUrl ?? '')?.[1]).filter(Boolean),
    resources: focus.filter((e: any) => e.resource).map((e: any) => e.resource),
  };
}

const NOTHING: Seen = { events: 0, ids: [], resources: [] };

/** The messages a socket gets for a bind command (catch-up from event 0), up to the answer of a following unbind. */
async function socketMessages(id: string, bind: string, headers: Record<string, string> = {}): Promise<string[]> {
  const socket = await openSocket(`${server.url.replace(/^http/, 'ws')}/ws/subscriptions`, headers);
  socket.ws.send(bind);
  socket.ws.send(`unbind ${id}`);
  const messages = await socket.waitFor(1);
  while (messages.at(-1) !== `unbound ${id}`) await socket.waitFor(messages.length + 1);
  await socket.close();
  return messages.slice(0, -1);
}

async function observe(kindIndex: number, channel: Channel, t: Target): Promise<Seen> {
  const kind = kinds[kindIndex];
  const auth = { authorization: `Bearer ${kind.token}` };
  const id = websocketSubscription.get(t) as string;
  switch (channel) {
    case '$events id-only':
    case '$events full-resource':
    case '$events empty': {
      const res = await fhir(
        server,
        'GET',
        `Subscription/${id}/$events?content=${channel.split(' ')[1]}`,
        undefined,
        auth,
      );
      return res.status === 200 ? seenInBundle(res.body) : NOTHING;
    }
    case 'websocket bind-with-token': {
      const res = await fhir(server, 'POST', `Subscription/${id}/$get-ws-binding-token`, undefined, auth);
      if (res.status !== 200) return NOTHING;
      const token = res.body.parameter.find((p: any) => p.name === 'token').valueString;
      const bundles = (await socketMessages(id, `bind-with-token ${token} 0`))
        .filter((m) => m.startsWith('{'))
        .map((m) => seenInBundle(JSON.parse(m)));
      return {
        events: bundles.reduce((n, b) => n + b.events, 0),
        ids: bundles.flatMap((b) => b.ids),
        resources: bundles.flatMap((b) => b.resources),
      };
    }
    case 'websocket bind':
      return {
        ...NOTHING,
        events: (await socketMessages(id, `bind ${id} 0`, auth)).filter((m) => m === `ping ${id}`).length,
      };
    case 'rest-hook': {
      const got = receiver.received.filter((r) => r.url.endsWith(`?kind=${kindIndex}&target=${t}`));
      return {
        events: got.length,
        ids: got.map((r) => /^Observation\/([^/]+)/.exec(String(r.headers['x-tributary-resource']))?.[1] ?? ''),
        resources: got.filter((r) => r.body).map((r) => JSON.parse(r.body)),
      };
    }
  }
}

describe('scope matrix of notifications', () => {
  it('sends each reader exactly the events about versions it may read, and nothing of the others', async () => {
    const failures: string[] = [];
    let size = 0;
    for (const [i, kind] of kinds.entries()) {
      for (const channel of CHANNELS) {
        for (const t of TARGETS) {
          size++;
          const expected =
            (channel === 'rest-hook' ? kind.createsSubscriptions : kind.readsSubscriptions) && kind.may(t);
          const seen = await observe(i, channel, t);
          const label = `${kind.name} × ${channel} × ${t}`;
          const named = [...seen.ids, ...seen.resources.map((r) => r.id)];
          if (named.some((x) => x !== targetIds.get(t))) failures.push(`BROKEN ${label}: named ${named.join(', ')}`);
          if (!expected && (seen.events > 0 || named.length > 0))
            failures.push(`LEAK ${label}: ${seen.events} events, named ${named.join(', ')}`);
          if (expected && seen.events !== EVENTS[t])
            failures.push(`MISSING ${label}: ${seen.events} of ${EVENTS[t]} events`);
          // what each channel carries when it may: the focus of every event, the created version's content
          const ids = channel === '$events id-only' ? EVENTS[t] : 0;
          const resources = FULL_RESOURCE.has(channel) ? 1 : 0;
          if (expected && (seen.ids.length < ids || seen.resources.length !== resources)) {
            failures.push(`MISSING ${label}: ${seen.ids.length} focus ids, ${seen.resources.length} resources`);
          }
        }
      }
    }
    console.log(
      `scope matrix (notifications): ${kinds.length} token kinds × ${CHANNELS.length} channels × ${TARGETS.length} targets = ${size} cases, ${failures.length} failures`,
    );
    expect(failures).toEqual([]);
  }, 300_000);
});
