import type { Logger } from 'pino';
import pg from 'pg';

/**
 * The channel on which every node hears that tokens stopped being valid: the payload is the id of the client whose
 * token (or grant, or the client itself) was revoked or deleted. The token store sends it in the same statement or
 * transaction as the deletion (adapter.ts), so Postgres delivers it exactly when the deletion commits.
 */
export const REVOKED_CHANNEL = 'tributary_auth_revoked';

/** SQL that announces a revocation of client `$n`'s tokens (for use inside the deleting statement or transaction). */
export const announce = (param: string) => `pg_notify('${REVOKED_CHANNEL}', ${param})`;

/** Called with the client whose tokens were revoked, or `*` when anything may have been (the feed was down). */
export type RevocationListener = (clientId: string) => void;

/** How long to wait before connecting again after the feed's connection is lost. */
const RECONNECT_MS = 1000;

/**
 * This node's ear for revocations made anywhere in the cluster (LISTEN on REVOKED_CHANNEL), so a revoked token or a
 * deleted client stops working on every node at once rather than when a cache entry runs out. When its connection
 * is lost it reports `down` (callers stop trusting what they cached), reconnects, and then reports `*`: whatever
 * was revoked meanwhile was not heard.
 */
export class RevocationFeed {
  private client?: pg.Client;
  private closed = false;
  private readonly listeners: RevocationListener[] = [];

  constructor(
    private readonly connectionString: string,
    private readonly logger: Logger,
    private readonly health: { down(): void; up(): void },
  ) {}

  /** Calls `listener` for every revocation heard from now on. */
  subscribe(listener: RevocationListener): void {
    this.listeners.push(listener);
  }

  /** Connects and listens; resolves once listening (throws if the first connection fails). */
  async start(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.connectionString,
      application_name: 'tributary-auth-revocations',
    });
    let lost = false;
    const onLost = (err?: Error) => {
      if (lost || this.closed) return;
      lost = true;
      this.health.down();
      this.logger.error({ err }, 'revocation feed connection lost; reconnecting');
      void client.end().catch(() => {});
      setTimeout(() => void this.reconnect(), RECONNECT_MS).unref();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (n) => {
      if (n.channel === REVOKED_CHANNEL) this.emit(n.payload || '*');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${REVOKED_CHANNEL}`);
    } catch (err) {
      lost = true; // the caller retries; this connection's own events must not schedule another attempt
      void client.end().catch(() => {});
      throw err;
    }
    this.client = client;
    this.health.up();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => {});
  }

  private async reconnect(): Promise<void> {
    if (this.closed) return;
    try {
      await this.start();
      this.emit('*');
    } catch (err) {
      this.logger.error({ err }, 'revocation feed cannot reconnect; retrying');
      setTimeout(() => void this.reconnect(), RECONNECT_MS).unref();
    }
  }

  private emit(clientId: string): void {
    for (const listener of this.listeners) {
      try {
        listener(clientId);
      } catch (err) {
        this.logger.error({ err }, 'a revocation listener failed');
      }
    }
  }
}
