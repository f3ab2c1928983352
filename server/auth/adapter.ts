import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type pg from 'pg';
import { findIllFormedValue, textProblem } from '../fhir/well-formed.ts';
import { announce } from './revocations.ts';

/** Models whose deletion ends access to the FHIR API (access tokens), announced to every node (revocations.ts). */
const ACCESS_MODELS = new Set(['AccessToken', 'ClientCredentials']);

/**
 * oidc-provider's storage in Postgres (table `oidc_payload`): one row per artifact (session, interaction, code,
 * token, grant, dynamically registered client, replay record), so every node of a cluster sees the same state and
 * tokens survive restarts. oidc-provider ships only an in-memory adapter; this is the documented adapter interface.
 * Deleting an access token (revocation) or a grant's artifacts announces it to every node in the same statement.
 * Request values reach it unchecked (a `client_id`, `state` or token of `%00`): text Postgres cannot hold (NUL, a
 * lone surrogate) is never found, and refused as `invalid_request` when oidc-provider would store it.
 */
export function postgresAdapter(pool: pg.Pool): new (model: string) => Adapter {
  return class PostgresAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const bad = findIllFormedValue(payload, this.model);
      if (bad || textProblem(id))
        throw new errors.InvalidRequest(`a request value cannot be stored: ${bad?.problem ?? 'the id is not text'}`);
      await pool.query(
        `INSERT INTO oidc_payload (model, id, payload, grant_id, user_code, uid, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::int IS NULL THEN NULL ELSE now() + make_interval(secs => $7::int) END)
         ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
           user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`,
        [
          this.model,
          id,
          payload,
          payload.grantId ?? null,
          payload.userCode ?? null,
          payload.uid ?? null,
          expiresIn ?? null,
        ],
      );
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      return this.findWhere('id = $2', id);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.findWhere('uid = $2', uid);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.findWhere('user_code = $2', userCode);
    }

    async consume(id: string): Promise<void> {
      if (textProblem(id)) return;
      await pool.query('UPDATE oidc_payload SET consumed_at = now() WHERE model = $1 AND id = $2', [this.model, id]);
    }

    async destroy(id: string): Promise<void> {
      if (textProblem(id)) return;
      if (!ACCESS_MODELS.has(this.model)) {
        await pool.query('DELETE FROM oidc_payload WHERE model = $1 AND id = $2', [this.model, id]);
        return;
      }
      await pool.query(
        `WITH gone AS (DELETE FROM oidc_payload WHERE model = $1 AND id = $2 RETURNING payload->>'clientId' AS client)
         SELECT ${announce('client')} FROM gone WHERE client IS NOT NULL`,
        [this.model, id],
      );
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      if (textProblem(grantId)) return;
      await pool.query(
        `WITH gone AS (DELETE FROM oidc_payload WHERE grant_id = $1 RETURNING payload->>'clientId' AS client)
         SELECT ${announce('client')} FROM (SELECT DISTINCT client FROM gone WHERE client IS NOT NULL) c`,
        [grantId],
      );
    }

    private async findWhere(where: string, value: string): Promise<AdapterPayload | undefined> {
      if (typeof value !== 'string' || textProblem(value)) return undefined; // nothing stored has such a key
      const r = await pool.query<{ payload: AdapterPayload; consumed: number | null }>(
        `SELECT payload, extract(epoch FROM consumed_at)::bigint AS consumed FROM oidc_payload
         WHERE model = $1 AND ${where} AND (expires_at IS NULL OR expires_at > now())`,
        [this.model, value],
      );
      const row = r.rows[0];
      if (!row) return undefined;
      return row.consumed ? { ...row.payload, consumed: row.consumed } : row.payload;
    }
  };
}

/**
 * Deletes a client with everything issued to it (grants, codes, access and refresh tokens) in one transaction, and
 * announces it to every node: its tokens stop working at once everywhere. False when there was no such client.
 */
export async function destroyClient(pool: pg.Pool, clientId: string): Promise<boolean> {
  if (textProblem(clientId)) return false; // no stored client has such an id
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const gone = await client.query(`DELETE FROM oidc_payload WHERE model = 'Client' AND id = $1`, [clientId]);
    await client.query(`DELETE FROM oidc_payload WHERE model <> 'Client' AND payload->>'clientId' = $1`, [clientId]);
    await client.query(`SELECT ${announce('$1')}`, [clientId]);
    await client.query('COMMIT');
    return (gone.rowCount ?? 0) > 0;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** Deletes expired artifacts (oidc-provider never asks the adapter to; rows past expires_at are already invisible). */
export async function purgeExpired(pool: pg.Pool): Promise<number> {
  const r = await pool.query('DELETE FROM oidc_payload WHERE expires_at < now()');
  return r.rowCount ?? 0;
}
