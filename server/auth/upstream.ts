import cookieSession from 'cookie-session';
import express, { type NextFunction, type Request, type Response } from 'express';
import type Provider from 'oidc-provider';
import * as client from 'openid-client';
import { Strategy } from 'openid-client/passport';
import passport from 'passport';
import type { Account, Accounts } from './accounts.ts';
import type { UpstreamIdpConfig } from './config.ts';
import { errorPage } from './pages.ts';

/** What login through the upstream IdP needs. */
export interface UpstreamDeps {
  provider: () => Provider;
  /** Our issuer URL (`…/auth`); the IdP redirects back to `${issuer}/upstream/callback`. */
  issuer: string;
  basePath: string;
  accounts: Accounts;
  idp: UpstreamIdpConfig;
  cookieKeys: string[];
}

/** Session keys of the short-lived upstream login cookie. */
interface UpstreamSession {
  uid?: string;
  accountId?: string;
}

const isLoopback = (url: URL) => ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);

/**
 * Login through an upstream OpenID Connect IdP (Keycloak, Entra ID) with Passport and openid-client's Passport
 * strategy: authorization code with PKCE, the ID token's signature checked against the IdP's JWKS. The login button
 * of an interaction leads to `/auth/interaction/:uid/upstream`; the IdP returns to `/auth/upstream/callback`, which
 * maps the IdP's subject to a local account (created on first login with the configured role) and finishes the
 * interaction. The state between the two lives in a signed cookie scoped to `/auth` for ten minutes.
 */
export function upstreamRoutes(deps: UpstreamDeps): express.Router {
  const router = express.Router();
  const auth = new passport.Passport();
  let strategy: Promise<void> | undefined;
  // Discovery happens at the first upstream login, so an unreachable IdP never stops the server from starting.
  const ready = () =>
    (strategy ??= (async () => {
      const issuer = new URL(deps.idp.issuer);
      const config = await client.discovery(
        issuer,
        deps.idp.clientId,
        deps.idp.clientSecret,
        undefined,
        isLoopback(issuer) ? { execute: [client.allowInsecureRequests] } : undefined,
      );
      client.enableNonRepudiationChecks(config);
      auth.use(
        'upstream',
        new Strategy(
          {
            config,
            scope: 'openid profile email',
            callbackURL: `${deps.issuer}/upstream/callback`,
            sessionKey: 'oidc',
          },
          (tokens, done) => {
            const claims = tokens.claims();
            if (!claims) return done(new Error('The IdP returned no ID token'));
            deps.accounts
              .upsertUpstream(
                deps.idp.issuer,
                claims.sub,
                String(claims.preferred_username ?? claims.email ?? claims.sub),
                claims.name as string | undefined,
                deps.idp.defaultRole,
              )
              .then((account) => done(null, account), done);
          },
        ),
      );
    })().catch((err) => {
      strategy = undefined;
      throw err;
    }));

  router.use(
    cookieSession({
      name: 'tributary_upstream',
      keys: deps.cookieKeys,
      path: deps.basePath,
      httpOnly: true,
      sameSite: 'lax',
      maxAge: 10 * 60_000,
    }),
  );

  router.get('/interaction/:uid/upstream', async (req, res, next) => {
    await ready();
    const details = await deps.provider().interactionDetails(req, res);
    (req.session as UpstreamSession).uid = details.uid;
    auth.authenticate('upstream', { session: false })(req, res, next);
  });

  router.get('/upstream/callback', async (req: Request, res: Response, next: NextFunction) => {
    await ready();
    const session = req.session as UpstreamSession;
    auth.authenticate('upstream', { session: false }, (err: unknown, account: Account | false) => {
      if (err || !account || !session.uid) {
        res
          .status(401)
          .type('html')
          .send(
            errorPage(
              'access_denied',
              err instanceof Error ? err.message : 'The identity provider did not sign you in',
            ),
          );
        return;
      }
      session.accountId = account.id;
      res.redirect(303, `${deps.basePath}/interaction/${encodeURIComponent(session.uid)}/upstream-done`);
    })(req, res, next);
  });

  router.get('/interaction/:uid/upstream-done', async (req, res) => {
    const session = req.session as UpstreamSession;
    const details = await deps.provider().interactionDetails(req, res);
    if (!session.accountId || session.uid !== details.uid) {
      res.status(401).type('html').send(errorPage('access_denied', 'No upstream login for this request'));
      return;
    }
    const accountId = session.accountId;
    req.session = null;
    await deps.provider().interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
  });

  return router;
}
