import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import * as tar from 'tar';

const run = promisify(execFile);

/** A FHIR package spec as the npm registry knows it: `name@version`, names like `hl7.fhir.uv.ips`. */
const PACKAGE_SPEC = /^[a-z0-9][a-z0-9._-]*(@[A-Za-z0-9.+_-]+)?$/;

/**
 * The folder holding a FHIR package's files (`package/…`): a folder given as it is, a `.tgz` extracted, or a
 * `name@version` fetched from the npm registry with npm itself (`npm pack`, the ordinary client, so the operator's
 * npm configuration — registry, proxy, cache — applies) and extracted into a temporary folder.
 */
export async function packageFolder(spec: string): Promise<string> {
  const path = resolve(spec);
  if (existsSync(path) && statSync(path).isDirectory())
    return existsSync(join(path, 'package')) ? join(path, 'package') : path;
  const work = mkdtempSync(join(tmpdir(), 'tributary-package-'));
  let tarball = path;
  if (!existsSync(path)) {
    if (!PACKAGE_SPEC.test(spec)) throw new Error(`"${spec}" is neither a file, a folder nor a package name@version`);
    const { stdout } = await run('npm', ['pack', spec, '--pack-destination', work, '--json', '--silent'], {
      maxBuffer: 64 * 1024 * 1024,
    });
    const packed = JSON.parse(stdout) as { filename: string }[];
    tarball = join(work, packed[0].filename);
  }
  await tar.x({ file: tarball, cwd: work, strict: true, filter: (p) => !p.includes('..') });
  return join(work, 'package');
}
