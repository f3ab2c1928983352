import { intEnv, listEnv } from '../env.ts';

/** Settings of subscription delivery, read from the environment (README: configuration table). */
export interface SubscriptionConfig {
  /**
   * Hosts, IP addresses or CIDR ranges rest-hook endpoints may use although they are private, loopback or
   * link-local (SSRF protection blocks those otherwise); `*` allows every address.
   */
  allowedHosts: string[];
  /** Delivery attempts before a notification goes to the dead letter (a Subscription may ask for fewer). */
  maxAttempts: number;
  /** First retry delay; each further retry doubles it (with jitter) up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How long a rest-hook request may take before it counts as failed. */
  timeoutMs: number;
  /** Largest notification body sent; a larger full-resource notification is sent id-only. */
  maxPayloadBytes: number;
  /** Notifications one node delivers at the same time. */
  concurrency: number;
  /** Days delivered notifications stay as the subscriptions' event log (`$events`, websocket catch-up). */
  retentionDays: number;
}

/** Reads the subscription settings. */
export function loadSubscriptionConfig(env: NodeJS.ProcessEnv): SubscriptionConfig {
  return {
    allowedHosts: listEnv(env, 'SUBSCRIPTION_ALLOWED_HOSTS'),
    maxAttempts: intEnv(env, 'SUBSCRIPTION_MAX_ATTEMPTS', 10) || 1,
    retryBaseMs: intEnv(env, 'SUBSCRIPTION_RETRY_BASE_MS', 1000),
    retryMaxMs: intEnv(env, 'SUBSCRIPTION_RETRY_MAX_MS', 600_000),
    timeoutMs: intEnv(env, 'SUBSCRIPTION_TIMEOUT_MS', 10_000) || 1,
    maxPayloadBytes: intEnv(env, 'SUBSCRIPTION_MAX_PAYLOAD_BYTES', 1024 * 1024),
    concurrency: intEnv(env, 'SUBSCRIPTION_CONCURRENCY', 8) || 1,
    retentionDays: intEnv(env, 'SUBSCRIPTION_RETENTION_DAYS', 7),
  };
}
