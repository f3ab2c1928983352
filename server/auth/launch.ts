import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { textProblem } from '../fhir/well-formed.ts';
import { postgresAdapter } from './adapter.ts';

/** An EHR launch: the context an EHR hands to an app through the `launch` parameter. */
export interface LaunchRecord {
  id: string;
  patient?: string;
  encounter?: string;
}

/** The SMART context bound to a grant at consent, given with every token of that grant. */
export interface GrantContext {
  grantId: string;
  patient?: string;
  encounter?: string;
  fhirUser?: string;
  /** True for standalone launches (the app shows the patient), false when the EHR already does. */
  needPatientBanner: boolean;
}

/** How long a launch id stays usable. */
const LAUNCH_TTL_SECONDS = 3600;

/** Creates a launch context (`POST /auth/launch`) and returns its opaque id. */
export async function createLaunch(
  pool: pg.Pool,
  context: Omit<LaunchRecord, 'id'>,
  createdBy: string,
): Promise<LaunchRecord> {
  const id = randomBytes(16).toString('base64url');
  await pool.query(
    `INSERT INTO auth_launch (id, patient, encounter, created_by, expires_at)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::int))`,
    [id, context.patient ?? null, context.encounter ?? null, createdBy, LAUNCH_TTL_SECONDS],
  );
  return { id, ...context };
}

/** The launch context of an unexpired launch id (none for a value that is not text, such as `%00`). */
export async function findLaunch(pool: pg.Pool, id: string): Promise<LaunchRecord | undefined> {
  if (textProblem(id)) return undefined;
  const r = await pool.query<{ id: string; patient: string | null; encounter: string | null }>(
    'SELECT id, patient, encounter FROM auth_launch WHERE id = $1 AND expires_at > now()',
    [id],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    id: row.id,
    ...(row.patient ? { patient: row.patient } : {}),
    ...(row.encounter ? { encounter: row.encounter } : {}),
  };
}

/**
 * Grant contexts are kept with oidc-provider's artifacts (model `GrantContext`, keyed and indexed by grant id), so
 * revoking a grant removes its context too.
 */
export class GrantContexts {
  private readonly store;

  constructor(pool: pg.Pool) {
    this.store = new (postgresAdapter(pool))('GrantContext');
  }

  async save(context: GrantContext, ttlSeconds: number): Promise<void> {
    await this.store.upsert(context.grantId, { ...context }, ttlSeconds);
  }

  async find(grantId: string): Promise<GrantContext | undefined> {
    return (await this.store.find(grantId)) as GrantContext | undefined;
  }
}
