import type { RouteGuard } from '../core/router.ts';
import type { AccessContext, FhirResponse } from '../core/types.ts';
import type { Repository } from '../core/repository.ts';
import { snapshotOf } from './readers.ts';

/** Interactions that write a Subscription (deletions need nothing: a deleted subscription sends nothing). */
const WRITES = new Set(['create', 'update', 'patch', 'conditional-update', 'conditional-patch']);

/**
 * A router guard that records, with every write of a Subscription, the read access of whoever wrote it
 * (`subscription_owner`, in the write's own transaction): rest-hook notifications then carry only what that access
 * may read. It is the server's record, never part of the resource, so a client cannot widen it; the last writer's
 * access is the one that counts (an unconfined writer removes the limit).
 */
export function subscriptionOwnerGuard(): RouteGuard {
  return async (ctx, _req, match, run) => {
    if (match.params.type !== 'Subscription' || !WRITES.has(match.interaction)) return run(ctx);
    return ctx.repo.transaction(async (repo) => {
      const res = await run({ ...ctx, repo });
      const id = match.params.id ?? writtenId(res);
      if (id && res.status < 300) await recordOwner(repo, id, ctx.access);
      return res;
    });
  };
}

function writtenId(res: FhirResponse): string | undefined {
  return /(?:^|\/)Subscription\/([A-Za-z0-9\-.]{1,64})\/_history\//.exec(res.headers?.location ?? '')?.[1];
}

async function recordOwner(repo: Repository, id: string, access: AccessContext): Promise<void> {
  const snapshot = snapshotOf(access);
  if (!snapshot) {
    await repo.query('DELETE FROM subscription_owner WHERE subscription_id = $1', [id]);
    return;
  }
  await repo.query(
    `INSERT INTO subscription_owner (subscription_id, client_id, read_access) VALUES ($1, $2, $3)
     ON CONFLICT (subscription_id) DO UPDATE SET client_id = excluded.client_id, read_access = excluded.read_access`,
    [id, access.clientId ?? null, JSON.stringify(snapshot)],
  );
}
