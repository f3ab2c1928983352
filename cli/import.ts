/**
 * `tributary import <file|dir>…` (also `npm run import -- …`): loads transaction/batch Bundles and NDJSON into a
 * running Tributary over its FHIR API, with a progress bar, resumable, and a summary at the end (server/cli/import/).
 */
import cliProgress from 'cli-progress';
import { parseImportArgs, USAGE, UsageError, type ImportOptions } from './import/args.ts';
import { BadInput } from './import/readers.ts';
import { runImport } from './import/run.ts';

async function main(): Promise<number> {
  let options: ImportOptions | undefined;
  try {
    options = parseImportArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  const bar = new cliProgress.SingleBar(
    {
      format: 'import |{bar}| {percentage}% | {resources} resources | {rate}/s',
      stream: process.stderr,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const interrupt = new AbortController();
  process.once('SIGINT', () => {
    interrupt.abort();
    process.stderr.write('\nstopping once the requests in flight are answered (Ctrl-C again quits at once)\n');
    process.once('SIGINT', () => process.exit(130));
  });
  const started = performance.now();
  let summary;
  try {
    summary = await runImport(options, {
      signal: interrupt.signal,
      progress: ({ bytes, totalBytes, resources }) => {
        const rate = Math.round(resources / Math.max((performance.now() - started) / 1000, 1e-3));
        if (!bar.isActive) bar.start(Math.max(totalBytes, 1), bytes, { resources, rate });
        else bar.update(bytes, { resources, rate });
      },
    });
  } catch (err) {
    if (!(err instanceof BadInput)) throw err;
    bar.stop();
    console.error(err.message);
    return 2;
  }
  bar.stop();
  console.log(summary.format());
  if (interrupt.signal.aborted) return 130;
  return summary.failed ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
