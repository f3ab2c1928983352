import { Ajv, type Options, type ValidateFunction } from 'ajv';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { PROJECT_ROOT } from '../project.ts';

const AJV_OPTIONS: Options = { discriminator: true, strict: false, allErrors: true, validateFormats: false };

/** Where compiled validators are kept between runs (the usual place for tools' caches). */
const CACHE_DIR = resolve(PROJECT_ROOT, 'node_modules/.cache/tributary');

const require = createRequire(import.meta.url);

/** Bumped when the way the code is generated changes (the cache key also covers ajv's version, options and schema). */
const CODE_FORMAT = 2;

/**
 * Compiles a JSON schema with ajv, reusing the code compiled by an earlier run when the schema and ajv are the same.
 * Compiling the whole R4 schema takes seconds; loading ajv's standalone code for it takes a fraction of that, which
 * keeps restarts fast. Without a writable cache directory it simply compiles. Either way the validator runs from
 * ajv's standalone code, so the ajv instance and its copy of the schema are not kept in memory.
 */
export function compileCached(schema: object, name: string): ValidateFunction {
  const ajvVersion = (require('ajv/package.json') as { version: string }).version;
  const key = createHash('sha256')
    .update(JSON.stringify([CODE_FORMAT, ajvVersion, AJV_OPTIONS, schema]))
    .digest('hex')
    .slice(0, 16);
  const file = resolve(CACHE_DIR, `${name}-${key}.cjs`);
  if (existsSync(file)) {
    try {
      return evaluate(readFileSync(file, 'latin1'));
    } catch {
      // An unreadable cache entry is rebuilt below.
    }
  }
  const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true } });
  const code = asciiOnly(standaloneCode.default(ajv, ajv.compile(schema)));
  try {
    mkdirSync(CACHE_DIR, { recursive: true });
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, code);
    renameSync(partial, file); // atomic: a node starting at the same time sees the whole file or none
    for (const old of readdirSync(CACHE_DIR)) {
      if (old.startsWith(`${name}-`) && old.endsWith('.cjs') && resolve(CACHE_DIR, old) !== file)
        rmSync(resolve(CACHE_DIR, old), { force: true });
    }
  } catch {
    // Read-only install: compile again next time.
  }
  return evaluate(code);
}

/**
 * Runs ajv's standalone (CommonJS) code and returns its validator. Evaluated here rather than `require`d: the module
 * loader's hooks (tsx's, and Node's CommonJS export lexer) scan the source with WebAssembly lexers whose memory grows
 * to several times the code's size and is never given back (~35 MB for the R4 schema's code).
 */
function evaluate(code: string): ValidateFunction {
  const module = { exports: {} as { default?: ValidateFunction } };
  new Function('module', 'exports', 'require', code)(module, module.exports, require);
  return module.exports as unknown as ValidateFunction;
}

/**
 * Escapes non-ASCII characters of generated code (they occur only inside string and regex literals, where `\uXXXX`
 * means the same). V8 keeps a function's source text in memory; pure ASCII text is stored one byte per character
 * instead of two.
 */
function asciiOnly(code: string): string {
  return code.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
