import { intEnv } from '../../server/env.ts';

/** Configuration of the HL7v2 door (README: Configuration). */
export interface Hl7v2Config {
  /** The MLLP listener runs (`MLLP=off` stops it; `POST /hl7/v2` stays). */
  mllp: boolean;
  /** MLLP port; 0 picks a free one (tests). */
  port: number;
  host: string;
  /** PEM files of the listener's TLS certificate and key: MLLP over TLS when both are set. */
  tlsCert?: string;
  tlsKey?: string;
  /** Largest frame (and HTTP body) accepted, in bytes. */
  maxBytes: number;
  /** A connection that sends nothing for this long is closed. */
  idleMs: number;
  /** Most concurrent MLLP connections. */
  maxConnections: number;
  /** Messages mapped at once, over all feeds (each (facility, patient) stays in arrival order). */
  concurrency: number;
  /** Path of the feeds file (JSON or a TypeScript/JavaScript module), see integrations/hl7v2/README.md. */
  feedsFile?: string;
  /** Time zone of times without an offset for feeds that name none (IANA name); default: the server's. */
  timeZone: string;
}

/** Reads the HL7v2 door's configuration from the environment. */
export function loadHl7v2Config(env: NodeJS.ProcessEnv = process.env): Hl7v2Config {
  const cert = env.MLLP_TLS_CERT || undefined;
  const key = env.MLLP_TLS_KEY || undefined;
  if (!!cert !== !!key) throw new Error('MLLP_TLS_CERT and MLLP_TLS_KEY must be set together');
  const timeZone = env.HL7V2_TIMEZONE || Intl.DateTimeFormat().resolvedOptions().timeZone;
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    throw new Error(`HL7V2_TIMEZONE is not a time zone: "${timeZone}"`);
  }
  return {
    mllp: env.MLLP !== 'off',
    port: intEnv(env, 'MLLP_PORT', 2575),
    host: env.MLLP_HOST || env.HOST || '0.0.0.0',
    tlsCert: cert,
    tlsKey: key,
    maxBytes: intEnv(env, 'MLLP_MAX_BYTES', 10 * 1024 * 1024),
    idleMs: intEnv(env, 'MLLP_IDLE_MS', 300_000),
    maxConnections: intEnv(env, 'MLLP_MAX_CONNECTIONS', 200),
    concurrency: Math.max(1, intEnv(env, 'HL7V2_CONCURRENCY', 4)),
    feedsFile: env.HL7V2_FEEDS || undefined,
    timeZone,
  };
}
