import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseOptions, type IViolation } from 'dependency-cruiser';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const config = createRequire(import.meta.url)('../.dependency-cruiser.cjs') as {
  forbidden: NonNullable<ICruiseOptions['ruleSet']>['forbidden'];
  options: ICruiseOptions;
};

/** The layering rule (.dependency-cruiser.cjs, run by `npm run lint`) applied to the folders under `baseDir`. */
async function violations(baseDir: string, folders: string[]): Promise<IViolation[]> {
  const options: ICruiseOptions = {
    ...config.options,
    baseDir,
    validate: true,
    ruleSet: { forbidden: config.forbidden },
  };
  const result = await cruise(folders, options, { extensions: ['.ts', '.js'] });
  if (typeof result.output === 'string') throw new Error('unexpected string output');
  return result.output.summary.violations;
}

describe('layering', () => {
  const fixture = mkdtempSync(join(tmpdir(), 'tributary-layering-'));
  afterAll(() => rmSync(fixture, { recursive: true, force: true }));

  it('the code base has no upward import, no import across a layer, no cycle', async () => {
    expect(await violations(ROOT, ['server', 'bots', 'cli', 'terminology', 'integrations'])).toEqual([]);
  });

  it('fails on a deliberately wrong import: the FHIR model importing a REST handler, and a cycle in search', async () => {
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(fixture, path)), { recursive: true });
      writeFileSync(join(fixture, path), text);
    };
    write('server/fhir/model.ts', "import { handler } from '../rest/handler.ts';\nexport const model = handler;\n");
    write('server/rest/handler.ts', 'export const handler = 1;\n');
    write('server/search/a.ts', "import { b } from './b.ts';\nexport const a = () => b;\n");
    write('server/search/b.ts', "import { a } from './a.ts';\nexport const b = () => a;\n");
    const found = await violations(fixture, ['server']);
    expect(found.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort()).toEqual([
      'layer:server/fhir: server/fhir/model.ts -> server/rest/handler.ts',
      'no-cycles: server/search/a.ts -> server/search/b.ts',
    ]);
  });
});
