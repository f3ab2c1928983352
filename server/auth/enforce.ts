import type { Bundle, OperationOutcome, Resource } from '@medplum/fhirtypes';
import { forbidden, notFound, toOutcomeError } from '../fhir/outcomes.ts';
import { lockAndMatch } from '../search/conditional-query.ts';
import { responseResource } from '../core/respond.ts';
import type { RouteGuard, RouteMatch } from '../core/router.ts';
import type { AccessContext, FhirContext, FhirRequest, FhirResponse } from '../core/types.ts';
import type { Repository } from '../core/repository.ts';
import { matchesAny } from './match.ts';
import type { Permission } from './scopes.ts';

type Run = (ctx: FhirContext) => Promise<FhirResponse>;

/** A decision of the guard, for the audit trail. */
export interface AccessDecision {
  ctx: FhirContext;
  req: FhirRequest;
  interaction: string;
  resourceType?: string;
  id?: string;
  /** HTTP status of the outcome (403/404 when refused by the guard). */
  status: number;
  allowed: boolean;
  reason?: string;
  /** The OperationOutcome of a failure. */
  outcome?: OperationOutcome;
}

/**
 * THE place FHIR access is enforced: a router guard (FhirRouter.useGuard) around every interaction, whichever door
 * dispatched it (HTTP, each batch/transaction entry, MLLP, MQTT, bots). Contexts without `permits` (trusted
 * in-process doors, `AUTH=off`) pass untouched. For SMART tokens, by the router's interaction name:
 * - the interaction × type needs the matching SMART v2 permission (`r` read/vread/instance history, `s` searches and
 *   type/system history, `c` create, `u` update/patch, `d` delete) or the request gets 403;
 * - searches are confined by the search engine, which ANDs `visibleWhere` into its SQL;
 * - reads by id are judged on the resource with the same criteria (outside: 404, as if absent; a deleted resource
 *   is judged on its last live version); under a confined token an unknown id gets the guard's own 404, so hidden and
 *   absent ids answer alike;
 * - writes run in one DB transaction with the check: the current version must be inside the scope and so must the
 *   written one, or the transaction rolls back (403) and nothing is left behind; a compartment-confined token's
 *   writes must stay inside its patient's compartment alone (AccessContext.mayWrite);
 * - interactions it does not know need unrestricted access (fail closed).
 */
export function createAccessGuard(onDecision: (d: AccessDecision) => void = () => {}): RouteGuard {
  return async (ctx, req, match, run) => {
    const access = ctx.access;
    const [resourceType, id] = instanceOf(req, match);
    const decide = (status: number, allowed: boolean, reason?: string, outcome?: OperationOutcome) =>
      onDecision({ ctx, req, interaction: match.interaction, resourceType, id, status, allowed, reason, outcome });
    if (!access.permits) return run(ctx);
    try {
      const res = await enforce(ctx, req, access, match, run);
      decide(res.status, true);
      return res;
    } catch (err) {
      const failure = toOutcomeError(err);
      // A failed batch/transaction is one decision of its own: the decisions of its entries rolled back with it.
      if (failure.status === 403 || failure.status === 404 || match.interaction === 'transaction') {
        decide(failure.status, false, failure.message, failure.outcome);
      }
      throw err;
    }
  };
}

/** The type and id an interaction is about: the compartment owner of a compartment search, else the path's. */
function instanceOf(req: FhirRequest, match: RouteMatch): [string | undefined, string | undefined] {
  const { compartment, type, id } = match.params;
  if (compartment) return [compartment, id];
  return [type ?? (id ? req.path.split('/')[0] : undefined), id];
}

async function enforce(
  ctx: FhirContext,
  req: FhirRequest,
  access: AccessContext,
  match: RouteMatch,
  run: Run,
): Promise<FhirResponse> {
  const { type, id } = match.params;
  switch (match.access) {
    case 'public':
      return run(ctx);
    case 'read':
      return readOperation(ctx, access, type, id, run);
    case 'unrestricted':
      return unrestrictedOperation(access, type, match.interaction, () => run(ctx));
    case 'interaction':
      return interaction(ctx, req, access, match, run);
  }
}

/** FHIR's own interactions, each by its rule (the routes declare `access: 'interaction'`). */
async function interaction(
  ctx: FhirContext,
  req: FhirRequest,
  access: AccessContext,
  match: RouteMatch,
  run: Run,
): Promise<FhirResponse> {
  const { type, id } = match.params;
  switch (match.interaction) {
    case 'transaction': // batch/transaction: every entry is dispatched through this guard on its own
      return run(ctx);
    case 'read':
    case 'vread':
      return read(ctx, access, type, id, false, run);
    case 'history-instance':
      return read(ctx, access, type, id, true, run);
    case 'history-type':
      requirePermit(access, 's', type);
      if (access.visibleWhere?.(type) !== undefined)
        throw forbidden(`History of ${type} is not available to a confined token; use search`);
      return run(ctx);
    case 'history-system':
      requireUnconfined(access, 's');
      return run(ctx);
    case 'search-type':
      requirePermit(access, 's', type);
      return run(ctx);
    case 'search-system': {
      const listed = (req.query._type ?? [])
        .flatMap((v) => v.split(','))
        .map((t) => t.trim())
        .filter(Boolean);
      for (const t of listed) requirePermit(access, 's', t);
      if (listed.length === 0) requireUnconfined(access, 's');
      return run(ctx);
    }
    case 'search-compartment':
      // A search of `type` with one more criterion; the engine confines it (an invisible owner just matches nothing).
      if (type) requirePermit(access, 's', type);
      else requireUnconfined(access, 's');
      return run(ctx);
    case 'create':
      return create(ctx, access, type, run);
    case 'update':
    case 'patch':
      return write(ctx, access, type, 'u', run, async () => [id]);
    case 'delete':
      return write(ctx, access, type, 'd', run, async () => [id]);
    case 'conditional-update':
      return write(ctx, access, type, 'u', run, async (c) => {
        const ids = await lockAndMatch(c, type, req.query);
        // no match: the handler writes the body's id when it has one, which may name an existing resource
        const bodyId = (req.body as Resource | undefined)?.id;
        return ids.length === 0 && typeof bodyId === 'string' ? [bodyId] : ids;
      });
    case 'conditional-patch':
      return write(ctx, access, type, 'u', run, (c) => lockAndMatch(c, type, req.query));
    case 'conditional-delete':
      return write(ctx, access, type, 'd', run, (c) => lockAndMatch(c, type, req.query));
    case 'validate':
      if (!access.permits?.('c', type) && !access.permits?.('u', type))
        throw forbidden(`Insufficient scope: $validate needs create or update of ${type}`);
      if (id) await requireVisibleInstance(ctx, access, type, id);
      return run(ctx);
    default: // the router admits no other interaction name; fail closed all the same
      for (const p of ['c', 'r', 'u', 'd', 's'] as const) requireUnconfined(access, p);
      return run(ctx);
  }
}

function requirePermit(access: AccessContext, p: Permission, type: string): void {
  if (!access.permits?.(p, type)) throw forbidden(`Insufficient scope: ${permissionName(p)} of ${type} is not granted`);
}

/** For system-wide interactions: the token must reach every resource of every type. */
function requireUnconfined(access: AccessContext, p: Permission): void {
  if (access.whereFor?.(p, '*') !== undefined)
    throw forbidden(`Insufficient scope: ${permissionName(p)} across all types is not granted`);
}

function permissionName(p: Permission): string {
  return { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' }[p];
}

/**
 * Read, vread and instance history: the resource (each version) must be inside the readable criteria, else 404.
 * Refusals the handler gives (404, 410 gone, 304) are passed on only for resources the token may see.
 */
async function read(
  ctx: FhirContext,
  access: AccessContext,
  type: string,
  id: string,
  history: boolean,
  run: Run,
): Promise<FhirResponse> {
  requirePermit(access, 'r', type);
  const where = access.whereFor?.('r', type);
  if (where === undefined) return run(ctx);
  if (history) await requireVisibleInstance(ctx, access, type, id);
  const res = await run(ctx).catch(async (err: unknown) => {
    await requireVisibleInstance(ctx, access, type, id);
    throw err;
  });
  const resource = res.status === 200 ? responseResource(res) : undefined;
  if (history && resource) {
    const bundle = resource as Bundle;
    bundle.entry = (bundle.entry ?? []).filter((e) => !e.resource || matchesAny(e.resource, where));
    return { ...res, resource: bundle, content: undefined };
  }
  if (resource && !matchesAny(resource, where)) throw unknown(type, id);
  if (!resource) await requireVisibleInstance(ctx, access, type, id);
  return res;
}

/**
 * The resource must be readable: its current version, or its last live one once deleted. Else 404, the same answer
 * (status and text) an unknown id gets from a confined token, so the two cannot be told apart.
 */
async function requireVisibleInstance(
  ctx: FhirContext,
  access: AccessContext,
  type: string,
  id: string,
): Promise<void> {
  requirePermit(access, 'r', type);
  const where = access.whereFor?.('r', type);
  if (where === undefined) return;
  const judged = await judgedVersion(ctx.repo, type, id);
  if (judged === undefined || !matchesAny(judged, where)) throw unknown(type, id);
}

/** The one answer for an id a token may not see, whether it exists or not (the store's own words for an unknown id). */
function unknown(type: string, id: string) {
  return notFound(`${type}/${id} is not known`);
}

/** Whether the token may write this version with `p`: AccessContext.mayWrite, or its `whereFor` criteria. */
function mayWrite(access: AccessContext, p: 'c' | 'u' | 'd', resource: Resource): boolean {
  return access.mayWrite
    ? access.mayWrite(p, resource)
    : matchesAny(resource, access.whereFor?.(p, resource.resourceType));
}

/**
 * The version access to a resource is judged on: the current one, or the last live one once deleted (so a deleted
 * resource stays as invisible as it was). Undefined when the resource never existed.
 */
async function judgedVersion(repo: Repository, type: string, id: string): Promise<Resource | undefined> {
  const row = await repo.readCurrent(type, id);
  if (!row) return undefined;
  const content = row.deleted
    ? (await repo.history({ resourceType: type, id, count: 2 })).find((v) => v.content)?.content
    : row.content;
  // a deletion without a live version before it cannot be judged: treated as outside every scope
  return content ? (JSON.parse(content) as Resource) : ({ resourceType: type, id } as Resource);
}

/** Create (plain or If-None-Exist): the created resource must be creatable, a returned existing one visible. */
async function create(ctx: FhirContext, access: AccessContext, type: string, run: Run): Promise<FhirResponse> {
  requirePermit(access, 'c', type);
  if (access.whereFor?.('c', type) === undefined && access.visibleWhere?.(type) === undefined) return run(ctx);
  return ctx.repo.transaction(async (repo) => {
    const txCtx = { ...ctx, repo };
    const res = await run(txCtx);
    const written = await writtenResource(txCtx, res, type);
    const allowed =
      res.status === 201 ? mayWrite(access, 'c', written) : matchesAny(written, access.visibleWhere?.(type));
    if (!allowed)
      throw forbidden(
        `Insufficient scope: this ${type} is outside what the token may ${res.status === 201 ? 'create' : 'read'}`,
      );
    return res;
  });
}

/**
 * Update, patch and delete (by id or conditional): in one transaction, every targeted current version must be one the
 * token may update/delete, and the written version one it may update (or create, for update-as-create). A target
 * the token may see but not write answers 403. One it may not see answers 404, like an unknown id; so, to a token
 * that cannot see every resource of the type, does an unknown id: update-as-create would tell the two apart, and
 * such a token creates with POST.
 */
async function write(
  ctx: FhirContext,
  access: AccessContext,
  type: string,
  p: 'u' | 'd',
  run: Run,
  targets: (ctx: FhirContext) => Promise<string[]>,
): Promise<FhirResponse> {
  requirePermit(access, p, type);
  if (access.whereFor?.(p, type) === undefined && (p === 'd' || access.whereFor?.('c', type) === undefined))
    return run(ctx);
  const visible = access.visibleWhere?.(type);
  return ctx.repo.transaction(async (repo) => {
    const txCtx = { ...ctx, repo };
    for (const targetId of await targets(txCtx)) {
      const current = await judgedVersion(repo, type, targetId);
      if (current !== undefined && mayWrite(access, p, current)) continue;
      if (current !== undefined && matchesAny(current, visible)) {
        throw forbidden(`Insufficient scope: ${type}/${targetId} is outside what the token may ${permissionName(p)}`);
      }
      if (current !== undefined || visible !== undefined) throw unknown(type, targetId);
    }
    const res = await run(txCtx);
    if (p === 'u') {
      const written = await writtenResource(txCtx, res, type);
      const created = res.status === 201;
      if (!mayWrite(access, created ? 'c' : 'u', written)) {
        throw forbidden(
          `Insufficient scope: the written ${type} would be outside what the token may ${created ? 'create' : 'update'}`,
        );
      }
    }
    return res;
  });
}

/**
 * The version a write produced: from the response body, or read back (in the transaction) from its Location. A write
 * whose result cannot be found is refused (fail closed).
 */
async function writtenResource(ctx: FhirContext, res: FhirResponse, type: string): Promise<Resource> {
  const body = responseResource(res);
  if (body?.resourceType === type) return body;
  const m = /\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})\/_history\/(\d+)$/.exec(res.headers?.location ?? '');
  const row = m ? await ctx.repo.vread(m[1], m[2], Number(m[3])) : undefined;
  if (!row?.content) throw forbidden(`Insufficient scope: the written ${type} cannot be checked`);
  return JSON.parse(row.content) as Resource;
}

/**
 * An operation that only reads what it is called on (`access: 'read'`): read access to the instance (as if absent
 * otherwise), search access to its type at type level, unconfined search at system level; its results are confined by
 * the search engine.
 */
async function readOperation(
  ctx: FhirContext,
  access: AccessContext,
  type: string | undefined,
  id: string | undefined,
  run: Run,
): Promise<FhirResponse> {
  if (type && id) await requireVisibleInstance(ctx, access, type, id);
  else if (type) requirePermit(access, 's', type);
  else requireUnconfined(access, 's');
  return run(ctx);
}

/** An operation that needs every permission on its type, or at system level on every type (`access: 'unrestricted'`). */
function unrestrictedOperation(
  access: AccessContext,
  type: string | undefined,
  name: string,
  run: () => Promise<FhirResponse>,
): Promise<FhirResponse> {
  for (const p of ['c', 'r', 'u', 'd', 's'] as const) {
    if (access.whereFor?.(p, type ?? '*') !== undefined)
      throw forbidden(`Insufficient scope: $${name} needs unrestricted access to ${type ?? 'every type'}`);
  }
  return run();
}
