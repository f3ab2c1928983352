import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import { OutcomeError, outcome } from '../fhir/outcomes.ts';
import { Accounts } from './accounts.ts';
import { purgeExpired } from './adapter.ts';
import { accessOfToken, type TokenAccess } from './bearer.ts';
import type { AuthConfig } from './config.ts';
import { loadSigningKeys, rotateSigningKeys } from './keys.ts';
import { GrantContexts } from './launch.ts';
import { createProvider } from './provider.ts';
import type { TokenCache } from './token-cache.ts';
import { AUTH_PATH, type AuthStartOptions } from './types.ts';

/** What exists once the authorization server has started. */
export interface Started {
  options: AuthStartOptions;
  issuer: string;
  accounts: Accounts;
  grantContexts: GrantContexts;
}

/**
 * The running oidc-provider and what it was started with. It is built at start and rebuilt whenever the signing keys
 * change (an hourly check picks up the next key once the newest is KEY_ROTATION_DAYS old; `rotateKeys` makes one
 * now); every build invalidates cached token accesses on revocation and gets the `onBuilt` hooks (audit). Before
 * `start`, `started`/`provider`/`resolve` throw 503: the authorization server is starting.
 */
export class RunningProvider {
  private state: (Started & { provider: Provider }) | undefined;
  private readonly hooks: ((provider: Provider) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: AuthConfig,
    private readonly logger: Logger,
    private readonly tokens: TokenCache<TokenAccess>,
  ) {}

  /** Builds the provider (keys from the database, clients, accounts) and starts the hourly housekeeping. */
  async start(options: AuthStartOptions): Promise<void> {
    const accounts = new Accounts(options.pool, {
      maxFailures: this.config.loginMaxFailures,
      lockMinutes: this.config.loginLockMinutes,
    });
    const started: Started = {
      options,
      issuer: `${options.origin}${AUTH_PATH}`,
      accounts,
      grantContexts: new GrantContexts(options.pool),
    };
    this.state = { ...started, provider: await this.build(started) };
    await purgeExpired(options.pool);
    this.timer = setInterval(() => {
      purgeExpired(options.pool).catch(() => {});
      this.rebuild().catch((err) => this.logger.error({ err }, 'reloading signing keys failed'));
    }, 3600_000).unref();
  }

  /** Calls `hook` with the current provider (if built) and every one built from now on. */
  onBuilt(hook: (provider: Provider) => void): void {
    this.hooks.push(hook);
    if (this.state) hook(this.state.provider);
  }

  /** Whether `start` has built the provider. */
  get isStarted(): boolean {
    return this.state !== undefined;
  }

  /** What the server started with; 503 before start. */
  get started(): Started {
    return this.ready();
  }

  /** The current provider; 503 before start. */
  provider(): Provider {
    return this.ready().provider;
  }

  /** The access of a bearer token issued by this server (cached; see accessOfToken). */
  async resolve(token: string): Promise<TokenAccess> {
    const { provider, accounts, options } = this.ready();
    return accessOfToken(provider, accounts, options.fhirBase, token, this.tokens);
  }

  /** Generates new signing keys and rebuilds the provider (tokens stay valid; they are in the database). */
  async rotateKeys(): Promise<void> {
    await rotateSigningKeys(this.started.options.pool);
    await this.rebuild();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private ready(): Started & { provider: Provider } {
    if (!this.state) {
      throw new OutcomeError(503, outcome('error', 'transient', 'The authorization server is starting; retry shortly'));
    }
    return this.state;
  }

  private async rebuild(): Promise<void> {
    const provider = await this.build(this.started);
    if (this.state) this.state.provider = provider;
  }

  private async build(started: Started): Promise<Provider> {
    const { options } = started;
    const keys = await loadSigningKeys(options.pool, this.config.keyRotationDays);
    const provider = createProvider({
      issuer: started.issuer,
      fhirBase: options.fhirBase,
      pool: options.pool,
      config: this.config,
      accounts: started.accounts,
      grantContexts: started.grantContexts,
      keys,
    });
    // Revocations (of a token, or of a whole grant on code replay) take effect on this node before the answer;
    // the token store announces them to every node (revocations.ts), this one included.
    provider.on('access_token.destroyed', (token) => this.tokens.invalidate(token.clientId as string));
    provider.on('client_credentials.destroyed', (token) => this.tokens.invalidate(token.clientId as string));
    provider.on('grant.revoked', (ctx) => this.tokens.invalidate(ctx.oidc.client?.clientId ?? '*'));
    for (const hook of this.hooks) hook(provider);
    return provider;
  }
}
