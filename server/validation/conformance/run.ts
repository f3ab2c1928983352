/**
 * `npx tsx server/validation/conformance/run.ts <fhir-test-cases>/validator [--disagreements]`: prints the agreement
 * table with the HL7 validator (agreement.ts), and with `--disagreements` every case where the verdicts differ.
 */
import { loadDefinitions } from '../../fhir/definitions.ts';
import { prepareValidation } from '../validator.ts';
import { agreementTable, loadCases, runCase } from './agreement.ts';

const [dir, flag] = process.argv.slice(2);
if (!dir) {
  console.error('usage: run.ts <path to fhir-test-cases/validator> [--disagreements]');
  process.exit(2);
}
loadDefinitions();
prepareValidation();
const results = loadCases(dir).map((c) => runCase(dir, c));
console.log(agreementTable(results));
if (flag === '--disagreements') {
  for (const r of results.filter((x) => !x.agrees)) {
    const local = r.needsTx ? ' [tx]' : r.needsPackages ? ' [packages]' : '';
    console.log(
      `${r.module}\t${r.name}${local}\texpected ${r.expectedValid ? 'valid' : 'invalid'}\t${r.firstError ?? ''}`,
    );
  }
}
