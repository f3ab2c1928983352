/**
 * `tributary packages install <name@version | file.tgz | folder>…`: installs FHIR packages (HL7 Terminology
 * `hl7.terminology.r4`, IGs such as `hl7.fhir.uv.ips`) into the terminology store and the profiles folder;
 * `tributary packages list` shows what is installed. Works on the server's database (DATABASE_URL, or the embedded
 * one of a running server); a running server uses new terminology at once and new profiles after a restart.
 */
import cliProgress from 'cli-progress';
import pg from 'pg';
import { migrate } from '../server/db/migrate.ts';
import { profilesDirectory } from '../server/validation/profiles.ts';
import { installPackage } from '../terminology/packages/install.ts';
import { cliDatabaseUrl } from './database.ts';

const USAGE = `usage: tributary packages install <name@version | file.tgz | folder>...
       tributary packages list`;

async function main(args: string[]): Promise<number> {
  const [command, ...specs] = args;
  if (command !== 'install' && command !== 'list') {
    console.error(USAGE);
    return 2;
  }
  const url = cliDatabaseUrl();
  await migrate(url);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    if (command === 'list') {
      const { rows } = await pool.query(
        'SELECT name, version, installed_at, summary FROM terminology_package ORDER BY name',
      );
      for (const r of rows) console.log(`${r.name}@${r.version}  ${JSON.stringify(r.summary)}`);
      return 0;
    }
    if (specs.length === 0) {
      console.error(USAGE);
      return 2;
    }
    for (const spec of specs) {
      const bar = new cliProgress.SingleBar(
        { format: `${spec} |{bar}| {value}/{total} files`, stream: process.stderr, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      let started = false;
      const summary = await installPackage(pool, spec, profilesDirectory(), (done, total) => {
        if (!started) bar.start(total, 0);
        started = true;
        bar.update(done);
      });
      bar.stop();
      console.log(
        `${summary.name}@${summary.version}: ${summary.codeSystems} code systems (${summary.concepts} concepts), ` +
          `${summary.valueSets} value sets, ${summary.conceptMaps} concept maps, ` +
          `${summary.structureDefinitions} profiles${summary.profilesFile ? ` in ${summary.profilesFile}` : ''}`,
      );
    }
    return 0;
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
