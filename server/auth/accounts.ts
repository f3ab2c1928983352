import { hash, verify } from '@node-rs/argon2';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { textProblem } from '../fhir/well-formed.ts';
import type { Role } from './policy.ts';

/** A user who can log in: locally (password) or through the upstream IdP. */
export interface Account {
  id: string;
  username: string;
  role: Role;
  /** The user's FHIR resource: `Practitioner/1`, `Patient/2`, `RelatedPerson/3`. */
  fhirUser?: string;
  /** For patient and related-person users: the patient whose compartment is theirs. */
  patient?: string;
  name?: string;
}

/** The outcome of a password check. */
export type LoginResult = { account: Account } | { error: 'invalid' | 'locked' };

const COLUMNS = 'id, username, role, fhir_user AS "fhirUser", patient, name';

/** Lockout policy for local passwords. */
export interface LockoutPolicy {
  maxFailures: number;
  lockMinutes: number;
}

/** A hash of a random password, verified when the username is unknown so both cases take as long. */
const DUMMY_HASH = hash(randomUUID());

/**
 * Local accounts (`auth_user`): argon2id password hashes, lockout after repeated failures, and the link to the
 * user's FHIR resource (`fhirUser`). Accounts from the upstream IdP live here too, keyed by issuer and subject.
 */
export class Accounts {
  constructor(
    private readonly pool: pg.Pool,
    private readonly lockout: LockoutPolicy,
  ) {}

  /** The account with this id, if any. */
  async find(id: string): Promise<Account | undefined> {
    const r = await this.pool.query<Account>(`SELECT ${COLUMNS} FROM auth_user WHERE id = $1`, [id]);
    return clean(r.rows[0]);
  }

  /** Checks a password; counts failures and locks the account for a while after too many. */
  async login(username: string, password: string): Promise<LoginResult> {
    if (textProblem(username)) {
      await verify(await DUMMY_HASH, password); // no such user can exist; answer as slowly as for an unknown one
      return { error: 'invalid' };
    }
    const r = await this.pool.query<Account & { passwordHash: string | null; locked: boolean }>(
      `SELECT ${COLUMNS}, password_hash AS "passwordHash", coalesce(locked_until > now(), false) AS locked
       FROM auth_user WHERE username = $1`,
      [username],
    );
    const row = r.rows[0];
    if (!row?.passwordHash) {
      await verify(await DUMMY_HASH, password);
      return { error: 'invalid' };
    }
    if (row.locked) return { error: 'locked' };
    if (await verify(row.passwordHash, password)) {
      await this.pool.query('UPDATE auth_user SET failed_logins = 0, locked_until = NULL WHERE id = $1', [row.id]);
      return { account: clean(row)! };
    }
    await this.pool.query(
      `UPDATE auth_user SET
         locked_until = CASE WHEN failed_logins + 1 >= $2 THEN now() + make_interval(mins => $3::int) END,
         failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END
       WHERE id = $1`,
      [row.id, this.lockout.maxFailures, this.lockout.lockMinutes],
    );
    return { error: 'invalid' };
  }

  /** Creates or updates a local account (by username), hashing the password with argon2id. */
  async upsertLocal(user: Omit<Account, 'id'> & { password: string }): Promise<Account> {
    const passwordHash = await hash(user.password);
    const r = await this.pool.query<Account>(
      `INSERT INTO auth_user (id, username, password_hash, role, fhir_user, patient, name) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role,
         fhir_user = excluded.fhir_user, patient = excluded.patient, name = excluded.name,
         failed_logins = 0, locked_until = NULL
       RETURNING ${COLUMNS}`,
      [
        randomUUID(),
        user.username,
        passwordHash,
        user.role,
        user.fhirUser ?? null,
        user.patient ?? null,
        user.name ?? null,
      ],
    );
    return clean(r.rows[0])!;
  }

  /**
   * The account of a user the upstream IdP authenticated, created on first login with `role` (an operator links it
   * to a FHIR resource later); the name is refreshed on every login.
   */
  async upsertUpstream(
    issuer: string,
    subject: string,
    username: string,
    name: string | undefined,
    role: Role,
  ): Promise<Account> {
    const r = await this.pool.query<Account>(
      `INSERT INTO auth_user (id, username, role, name, upstream_issuer, upstream_subject) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (upstream_issuer, upstream_subject) DO UPDATE SET name = excluded.name
       RETURNING ${COLUMNS}`,
      [randomUUID(), `${username}@${new URL(issuer).host}`, role, name ?? null, issuer, subject],
    );
    return clean(r.rows[0])!;
  }
}

function clean<T extends Account | undefined>(row: T): T {
  if (!row) return row;
  return {
    id: row.id,
    username: row.username,
    role: row.role,
    ...(row.fhirUser ? { fhirUser: row.fhirUser } : {}),
    ...(row.patient ? { patient: row.patient } : {}),
    ...(row.name ? { name: row.name } : {}),
  } as T;
}
