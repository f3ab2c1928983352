import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { LOCKS } from '../db/locks.ts';

/** Advisory lock key that serialises key rotation across nodes. */
const ROTATION_LOCK_KEY = LOCKS.keyRotation;

/**
 * The authorization server's signing keys, newest first (oidc-provider signs with the first key of an algorithm and
 * verifies with any). A new key is generated when none exists or the newest is older than `rotationDays`; keys older
 * than two rotation periods are dropped, so tokens and ID tokens signed before a rotation still verify for a while.
 * Keys live in Postgres (`oidc_key`) so all nodes sign and publish the same JWKS.
 */
export async function loadSigningKeys(pool: pg.Pool, rotationDays: number): Promise<JWK[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [ROTATION_LOCK_KEY]);
    const newest = await client.query<{ age_days: number }>(
      'SELECT extract(epoch FROM now() - created_at) / 86400 AS age_days FROM oidc_key ORDER BY created_at DESC LIMIT 1',
    );
    if (!newest.rows[0] || Number(newest.rows[0].age_days) >= rotationDays) await insertNewKeys(client);
    await client.query(`DELETE FROM oidc_key WHERE created_at < now() - make_interval(days => $1::int)`, [
      2 * rotationDays,
    ]);
    const keys = await client.query<{ jwk: JWK }>('SELECT jwk FROM oidc_key ORDER BY created_at DESC, kid');
    await client.query('COMMIT');
    return keys.rows.map((r) => r.jwk);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** Adds a new RS256 and ES384 key pair generation (RS256 signs ID tokens by default; ES384 is offered too). */
async function insertNewKeys(client: pg.PoolClient): Promise<void> {
  const created = new Date().toISOString();
  for (const [alg, options] of [
    ['RS256', { modulusLength: 2048, extractable: true }],
    ['ES384', { extractable: true }],
  ] as const) {
    const { privateKey } = await generateKeyPair(alg, options);
    const jwk = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg, use: 'sig' };
    await client.query('INSERT INTO oidc_key (kid, jwk, created_at) VALUES ($1, $2, $3)', [jwk.kid, jwk, created]);
  }
}

/** Forces a new key generation now (operators and the rotation test); the caller rebuilds the provider. */
export async function rotateSigningKeys(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [ROTATION_LOCK_KEY]);
    await insertNewKeys(client);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
