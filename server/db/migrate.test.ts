import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../project.ts';
import { MIGRATION_NAMES } from './migrate.ts';

describe('migrations', () => {
  it('every file in migrations/ is registered, in timestamp order (an unregistered one would never run)', () => {
    const files = readdirSync(`${PROJECT_ROOT}/migrations`)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.replace(/\.ts$/, ''))
      .sort();
    expect(MIGRATION_NAMES).toEqual(files);
  });
});
