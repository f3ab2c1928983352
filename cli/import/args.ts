import { parseArgs } from 'node:util';

/** What `tributary import` was asked to do. */
export interface ImportOptions {
  /** Files and directories to import, as given. */
  paths: string[];
  /** FHIR base URL of the running Tributary, without a trailing slash. */
  url: string;
  /** A bearer token to send as is. */
  token?: string;
  /** Confidential client for a client_credentials token (`system/*.*`). */
  clientId?: string;
  clientSecret?: string;
  /** NDJSON lines per transaction Bundle. */
  batchSize: number;
  /** Bundles in flight at once. */
  concurrency: number;
  /** Ignore what an earlier run recorded and import everything again. */
  fresh: boolean;
}

/** A command line that cannot be used; the message says why. */
export class UsageError extends Error {}

export const USAGE = `usage: tributary import <file|dir>... [options]
       npm run import -- <file|dir>... [options]

Loads FHIR transaction/batch Bundles (.json, .json.gz) and NDJSON (.ndjson, .ndjson.gz, one resource per line,
sent as transaction Bundles of PUT Type/id) into a running Tributary. Directories are searched recursively.
Progress is recorded in .import-state-<hash>.json in the current directory: running the same command again
resumes and skips what is done.

options:
  --url <fhir base>         default http://localhost:8080/fhir
  --token <token>           bearer token (or env TRIBUTARY_TOKEN)
  --client-id <id>          client_credentials client (or env TRIBUTARY_CLIENT_ID)
  --client-secret <secret>  its secret (or env TRIBUTARY_CLIENT_SECRET)
  --batch-size <n>          NDJSON lines per transaction (default 250)
  --concurrency <n>         requests in flight at once (default 2)
  --fresh                   forget earlier progress and import everything again
  --help                    this text

Exit code: 0 when everything was imported, 1 when anything failed (see the summary), 2 for a bad command line,
130 when interrupted (run the same command again to resume).`;

function positiveInt(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${raw}"`);
  return n;
}

/** Parses the arguments after `import`; `undefined` means `--help` was asked for. Secrets may come from `env`. */
export function parseImportArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ImportOptions | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string', default: 'http://localhost:8080/fhir' },
        token: { type: 'string' },
        'client-id': { type: 'string' },
        'client-secret': { type: 'string' },
        'batch-size': { type: 'string', default: '250' },
        concurrency: { type: 'string', default: '2' },
        fresh: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return undefined;
  if (positionals.length === 0) throw new UsageError('name at least one file or directory to import');
  if (!/^https?:\/\/[^/]/.test(values.url))
    throw new UsageError(`--url must be an absolute http(s) URL, got "${values.url}"`);
  const token = values.token ?? (env.TRIBUTARY_TOKEN || undefined);
  const clientId = values['client-id'] ?? (env.TRIBUTARY_CLIENT_ID || undefined);
  const clientSecret = values['client-secret'] ?? (env.TRIBUTARY_CLIENT_SECRET || undefined);
  if (token && clientId) throw new UsageError('give either --token or --client-id/--client-secret, not both');
  if (!!clientId !== !!clientSecret) throw new UsageError('--client-id and --client-secret go together');
  return {
    paths: positionals,
    url: values.url.replace(/\/+$/, ''),
    token,
    clientId,
    clientSecret,
    batchSize: positiveInt('batch-size', values['batch-size']),
    concurrency: positiveInt('concurrency', values.concurrency),
    fresh: values.fresh,
  };
}
