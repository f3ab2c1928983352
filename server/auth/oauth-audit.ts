import type Provider from 'oidc-provider';
import type { AuditRecord, AuditTrail } from './audit.ts';
import type { AccessDecision } from './enforce.ts';

/** Audits the OAuth server's decisions: tokens granted or refused, authorization requests refused. */
export function auditOAuthDecisions(provider: Provider, audit: AuditTrail): void {
  provider.on('grant.success', (ctx) =>
    audit.record({
      kind: 'login',
      subtype: 'token',
      action: 'E',
      success: true,
      clientId: ctx.oidc.client?.clientId,
      user: ctx.oidc.account?.accountId,
      address: ctx.ip,
    }),
  );
  provider.on('grant.error', (ctx, err) =>
    audit.record({
      kind: 'login',
      subtype: 'token',
      action: 'E',
      success: false,
      description: `${err.message}: ${(err as { error_description?: string }).error_description ?? ''}`,
      clientId: ctx.oidc?.client?.clientId,
      address: ctx.ip,
    }),
  );
  provider.on('authorization.error', (ctx, err) =>
    audit.record({
      kind: 'login',
      subtype: 'authorization',
      action: 'E',
      success: false,
      description: `${err.message}: ${(err as { error_description?: string }).error_description ?? ''}`,
      clientId: ctx.oidc?.client?.clientId,
      address: ctx.ip,
    }),
  );
}

/** The AuditEvent record of a guard decision (BALP RESTful activity). */
export function auditRecordOf(d: AccessDecision): AuditRecord {
  const method = d.req.method;
  const search = d.interaction.startsWith('search');
  const bundle = d.interaction === 'transaction';
  const query = new URLSearchParams(Object.entries(d.req.query).flatMap(([k, vs]) => vs.map((v) => [k, v]))).toString();
  return {
    kind: 'rest',
    subtype: bundle
      ? (d.req.body as { type?: string } | undefined)?.type === 'batch'
        ? 'batch'
        : 'transaction'
      : d.interaction,
    action: search || bundle ? 'E' : ({ GET: 'R', POST: 'C', PUT: 'U', PATCH: 'U', DELETE: 'D' } as const)[method],
    success: d.allowed && d.status < 400,
    description: d.reason,
    outcome: d.outcome,
    clientId: d.ctx.access.clientId,
    user: d.ctx.access.actor,
    what: d.resourceType && d.id ? `${d.resourceType}/${d.id}` : undefined,
    query: search || query ? `${d.req.path}${query ? `?${query}` : ''}` : undefined,
    patient: d.ctx.access.patient,
    requestId: d.ctx.requestId,
  };
}
