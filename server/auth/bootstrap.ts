import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { Accounts } from './accounts.ts';
import { saveClient } from './admin.ts';
import type { AuthConfig } from './config.ts';
import { AUTH_PATH, type AuthStartOptions } from './types.ts';

/** The bootstrap admin client and user from the environment; on a demo database, a made-up client printed once. */
export async function bootstrap(
  config: AuthConfig,
  options: AuthStartOptions,
  provider: Provider,
  accounts: Accounts,
  logger: Logger,
): Promise<void> {
  let clientId = config.adminClientId;
  let secret = config.adminClientSecret;
  if ((!clientId || !secret) && options.demo) {
    clientId = 'tributary-admin';
    secret = randomBytes(24).toString('base64url');
  }
  if (clientId && secret) {
    await saveClient(provider, options.pool, {
      client_id: clientId,
      client_secret: secret,
      client_name: 'Tributary admin (bootstrap)',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'system/*.*',
      tributary_admin: true,
    });
  }
  if (config.adminUser && config.adminPassword) {
    await accounts.upsertLocal({ username: config.adminUser, password: config.adminPassword, role: 'admin' });
  }
  if (clientId && secret && !config.adminClientSecret) {
    const command = `curl -s -u '${clientId}:${secret}' -d 'grant_type=client_credentials&scope=system/*.*' ${options.origin}${AUTH_PATH}/token`;
    logger.info(
      { tokenCommand: command },
      `Authorization is on. Get a token for the bootstrap admin client with: ${command} ; then send "Authorization: Bearer <access_token>". ` +
        'Set ADMIN_CLIENT_ID/ADMIN_CLIENT_SECRET for a fixed client, or AUTH=off for a demo without tokens.',
    );
  } else if (!clientId) {
    logger.warn(
      'Authorization is on but no ADMIN_CLIENT_ID/ADMIN_CLIENT_SECRET is set: register clients through the admin API or dynamic registration.',
    );
  }
}
