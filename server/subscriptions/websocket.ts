import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type pg from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AccessContext } from '../core/types.ts';
import type { Repository } from '../core/repository.ts';
import { eventCount, eventsSince } from './deliveries.ts';
import { eventsOf, notificationBundle, type NotificationType } from './notification-bundle.ts';
import { readableEvents, readerOf, type Reader } from './readers.ts';
import type { SpecSource } from './spec-source.ts';
import type { SubscriptionSpec } from './subscription-spec.ts';

/** Path of the websocket endpoint (advertised in the CapabilityStatement and by `$get-ws-binding-token`). */
export const WEBSOCKET_PATH = '/ws/subscriptions';
/** Events sent per query while a binding catches up. */
const PAGE = 500;

/** What the hub needs. */
export interface WebsocketDeps {
  pool: pg.Pool;
  repo: Repository;
  specs: SpecSource;
  baseUrl: string;
  logger: Logger;
  /** The access of a bearer token; undefined when it is missing, unknown, expired or revoked (server/auth). */
  resolveAccess(token: string | undefined): Promise<AccessContext | undefined>;
  /** Whether an access may read the Subscription (and so bind to it). */
  mayRead(access: AccessContext, subscriptionId: string): Promise<boolean>;
}

/** One subscription bound on one socket. */
interface Binding {
  ws: WebSocket;
  spec: SubscriptionSpec;
  /** R4 `bind`: `ping <id>` per event; backport `bind-with-token`: notification Bundles. */
  mode: 'ping' | 'bundle';
  /** Number of the last event sent. */
  last: number;
  pumping: Promise<void>;
  heartbeat?: NodeJS.Timeout;
  /** Whose access the binding serves: only events it may read are sent; the socket closes when its token ends. */
  access: AccessContext;
  reader: Reader;
  expiry?: NodeJS.Timeout;
}

/** Close code for a socket whose access ended (RFC 6455 1008: policy violation). */
const ACCESS_ENDED = 1008;
/** Longest delay setTimeout takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The websocket channel. A client binds a socket to websocket subscriptions, either the R4 way (`bind <id>`, with a
 * bearer token on the upgrade request, answered `bound <id>`, then `ping <id>` per event) or the Subscriptions
 * Backport way (`bind-with-token <token>` with a token from `$get-ws-binding-token`, answered with a handshake
 * Bundle, then an event-notification Bundle per event and heartbeats). Either command may end with the number of
 * the last event the client saw: the events after it are sent first, so a reconnecting client catches up.
 * Events come from the subscription's event log (`subscription_delivery`), so every node serves its own sockets
 * whichever node read the outbox; NOTIFY tells it when to look.
 * A binding serves the access of the token it was made with (the upgrade request's bearer token, or the one
 * `$get-ws-binding-token` was called with): only events about versions that access may read are sent (readers.ts),
 * and the socket is closed when that token expires or is revoked, or its client deleted (`revoked`).
 */
export class WebsocketHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 });
  private readonly bindings = new Map<string, Set<Binding>>();

  constructor(private readonly deps: WebsocketDeps) {}

  /** Serves websocket upgrades on WEBSOCKET_PATH of the HTTP server. */
  attach(upgrade: (path: string, handler: (req: IncomingMessage, socket: Duplex, head: Buffer) => void) => void): void {
    upgrade(WEBSOCKET_PATH, (req, socket, head) => {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws, req));
    });
  }

  /** New events may exist for these subscriptions (`*`: any). */
  notify(payload: string): void {
    const ids = payload === '*' || payload === '' ? [...this.bindings.keys()] : (JSON.parse(payload) as string[]);
    for (const id of ids) for (const b of this.bindings.get(id) ?? []) this.pump(b);
  }

  /**
   * Tokens of a client (`*`: of any) may have been revoked: sockets whose bindings serve a token that no longer
   * resolves are closed.
   */
  async revoked(clientId: string): Promise<void> {
    const byToken = new Map<string, Binding[]>();
    for (const set of this.bindings.values()) {
      for (const b of set) {
        const token = b.access.credential?.token;
        if (!token || (clientId !== '*' && b.access.clientId !== clientId)) continue;
        byToken.set(token, [...(byToken.get(token) ?? []), b]);
      }
    }
    for (const [token, bindings] of byToken) {
      if (await this.deps.resolveAccess(token)) continue;
      for (const b of bindings) b.ws.close(ACCESS_ENDED, 'the access token was revoked');
    }
  }

  /** Closes every socket. */
  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private connected(ws: WebSocket, req: IncomingMessage): void {
    const mine = new Set<Binding>();
    // Commands are handled one after the other, so answers come in the order of the commands.
    let queue = Promise.resolve();
    ws.on('message', (data) => {
      queue = queue
        .then(() => this.command(ws, req, String(data).trim(), mine))
        .catch((err) => send(ws, `error ${(err as Error).message}`));
    });
    ws.on('close', () => {
      for (const b of mine) this.unbind(b);
    });
    ws.on('error', () => ws.terminate());
  }

  private async command(ws: WebSocket, req: IncomingMessage, text: string, mine: Set<Binding>): Promise<void> {
    const [verb, arg = '', lastText] = text.split(/\s+/);
    const last = lastText === undefined ? undefined : Number(lastText);
    if (last !== undefined && !(Number.isInteger(last) && last >= 0))
      return send(ws, `error the last event number must be a non-negative integer`);
    if (verb === 'bind') {
      const spec = await this.websocketSpec(arg);
      const access = await this.deps.resolveAccess(bearerTokenOf(req));
      if (!spec || !access || !(await this.deps.mayRead(access, arg)))
        return send(ws, `error ${arg}: no such websocket subscription, or not allowed`);
      return this.bind(ws, spec, 'ping', last, mine, access);
    }
    if (verb === 'bind-with-token') {
      const { rows } = await this.deps.pool.query<{ subscription_ids: string[]; access_token: string | null }>(
        'SELECT subscription_ids, access_token FROM ws_binding_token WHERE token = $1 AND expires_at > now()',
        [arg],
      );
      // The binding token binds with the access of the token it was made with, while that token is valid.
      const access = rows[0] && (await this.deps.resolveAccess(rows[0].access_token ?? undefined));
      if (!access) return send(ws, 'error the binding token is unknown, expired or revoked');
      for (const id of rows[0].subscription_ids) {
        const spec = await this.websocketSpec(id);
        if (spec && (await this.deps.mayRead(access, id))) await this.bind(ws, spec, 'bundle', last, mine, access);
      }
      return;
    }
    if (verb === 'unbind') {
      for (const b of [...mine]) {
        if (b.spec.id !== arg) continue;
        this.unbind(b);
        mine.delete(b);
      }
      return send(ws, `unbound ${arg}`);
    }
    send(ws, `error unknown command "${verb.slice(0, 40)}": use bind <id>, bind-with-token <token> or unbind <id>`);
  }

  private async websocketSpec(id: string): Promise<SubscriptionSpec | undefined> {
    if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) return undefined;
    const spec = (await this.deps.specs.load([id])).get(id);
    return spec?.channel === 'websocket' ? spec : undefined;
  }

  /** Binds and sends the catch-up (events after `last`) before the next command is answered. */
  private async bind(
    ws: WebSocket,
    spec: SubscriptionSpec,
    mode: Binding['mode'],
    last: number | undefined,
    mine: Set<Binding>,
    access: AccessContext,
  ): Promise<void> {
    const count = await eventCount(this.deps.pool, spec.id);
    const b: Binding = {
      ws,
      spec,
      mode,
      last: last ?? count,
      pumping: Promise.resolve(),
      access,
      reader: readerOf(access),
    };
    const expiresAt = access.credential?.expiresAt;
    if (expiresAt !== undefined) {
      b.expiry = setTimeout(
        () => ws.close(ACCESS_ENDED, 'the access token expired'),
        Math.min(MAX_TIMER_MS, Math.max(0, expiresAt * 1000 - Date.now())),
      );
      b.expiry.unref();
    }
    mine.add(b);
    const set = this.bindings.get(spec.id) ?? new Set<Binding>();
    this.bindings.set(spec.id, set.add(b));
    if (mode === 'ping') send(ws, `bound ${spec.id}`);
    else this.sendBundle(b, 'handshake', count);
    if (mode === 'bundle' && spec.heartbeatSeconds) {
      b.heartbeat = setInterval(
        () => void eventCount(this.deps.pool, spec.id).then((n) => this.sendBundle(b, 'heartbeat', n)),
        spec.heartbeatSeconds * 1000,
      );
      b.heartbeat.unref();
    }
    this.pump(b);
    await b.pumping;
  }

  private unbind(b: Binding): void {
    clearInterval(b.heartbeat);
    clearTimeout(b.expiry);
    this.bindings.get(b.spec.id)?.delete(b);
    if (this.bindings.get(b.spec.id)?.size === 0) this.bindings.delete(b.spec.id);
  }

  /** Sends the binding's events after `last`, one pump at a time per binding (so nothing is sent twice). */
  private pump(b: Binding): void {
    b.pumping = b.pumping
      .then(async () => {
        for (;;) {
          const rows = await eventsSince(this.deps.pool, b.spec.id, b.last, undefined, PAGE);
          for (const logged of eventsOf(rows)) {
            if (b.ws.readyState !== b.ws.OPEN) return;
            const withContent = b.mode === 'bundle' && b.spec.payload === 'full-resource';
            const [e] = await readableEvents(this.deps.repo, b.reader, [logged], withContent);
            if (b.ws.readyState !== b.ws.OPEN) return;
            if (e && b.mode === 'ping') send(b.ws, `ping ${b.spec.id}`);
            else if (e) {
              b.ws.send(
                JSON.stringify(
                  notificationBundle({
                    baseUrl: this.deps.baseUrl,
                    spec: b.spec,
                    type: 'event-notification',
                    eventsSinceStart: e.eventNumber,
                    events: [e],
                    content: b.spec.payload,
                  }),
                ),
              );
            }
            b.last = logged.eventNumber;
          }
          if (rows.length < PAGE) return;
        }
      })
      .catch((err) => this.deps.logger.warn({ err, subscription: b.spec.id }, 'websocket push failed'));
  }

  private sendBundle(b: Binding, type: NotificationType, eventsSinceStart: number): void {
    if (b.ws.readyState === b.ws.OPEN)
      b.ws.send(
        JSON.stringify(
          notificationBundle({ baseUrl: this.deps.baseUrl, spec: b.spec, type, eventsSinceStart, content: 'empty' }),
        ),
      );
  }
}

/** The bearer token of the upgrade request: `Authorization: Bearer`, or `access_token` in the URL (browsers). */
function bearerTokenOf(req: IncomingMessage): string | undefined {
  const url = new URL(req.url ?? '/', 'http://localhost');
  return (
    /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? url.searchParams.get('access_token') ?? undefined
  );
}

function send(ws: WebSocket, text: string): void {
  if (ws.readyState === ws.OPEN) ws.send(text);
}
