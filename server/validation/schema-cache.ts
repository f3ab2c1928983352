import { Ajv, type Options, type ValidateFunction } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const AJV_OPTIONS: Options = { discriminator: true, strict: false, allErrors: true, validateFormats: false };

/** Where compiled validators are kept between runs (the usual place for tools' caches). */
const CACHE_DIR = resolve(import.meta.dirname, '../../node_modules/.cache/tributary');

const require = createRequire(import.meta.url);

/**
 * Compiles a JSON schema with ajv, reusing the code compiled by an earlier run when the schema and ajv are the same.
 * Compiling the whole R4 schema takes seconds; loading ajv's standalone code for it takes a fraction of that, which
 * keeps restarts fast. Without a writable cache directory it simply compiles.
 */
export function compileCached(schema: object, name: string): ValidateFunction {
  const ajvVersion = (require('ajv/package.json') as { version: string }).version;
  const key = createHash('sha256').update(JSON.stringify([ajvVersion, AJV_OPTIONS, schema])).digest('hex').slice(0, 16);
  const file = resolve(CACHE_DIR, `${name}-${key}.cjs`);
  if (existsSync(file)) {
    try {
      return require(file) as ValidateFunction;
    } catch {
      // An unreadable cache entry is rebuilt below.
    }
  }
  const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } });
  const validate = ajv.compile(schema);
  try {
    mkdirSync(CACHE_DIR, { recursive: true });
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, standaloneCode.default(ajv, validate));
    renameSync(partial, file); // atomic: a node starting at the same time sees the whole file or none
    for (const old of readdirSync(CACHE_DIR)) {
      if (old.startsWith(`${name}-`) && old.endsWith('.cjs') && resolve(CACHE_DIR, old) !== file) rmSync(resolve(CACHE_DIR, old), { force: true });
    }
  } catch {
    // Read-only install: compile again next time.
  }
  return validate;
}
