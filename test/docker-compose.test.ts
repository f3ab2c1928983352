import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../server/config.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const read = (file: string) => readFileSync(`${ROOT}${file}`, 'utf8');

interface Service {
  image?: string;
  build?: string;
  command?: string;
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(read('docker-compose.yml')) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const { postgres, tributary, mosquitto } = compose.services;

/** Compose's `${NAME:-default}` / `${NAME:?message}` interpolation, with every variable unset. */
function interpolate(value: string): string {
  return value.replace(/\$\{(\w+)(?::?([-?])([^}]*))?\}/g, (_m, _name, op, arg) =>
    op === '-' ? arg : 'a-value-the-user-sets',
  );
}

/** Variables the server reads outside loadConfig (modules and doors read their own), and the file that reads each. */
const READ_ELSEWHERE: Record<string, string> = {
  PROFILES_DIR: 'server/validation/profiles.ts',
  BOTS: 'bots/door.ts',
  BOT_MODULES: 'bots/door.ts',
  NEWS2_WINDOW_HOURS: 'bots/triage/news2.ts',
  PRESCRIPTION_HARD_STOP_CLIENTS: 'bots/prescription-validation/door.ts',
  TERMINOLOGY_SERVER_URL: 'terminology/remote.ts',
  MLLP: 'integrations/hl7v2/config.ts',
  MLLP_PORT: 'integrations/hl7v2/config.ts',
  MLLP_HOST: 'integrations/hl7v2/config.ts',
  MLLP_TLS_CERT: 'integrations/hl7v2/config.ts',
  MLLP_TLS_KEY: 'integrations/hl7v2/config.ts',
  MLLP_MAX_BYTES: 'integrations/hl7v2/config.ts',
  MLLP_IDLE_MS: 'integrations/hl7v2/config.ts',
  MLLP_MAX_CONNECTIONS: 'integrations/hl7v2/config.ts',
  HL7V2_CONCURRENCY: 'integrations/hl7v2/config.ts',
  HL7V2_FEEDS: 'integrations/hl7v2/config.ts',
  HL7V2_TIMEZONE: 'integrations/hl7v2/config.ts',
  MQTT: 'integrations/mqtt/config.ts',
  MQTT_PORT: 'integrations/mqtt/config.ts',
  MQTT_HOST: 'integrations/mqtt/config.ts',
  MQTT_URL: 'integrations/mqtt/config.ts',
  MQTT_USERNAME: 'integrations/mqtt/config.ts',
  MQTT_PASSWORD: 'integrations/mqtt/config.ts',
  MQTT_CLIENT_ID: 'integrations/mqtt/config.ts',
  MQTT_SHARE_GROUP: 'integrations/mqtt/config.ts',
  MQTT_TOPIC_ROOT: 'integrations/mqtt/config.ts',
  MQTT_MAX_BYTES: 'integrations/mqtt/config.ts',
  MQTT_CONCURRENCY: 'integrations/mqtt/config.ts',
  TERMINOLOGY_CACHE_SECONDS: 'terminology/remote.ts',
  TERMINOLOGY_SERVER_TIMEOUT_MS: 'terminology/remote.ts',
  LLM_BASE_URL: 'bots/notes/config.ts',
  LLM_MODEL: 'bots/notes/config.ts',
  LLM_API_KEY: 'bots/notes/config.ts',
  LLM_TIMEOUT_MS: 'bots/notes/config.ts',
  LLM_RETRIES: 'bots/notes/config.ts',
  NOTES_UNVERIFIED_VALUES: 'bots/notes/config.ts',
};

/**
 * The environment variables the server reads: those loadConfig reads (seen by giving it an environment that records
 * every lookup) and READ_ELSEWHERE (checked to be read there).
 */
function variablesRead(): Set<string> {
  const names = new Set<string>();
  loadConfig(new Proxy({}, { get: (_t, name) => (typeof name === 'string' && names.add(name), undefined) }));
  for (const [name, file] of Object.entries(READ_ELSEWHERE)) {
    expect(read(file)).toMatch(new RegExp(`\\benv\\.${name}\\b|'${name}'`));
    names.add(name);
  }
  return names;
}

describe('docker-compose.yml', () => {
  it('has the postgres, tributary and mosquitto services', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['mosquitto', 'postgres', 'tributary']);
    expect(postgres.image).toMatch(/^postgres:\d+/);
    expect(mosquitto.image).toMatch(/^eclipse-mosquitto:2/);
    expect(tributary.build).toBe('.');
    expect(tributary.depends_on?.postgres).toEqual({ condition: 'service_healthy' });
  });

  it('sets for tributary only variables the server reads, with values its configuration accepts', () => {
    const known = variablesRead();
    const env = tributary.environment ?? {};
    for (const name of Object.keys(env)) expect(known, `${name} is not read by the server`).toContain(name);
    const config = loadConfig(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(String(v))])));
    expect(config.port).toBe(8080);
    expect(config.auth.adminClientId).toBeTruthy();
    expect(config.auth.adminClientSecret).toBeTruthy();
  });

  it('publishes the port the server listens on, and BASE_URL names it', () => {
    const env = tributary.environment ?? {};
    expect(tributary.ports).toHaveLength(1);
    const [host, container] = String(tributary.ports?.[0]).split(':').map(Number);
    expect(container).toBe(Number(env.PORT));
    expect(new URL(env.BASE_URL).port).toBe(String(host));
    expect(new URL(env.BASE_URL).pathname).toBe('/fhir');
    // The Dockerfile exposes the same port and starts the server the way README says.
    const dockerfile = read('Dockerfile');
    expect(dockerfile).toMatch(/^FROM node:22/m);
    expect(dockerfile).toContain(`EXPOSE ${container}`);
    expect(dockerfile).toContain('RUN npm run build');
    expect(dockerfile).toContain('CMD ["npm", "run", "start:built"]');
    // Mosquitto is reached over the compose network; nothing else takes a host port.
    expect(mosquitto.ports).toBeUndefined();
    expect(postgres.ports).toBeUndefined();
  });

  it('points DATABASE_URL at the postgres service with its user, password and database', () => {
    const url = new URL(String(tributary.environment?.DATABASE_URL));
    const pg = postgres.environment ?? {};
    expect(url.protocol).toBe('postgres:');
    expect(url.hostname).toBe('postgres');
    expect(url.port).toBe('5432');
    expect(decodeURIComponent(url.username)).toBe(pg.POSTGRES_USER);
    expect(decodeURIComponent(url.password)).toBe(pg.POSTGRES_PASSWORD);
    expect(url.pathname).toBe(`/${pg.POSTGRES_DB}`);
  });

  it("documents in README's configuration table exactly the variables the server reads", () => {
    const readme = read('README.md');
    const table = readme.slice(
      readme.indexOf('## Configuration'),
      readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1),
    );
    const documented = new Set([...table.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
    expect([...documented].sort()).toEqual([...variablesRead()].sort());
  });
});
