import { loadHl7v2Config, type Hl7v2Config } from '../integrations/hl7v2/config.ts';
import { loadAuthConfig, type AuthConfig } from './auth/config.ts';
import { intEnv } from './env.ts';
import { loadJobConfig, type JobConfig } from './jobs/config.ts';
import { loadSearchConfig, type SearchConfig } from './search/config.ts';
import { loadSubscriptionConfig, type SubscriptionConfig } from './subscriptions/config.ts';

/** Server configuration, read from the environment (see README's configuration table). */
export interface TributaryConfig {
  /** HTTP port; 0 picks a free one (tests). */
  port: number;
  /** Host/interface to listen on. */
  host: string;
  /** Public base URL of the FHIR endpoint, used in links and Location headers; derived from the request when unset. */
  baseUrl?: string;
  /** External Postgres URL; when unset an embedded Postgres is started under `dataDir`. */
  databaseUrl?: string;
  /** Directory for the embedded Postgres cluster. */
  dataDir: string;
  /** Port of the embedded Postgres. */
  embeddedPgPort: number;
  /** Max size of a request body in bytes (a transaction Bundle included). */
  maxBodyBytes: number;
  /** Size of the Postgres connection pool. */
  dbPoolSize: number;
  /** pino log level. */
  logLevel: string;
  /** Validate every write against StructureDefinitions (always on by default). */
  validateWrites: boolean;
  /** Search limits and timeout (server/search/config.ts). */
  search: SearchConfig;
  /** SMART authorization (server/auth/config.ts). */
  auth: AuthConfig;
  /** Subscription delivery and bots (server/subscriptions/config.ts). */
  subscriptions: SubscriptionConfig;
  /** The job runner (server/jobs/config.ts). */
  jobs: JobConfig;
  /** The HL7v2 door: MLLP listener and feeds (integrations/hl7v2/config.ts). */
  hl7v2: Hl7v2Config;
}

function urlEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  if (!/^https?:\/\/[^/]/.test(raw)) throw new Error(`${name} must be an absolute http(s) URL, got "${raw}"`);
  return raw;
}

/** Reads the configuration from environment variables, with defaults for a one-command start. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): TributaryConfig {
  return {
    port: intEnv(env, 'PORT', 8080),
    host: env.HOST || '0.0.0.0',
    baseUrl: urlEnv(env, 'BASE_URL'),
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.DATA_DIR || './.data',
    embeddedPgPort: intEnv(env, 'EMBEDDED_PG_PORT', 5433),
    maxBodyBytes: intEnv(env, 'MAX_BODY_BYTES', 32 * 1024 * 1024),
    dbPoolSize: intEnv(env, 'DB_POOL_SIZE', 10),
    logLevel: env.LOG_LEVEL || 'info',
    validateWrites: env.VALIDATE_WRITES !== 'off',
    search: loadSearchConfig(env),
    auth: loadAuthConfig(env),
    subscriptions: loadSubscriptionConfig(env),
    jobs: loadJobConfig(env),
    hl7v2: loadHl7v2Config(env),
  };
}
