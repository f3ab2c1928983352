import type { Bundle, Resource } from '@medplum/fhirtypes';
import { forbidden, notFound } from '../fhir/outcomes.ts';
import { lockAndMatch } from '../rest/conditional.ts';
import { responseResource } from '../rest/respond.ts';
import type { RouteGuard } from '../rest/router.ts';
import type { AccessContext, FhirContext, FhirRequest, FhirResponse, SearchCriteria } from '../rest/types.ts';
import { matchesAny } from './match.ts';
import type { Permission } from './scopes.ts';

type Where = SearchCriteria[] | undefined;
type Run = (ctx: FhirContext) => Promise<FhirResponse>;

/** Operations that only read the instance or type they are called on; their results are confined by the search engine. */
const READ_OPERATIONS = new Set(['everything', 'meta', 'lastn', 'stats', 'document', 'summary', 'expand', 'lookup', 'validate-code', 'translate', 'subsumes', 'status', 'events', 'get-ws-binding-token']);

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
}

/**
 * THE place FHIR access is enforced: a router guard (FhirRouter.useGuard) around every interaction, whichever door
 * dispatched it (HTTP, each batch/transaction entry, MLLP, MQTT, bots). Contexts without `permits` (trusted
 * in-process doors, `AUTH=off`) pass untouched. For SMART tokens:
 * - the interaction × type needs the matching permission (`r` read/vread/history, `s` search, `c` create, `u`
 *   update/patch, `d` delete) or the request gets 403;
 * - searches are confined by the search engine, which ANDs `visibleWhere` into its SQL;
 * - reads by id are judged on the resource with the same criteria (outside: 404, as if absent);
 * - writes run in one DB transaction with the check: the current version must be inside the scope and so must the
 *   written one, or the transaction rolls back (403) and nothing is left behind.
 */
export function createAccessGuard(onDecision: (d: AccessDecision) => void = () => {}): RouteGuard {
  return async (ctx, req, match, run) => {
    const access = ctx.access;
    const { type, id } = match.params;
    const decide = (status: number, allowed: boolean, reason?: string) =>
      onDecision({ ctx, req, interaction: match.interaction, resourceType: type, id, status, allowed, reason });
    if (!access.permits) return run(ctx);
    try {
      const res = await enforce(ctx, req, access, match.params, run);
      decide(res.status, true);
      return res;
    } catch (err) {
      const status = (err as { status?: number }).status ?? 500;
      if (status === 403 || status === 404) decide(status, false, (err as Error).message);
      throw err;
    }
  };
}

async function enforce(ctx: FhirContext, req: FhirRequest, access: AccessContext, params: Record<string, string>, run: Run): Promise<FhirResponse> {
  const segs = req.path.split('/').filter(Boolean);
  const { type, id, op } = params;
  if (segs.length === 0) {
    if (req.method === 'POST') return run(ctx); // batch/transaction: every entry is dispatched through this guard
    for (const t of (req.query._type ?? []).flatMap((v) => v.split(','))) requirePermit(access, 's', t);
    if (!req.query._type) requireUnconfined(access, 's');
    return run(ctx);
  }
  if (segs[0] === 'metadata' || segs[0] === '.well-known') return run(ctx);
  if (!type) {
    requireUnconfined(access, 'r');
    if (req.method !== 'GET') for (const p of ['c', 'u', 'd'] as const) requireUnconfined(access, p);
    return run(ctx);
  }
  if (op) return operation(ctx, access, type, id, op, run);
  if (!id) {
    if (segs[1] === '_history') {
      requirePermit(access, 's', type);
      if (access.visibleWhere?.(type) !== undefined) throw forbidden(`History of ${type} is not available to a compartment-confined token; use search`);
      return run(ctx);
    }
    switch (req.method) {
      case 'GET':
        requirePermit(access, 's', type);
        return run(ctx);
      case 'POST':
        return segs[1] === '_search' ? (requirePermit(access, 's', type), run(ctx)) : create(ctx, access, type, run);
      case 'PUT':
      case 'PATCH':
        return write(ctx, access, type, 'u', run, (c) => lockAndMatch(c, type, req.query));
      case 'DELETE':
        return write(ctx, access, type, 'd', run, (c) => lockAndMatch(c, type, req.query));
    }
  }
  if (segs.length === 3 && segs[2] !== '_history') {
    // compartment search, e.g. Patient/1/Observation
    await requireVisibleInstance(ctx, access, type, id);
    requirePermit(access, 's', segs[2]);
    return run(ctx);
  }
  switch (req.method) {
    case 'GET':
      return read(ctx, access, type, id, segs.length > 2, run);
    case 'PUT':
    case 'PATCH':
      return write(ctx, access, type, 'u', run, async () => [id]);
    case 'DELETE':
      return write(ctx, access, type, 'd', run, async () => [id]);
  }
  throw forbidden(`${req.method} ${req.path} is not available to this token`);
}

function requirePermit(access: AccessContext, p: Permission, type: string): void {
  if (!access.permits?.(p, type)) throw forbidden(`Insufficient scope: ${permissionName(p)} of ${type} is not granted`);
}

/** For system-wide interactions: the token must reach every resource of every type. */
function requireUnconfined(access: AccessContext, p: Permission): void {
  if (access.whereFor?.(p, '*') !== undefined) throw forbidden(`Insufficient scope: ${permissionName(p)} across all types is not granted`);
}

function permissionName(p: Permission): string {
  return { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' }[p];
}

/** Read, vread and instance history: the resource (each version) must be inside the readable criteria, else 404. */
async function read(ctx: FhirContext, access: AccessContext, type: string, id: string, history: boolean, run: Run): Promise<FhirResponse> {
  requirePermit(access, 'r', type);
  const where = access.whereFor?.('r', type);
  if (where === undefined) return run(ctx);
  if (history) await requireVisibleInstance(ctx, access, type, id);
  const res = await run(ctx);
  const resource = res.status === 200 ? responseResource(res) : undefined;
  if (resource?.resourceType === 'Bundle') {
    const bundle = resource as Bundle;
    bundle.entry = (bundle.entry ?? []).filter((e) => !e.resource || matchesAny(e.resource, where));
    return { ...res, resource: bundle, content: undefined };
  }
  if (resource && !matchesAny(resource, where)) throw notFound(`${type}/${id} is not known`);
  if (!resource) await requireVisibleInstance(ctx, access, type, id);
  return res;
}

async function requireVisibleInstance(ctx: FhirContext, access: AccessContext, type: string, id: string): Promise<void> {
  requirePermit(access, 'r', type);
  const where = access.whereFor?.('r', type);
  if (where === undefined) return;
  const row = await ctx.repo.readCurrent(type, id);
  if (row?.content && !matchesAny(JSON.parse(row.content) as Resource, where)) throw notFound(`${type}/${id} is not known`);
}

/** Create (plain or If-None-Exist): the created resource must be creatable, a returned existing one visible. */
async function create(ctx: FhirContext, access: AccessContext, type: string, run: Run): Promise<FhirResponse> {
  requirePermit(access, 'c', type);
  if (access.whereFor?.('c', type) === undefined && access.visibleWhere?.(type) === undefined) return run(ctx);
  return ctx.repo.transaction(async (repo) => {
    const txCtx = { ...ctx, repo };
    const res = await run(txCtx);
    const written = await writtenResource(txCtx, res, type);
    const where = res.status === 201 ? access.whereFor?.('c', type) : access.visibleWhere?.(type);
    if (written && !matchesAny(written, where)) throw forbidden(`Insufficient scope: this ${type} is outside what the token may ${res.status === 201 ? 'create' : 'read'}`);
    return res;
  });
}

/**
 * Update, patch and delete (by id or conditional): in one transaction, every targeted current version must be inside
 * what the token may update/delete, and the written version inside what it may update (or create, for
 * update-as-create).
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
  const where = access.whereFor?.(p, type);
  const createWhere = access.whereFor?.('c', type);
  if (where === undefined && (p === 'd' || createWhere === undefined)) return run(ctx);
  return ctx.repo.transaction(async (repo) => {
    const txCtx = { ...ctx, repo };
    for (const targetId of await targets(txCtx)) {
      const row = await repo.readCurrent(type, targetId);
      if (row?.content && !matchesAny(JSON.parse(row.content) as Resource, where)) {
        throw forbidden(`Insufficient scope: ${type}/${targetId} is outside what the token may ${permissionName(p)}`);
      }
    }
    const res = await run(txCtx);
    if (p === 'u') {
      const written = await writtenResource(txCtx, res, type);
      const target: Where = res.status === 201 ? createWhere : where;
      if (written && !matchesAny(written, target)) throw forbidden(`Insufficient scope: the written ${type} would be outside what the token may ${res.status === 201 ? 'create' : 'update'}`);
    }
    return res;
  });
}

/** The version a write produced: from the response body, or read back (in the transaction) from its Location. */
async function writtenResource(ctx: FhirContext, res: FhirResponse, type: string): Promise<Resource | undefined> {
  const body = responseResource(res);
  if (body?.resourceType === type) return body;
  const m = /\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})\/_history\/(\d+)$/.exec(res.headers?.location ?? '');
  if (!m) return undefined;
  const row = await ctx.repo.vread(m[1], m[2], Number(m[3]));
  return row.content ? (JSON.parse(row.content) as Resource) : undefined;
}

/** Operations: read-only ones need read access to the instance (or search on the type); others need full access. */
async function operation(ctx: FhirContext, access: AccessContext, type: string, id: string | undefined, op: string, run: Run): Promise<FhirResponse> {
  if (op === 'validate' && !id) {
    if (!access.permits?.('c', type) && !access.permits?.('u', type)) throw forbidden(`Insufficient scope: $validate needs create or update of ${type}`);
    return run(ctx);
  }
  if (READ_OPERATIONS.has(op)) {
    if (id) await requireVisibleInstance(ctx, access, type, id);
    else requirePermit(access, 's', type);
    return run(ctx);
  }
  for (const p of ['c', 'r', 'u', 'd', 's'] as const) {
    if (access.whereFor?.(p, type) !== undefined) throw forbidden(`Insufficient scope: $${op} needs unrestricted access to ${type}`);
  }
  return run(ctx);
}
