import express from 'express';
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type pg from 'pg';
import type { Repository } from '../../server/core/repository.ts';
import type { AccessContext } from '../../server/core/types.ts';
import { isDeviceId } from './topics.ts';

const scrypt = promisify(scryptCb) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;

/** Failed logins of one username within the window after which its connections are refused outright. */
const MAX_FAILURES = 5;
const FAILURE_WINDOW_MS = 60_000;

/**
 * Device identities of the MQTT door: a device connects with username = MQTT client id = its Device's logical id,
 * and as password either the secret issued by `POST /admin/mqtt/devices` (kept as a salted scrypt hash, shown once)
 * or a current access token of an OAuth client whose id is the device id. Repeated failures are rate limited.
 */
export class DeviceCredentials {
  private readonly failures = new Map<string, { count: number; since: number }>();
  /**
   * Secrets verified lately, so that a reconnecting device costs no scrypt: device id → its stored hash and the
   * SHA-256 of the password that matched it. The stored hash is read on every CONNECT, so a secret replaced or revoked
   * on any node stops matching at once.
   */
  private readonly verified = new Map<string, string>();
  private readonly revokeListeners: ((deviceId: string) => void)[] = [];

  constructor(
    private readonly pool: pg.Pool,
    private readonly resolveAccess: (token: string) => Promise<AccessContext | undefined>,
  ) {}

  /** Issues (or replaces) the secret of a device; returns it (never stored in clear). */
  async issue(deviceId: string): Promise<string> {
    const secret = randomBytes(24).toString('base64url');
    const salt = randomBytes(16);
    const hash = `${salt.toString('base64')}$${(await scrypt(secret, salt, 32)).toString('base64')}`;
    await this.pool.query(
      `INSERT INTO mqtt_device_credential (device_id, secret_hash) VALUES ($1, $2)
       ON CONFLICT (device_id) DO UPDATE SET secret_hash = EXCLUDED.secret_hash, created_at = now()`,
      [deviceId, hash],
    );
    this.verified.delete(deviceId);
    for (const listener of this.revokeListeners) listener(deviceId);
    return secret;
  }

  /** Revokes a device's secret (its connections on this node are closed); true when it had one. */
  async revoke(deviceId: string): Promise<boolean> {
    this.verified.delete(deviceId);
    const { rowCount } = await this.pool.query('DELETE FROM mqtt_device_credential WHERE device_id = $1', [deviceId]);
    for (const listener of this.revokeListeners) listener(deviceId);
    return (rowCount ?? 0) > 0;
  }

  /** Calls `listener` with the id of each device whose secret is revoked or replaced here. */
  onRevoke(listener: (deviceId: string) => void): void {
    this.revokeListeners.push(listener);
  }

  /**
   * Whether `clientId`/`username`/`password` authenticate a device: all three name the same device, and the password
   * is its secret or an access token issued to it. `'limited'` when the username failed too often lately.
   */
  async authenticate(clientId: string, username: string | undefined, password: string): Promise<boolean | 'limited'> {
    if (!username || username !== clientId || !isDeviceId(username)) return false;
    const failures = this.failures.get(username);
    if (failures && Date.now() - failures.since < FAILURE_WINDOW_MS && failures.count >= MAX_FAILURES) return 'limited';
    const ok = (await this.checkSecret(username, password)) || (await this.checkToken(username, password));
    if (ok) this.failures.delete(username);
    else this.recordFailure(username);
    return ok;
  }

  private async checkSecret(deviceId: string, password: string): Promise<boolean> {
    const { rows } = await this.pool.query<{ secret_hash: string }>(
      'SELECT secret_hash FROM mqtt_device_credential WHERE device_id = $1',
      [deviceId],
    );
    if (!rows[0]) return false;
    const remembered = `${rows[0].secret_hash}|${createHash('sha256').update(password).digest('base64')}`;
    if (this.verified.get(deviceId) === remembered) return true;
    const [salt, hash] = rows[0].secret_hash.split('$').map((s) => Buffer.from(s, 'base64'));
    const ok = timingSafeEqual(await scrypt(password, salt, 32), hash);
    if (ok) this.verified.set(deviceId, remembered);
    return ok;
  }

  private async checkToken(deviceId: string, token: string): Promise<boolean> {
    if (token.length > 8192) return false;
    const access = await this.resolveAccess(token).catch(() => undefined);
    // With AUTH=off every token resolves to system access without a client id: that never matches a device.
    return !!access && access.clientId === deviceId;
  }

  private recordFailure(username: string): void {
    const now = Date.now();
    const entry = this.failures.get(username);
    if (!entry || now - entry.since >= FAILURE_WINDOW_MS) this.failures.set(username, { count: 1, since: now });
    else entry.count++;
    if (this.failures.size > 100_000) this.failures.clear(); // bounded memory under a username-spraying attack
  }
}

/**
 * The admin API of device credentials, under `/admin/mqtt` (admins only): `POST /devices` `{"device": "Device/<id>"}`
 * answers `{client_id, client_secret}` (201; the secret is shown this once), `DELETE /devices/{id}` revokes (204).
 */
export function deviceAdminRoutes(credentials: DeviceCredentials, repo: Repository): express.Router {
  const router = express.Router();
  router.post('/devices', async (req, res) => {
    const ref = (req.body as { device?: unknown } | undefined)?.device;
    const id = typeof ref === 'string' ? /^Device\/([^/]+)$/.exec(ref)?.[1] : undefined;
    if (!id || !isDeviceId(id)) {
      res.status(400).json(issue('invalid', 'Expected {"device": "Device/<id>"} with a valid id'));
      return;
    }
    if (!(await repo.read('Device', id).catch(() => undefined))) {
      res.status(404).json(issue('not-found', `Device/${id} does not exist`));
      return;
    }
    res.status(201).json({ client_id: id, client_secret: await credentials.issue(id) });
  });
  router.delete('/devices/:id', async (req, res) => {
    const found = await credentials.revoke(req.params.id);
    if (found) res.status(204).end();
    else res.status(404).json(issue('not-found', `Device/${req.params.id} has no MQTT credentials`));
  });
  return router;
}

function issue(code: string, diagnostics: string) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
}
