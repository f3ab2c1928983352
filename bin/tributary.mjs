#!/usr/bin/env node
// `tributary import <file|dir>…`: runs the TypeScript CLI (cli/import.ts) through tsx, from any directory.
import { register } from 'tsx/esm/api';

const [command, ...args] = process.argv.slice(2);
if (command !== 'import') {
  console.error('usage: tributary import <file|dir>... [options]   (tributary import --help for the options)');
  process.exit(2);
}
process.argv.splice(2, process.argv.length - 2, ...args);
register();
await import('../cli/import.ts');
