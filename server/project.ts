import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The project's root folder (the one holding Tributary's package.json), found by walking up from this file, so that
 * paths to `profiles/`, `package.json` and the validator cache are the same from source (`server/`) and from a build
 * (`dist/server/`).
 */
export const PROJECT_ROOT: string = findRoot(import.meta.dirname);

/** Tributary's version, from package.json. */
export const SOFTWARE_VERSION: string = (
  JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/** `.ts` when this code runs from source (tsx, vitest), `.js` when it runs from the build. */
export const MODULE_EXTENSION: '.ts' | '.js' = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/** A module next to `moduleUrl`, by its name without extension (`siblingModule('./worker-entry', import.meta.url)`). */
export function siblingModule(name: string, moduleUrl: string): URL {
  return new URL(`${name}${MODULE_EXTENSION}`, moduleUrl);
}

function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'tributary')
      return dir;
    if (dirname(dir) === dir) throw new Error(`Tributary's package.json was not found above ${from}`);
  }
}
