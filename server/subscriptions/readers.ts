import type { Resource } from '@medplum/fhirtypes';
import { matchesAny } from '../auth/match.ts';
import { loadDefinitions } from '../fhir/definitions.ts';
import type { AccessContext, SearchCriteria } from '../core/types.ts';
import type { Repository } from '../core/repository.ts';
import type { NotificationEvent } from './notification-bundle.ts';
import type { ReadSnapshot } from './subscription-spec.ts';

/**
 * What a reader of notifications may read, per resource type: the criteria alternatives a resource of the type must
 * match (as `AccessContext.whereFor('r', type)`: undefined = every resource of it, [] = none).
 */
export type Reader = (resourceType: string) => SearchCriteria[] | undefined;

/** Reads everything: in-process doors, `AUTH=off`, unconfined tokens. */
export const UNCONFINED: Reader = () => undefined;

/** The reader an access stands for: what it may read by id. */
export function readerOf(access: AccessContext): Reader {
  return access.whereFor ? (type) => access.whereFor?.('r', type) : UNCONFINED;
}

/** A snapshot of what an access may read, or undefined when it reads every resource of every type. */
export function snapshotOf(access: AccessContext): ReadSnapshot | undefined {
  if (!access.whereFor) return undefined;
  const snapshot: ReadSnapshot = {};
  let confined = false;
  for (const type of loadDefinitions().resourceTypeSet) {
    const where = access.whereFor('r', type);
    if (where === undefined) snapshot[type] = null;
    else {
      confined = true;
      if (where.length > 0) snapshot[type] = where;
    }
  }
  return confined ? snapshot : undefined;
}

/** The reader of a stored snapshot (none stored: unconfined). */
export function readerOfSnapshot(snapshot: ReadSnapshot | undefined): Reader {
  if (!snapshot) return UNCONFINED;
  return (type) => (type in snapshot ? (snapshot[type] ?? undefined) : []);
}

/** What a reader gets of one notified version: whether it may see it at all, and its content when it may. */
export interface Judged {
  visible: boolean;
  /** The version's stored JSON (only when asked for, visible and not a deletion). */
  content?: string;
}

/**
 * Judges one notified version for a reader, as a read by id would be judged (server/auth/enforce.ts): the version
 * must match the reader's criteria for its type; a deletion is judged on the last live version before it (one
 * without any is outside every scope). `withContent` also returns the version's JSON when it is visible.
 */
export async function judgeVersion(
  repo: Repository,
  reader: Reader,
  type: string,
  id: string,
  versionId: number,
  withContent: boolean,
): Promise<Judged> {
  const where = reader(type);
  if (where !== undefined && where.length === 0) return { visible: false };
  if (where === undefined && !withContent) return { visible: true };
  const { rows } = await repo.query<{ content: string | null; previous: string | null }>(
    `SELECT h.content, CASE WHEN h.deleted THEN (
       SELECT p.content FROM resource_history p WHERE p.resource_type = h.resource_type AND p.id = h.id
         AND p.version_id < h.version_id AND NOT p.deleted ORDER BY p.version_id DESC LIMIT 1) END AS previous
     FROM resource_history h WHERE h.resource_type = $1 AND h.id = $2 AND h.version_id = $3`,
    [type, id, versionId],
  );
  const row = rows[0];
  if (!row) return { visible: false };
  if (where === undefined) return { visible: true, content: row.content ?? undefined };
  const judged = row.content ?? row.previous;
  if (!judged || !matchesAny(JSON.parse(judged) as Resource, where)) return { visible: false };
  return { visible: true, content: withContent ? (row.content ?? undefined) : undefined };
}

/**
 * The events a reader may see, with the focus resources when `withContent` (deletions carry none): an event about a
 * version the reader may not read is left out entirely — not sent id-only — so nothing about it (its id, that it
 * exists, that it matched) reaches the reader.
 */
export async function readableEvents(
  repo: Repository,
  reader: Reader,
  events: NotificationEvent[],
  withContent: boolean,
): Promise<NotificationEvent[]> {
  const out: NotificationEvent[] = [];
  for (const e of events) {
    const judged = await judgeVersion(
      repo,
      reader,
      e.resourceType,
      e.id,
      e.versionId,
      withContent && e.action !== 'delete',
    );
    if (!judged.visible) continue;
    if (judged.content) e.resource = JSON.parse(judged.content) as Resource;
    out.push(e);
  }
  return out;
}
