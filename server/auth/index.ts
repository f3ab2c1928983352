import type { Logger } from 'pino';
import { PostgresRepository } from '../store/repository.ts';
import { AuditTrail, auditedGuard } from './audit.ts';
import { authOff } from './auth-off.ts';
import type { TokenAccess } from './bearer.ts';
import { adminAuthentication } from './admin.ts';
import { bootstrap } from './bootstrap.ts';
import type { AuthConfig } from './config.ts';
import { smartSecurity } from './discovery.ts';
import { createAccessGuard } from './enforce.ts';
import { fhirAdmission } from './fhir-admission.ts';
import { auditOAuthDecisions, auditRecordOf } from './oauth-audit.ts';
import { discoveryRoutes, fhirCors, mountAuthorizationServer } from './oauth-routes.ts';
import { RevocationFeed, type RevocationListener } from './revocations.ts';
import { RunningProvider } from './running-provider.ts';
import { TokenCache } from './token-cache.ts';
import type { AuthServer } from './types.ts';

export type { AuthServer } from './types.ts';

/**
 * Creates the authorization layer (with `AUTH=off`, every FHIR request runs with full system access). It composes:
 * the running provider (running-provider.ts), the express routes (oauth-routes.ts), FHIR admission
 * (fhir-admission.ts), the access guard (enforce.ts), the revocation feed and the audit trail.
 */
export function createAuthServer(config: AuthConfig, logger: Logger): AuthServer {
  if (!config.enabled) return authOff();
  const tokens = new TokenCache<TokenAccess>();
  const running = new RunningProvider(config, logger, tokens);
  const resolve = (token: string) => running.resolve(token);
  const cors = fhirCors();
  const { routes, authRouter } = discoveryRoutes(config, running, cors);
  const revocationListeners: RevocationListener[] = [];
  let feed: RevocationFeed | undefined;
  let audit: AuditTrail | undefined;

  return {
    routes,
    admit: fhirAdmission({
      cors,
      resolve,
      realm: () => (running.isStarted ? running.started.options.fhirBase : 'fhir'),
      audit: () => audit,
      apiRateLimit: config.apiRateLimit,
    }),
    // A decision inside a transaction Bundle is recorded only once the transaction commits (Repository.afterCommit).
    guard: auditedGuard(
      () => audit,
      createAccessGuard((d) => d.ctx.repo.afterCommit(() => audit?.record(auditRecordOf(d)))),
    ),
    requireAdmin: adminAuthentication({ provider: () => running.provider(), resolve })(true),
    resolveAccess: async (token) => (token ? resolve(token).catch(() => undefined) : undefined),
    onRevoked: (listener) => void revocationListeners.push(listener),
    get audit() {
      return audit;
    },
    security: () => (running.isStarted ? smartSecurity(running.started.issuer, config.dynamicRegistration) : undefined),
    async start(options) {
      feed = new RevocationFeed(options.databaseUrl, logger, {
        down: () => tokens.suspend(),
        up: () => tokens.resume(),
      });
      feed.subscribe((clientId) => {
        tokens.invalidate(clientId);
        for (const listener of revocationListeners) listener(clientId);
      });
      await feed.start();
      await running.start(options);
      mountAuthorizationServer(authRouter, { config, running, tokens, logger });
      if (config.audit) {
        // AuditEvents are built by toAuditEvent (typed, valid by construction): written without re-validating each.
        const trail = new AuditTrail(options.pool, new PostgresRepository(options.pool, () => {}), logger);
        audit = trail;
        trail.indexer.wake(); // events queued before a restart or by another node
        running.onBuilt((provider) => auditOAuthDecisions(provider, trail));
      }
      await bootstrap(config, options, running.provider(), running.started.accounts, logger);
    },
    rotateKeys: () => running.rotateKeys(),
    async close() {
      running.stop();
      await feed?.close();
      await audit?.close();
    },
  };
}
