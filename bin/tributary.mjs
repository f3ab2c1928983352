#!/usr/bin/env node
// `tributary import <file|dir>…`, `tributary packages …`, `tributary terminology …`: runs the TypeScript CLI (cli/)
// through tsx, from any directory.
import { register } from 'tsx/esm/api';

const COMMANDS = { import: '../cli/import.ts', packages: '../cli/packages.ts', terminology: '../cli/terminology.ts' };
const [command, ...args] = process.argv.slice(2);
if (!(command in COMMANDS)) {
  console.error(`usage: tributary import <file|dir>... [options]   (tributary import --help for the options)
       tributary packages install <name@version | file.tgz | folder>...
       tributary terminology load <loinc|snomed|rxnorm|codesystem> <path> [--version <v>]`);
  process.exit(2);
}
process.argv.splice(2, process.argv.length - 2, ...args);
register();
await import(COMMANDS[command]);
