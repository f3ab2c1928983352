import { createHash, randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, DetectedIssue, MedicationRequest } from '@medplum/fhirtypes';
import type { BotHandler, BotRegistration } from '../types.ts';
import { CHECK_SYSTEM } from './check.ts';
import { detectedIssue, holdReason, prescriberAlert } from './issues.ts';
import { botReader } from './bot-reader.ts';
import { validatePrescription } from './validate.ts';

/** Identifies the DetectedIssues of one validation of one prescription content (a rerun finds them and stops). */
export const RUN_SYSTEM = `${CHECK_SYSTEM}-run`;

export const registration: BotRegistration = {
  name: 'prescription-validation',
  description:
    'Validates a draft or active MedicationRequest (structure, duplicate, refills, interactions, allergies, dose, prescriber, patient): a DetectedIssue per problem; blocking problems put it on hold and alert the prescriber.',
  triggers: ['MedicationRequest?status=draft,active'],
  scopes: [
    'system/MedicationRequest.rus',
    'system/MedicationStatement.rs',
    'system/MedicationDispense.rs',
    'system/Medication.rs',
    'system/AllergyIntolerance.rs',
    'system/Observation.rs',
    'system/Patient.rs',
    'system/Practitioner.rs',
    'system/PractitionerRole.rs',
    'system/DetectedIssue.crs',
    'system/Communication.c',
  ].join(' '),
  timeoutMs: 20_000,
  maxAttempts: 5,
};

/**
 * Runs the layers on the triggering version and records the outcome in one transaction: a DetectedIssue per finding;
 * with a blocking (high) finding the request goes `on-hold` with a statusReason and the prescriber gets a Communication;
 * a clean draft becomes `active`. The DetectedIssues carry a key of the request's content, so a rerun (a retry, or
 * the bot's own activation of a draft) writes nothing twice. The update is conditional on the version it checked.
 */
export const handler: BotHandler<MedicationRequest> = async ({ resource, fhir, log }) => {
  if (resource?.resourceType !== 'MedicationRequest' || !resource.id) return { skipped: 'no MedicationRequest' };
  if (resource.status !== 'draft' && resource.status !== 'active') return { skipped: `status ${resource.status}` };
  const now = new Date();
  const { layers, findings, blocked } = await validatePrescription(resource, botReader(fhir), now);
  const key = runKey(
    resource,
    findings.map((f) => `${f.check}:${f.detail}`),
  );
  const done = await fhir.search<DetectedIssue>('DetectedIssue', { identifier: `${RUN_SYSTEM}|${key}`, _count: '1' });
  const summary = {
    layers: layers.map((l) => `${l.check}:${l.passed ? 'pass' : 'fail'}`),
    // why a layer passed without checking, or failed (the AuditEvent keeps the last 4 kB)
    reasons: Object.fromEntries(layers.filter((l) => l.reasons.length).map((l) => [l.check, l.reasons])),
    issues: findings.length,
  };
  if (done.entry?.length) return { ...summary, recorded: 'already' };
  const ref = { reference: `MedicationRequest/${resource.id}` };
  const entries: BundleEntry[] = findings.map((f) => ({
    fullUrl: `urn:uuid:${randomUUID()}`,
    resource: { ...detectedIssue(f, ref, resource.subject, now), identifier: [{ system: RUN_SYSTEM, value: key }] },
    request: { method: 'POST', url: 'DetectedIssue' },
  }));
  const { meta, ...body } = resource;
  const update = (status: MedicationRequest['status'], extra: Partial<MedicationRequest> = {}): BundleEntry => ({
    resource: { ...body, status, ...extra },
    request: { method: 'PUT', url: `MedicationRequest/${resource.id}`, ifMatch: `W/"${meta?.versionId}"` },
  });
  let status: MedicationRequest['status'] = resource.status;
  if (blocked) {
    status = 'on-hold';
    entries.push(update('on-hold', { statusReason: holdReason(findings) }));
    const issues = entries
      .filter((e) => e.resource?.resourceType === 'DetectedIssue')
      .map((e) => ({ reference: e.fullUrl }));
    entries.push({
      resource: prescriberAlert(resource, ref, issues, findings, 'Device/bot-prescription-validation', now),
      request: { method: 'POST', url: 'Communication' },
    });
  } else if (resource.status === 'draft') {
    status = 'active';
    entries.push(update('active'));
  }
  if (entries.length) {
    const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: entries };
    await fhir.request('POST', '', bundle);
  }
  log(
    `MedicationRequest/${resource.id}: ${findings.length} issue(s), ${blocked ? 'blocked' : 'not blocked'}, ${status}`,
  );
  return { ...summary, status };
};

/** A key of the request's clinical content and what was found in it (status and meta left out). */
function runKey(request: MedicationRequest, found: string[]): string {
  const { meta: _meta, status: _status, statusReason: _reason, text: _text, ...content } = request;
  return createHash('sha256')
    .update(JSON.stringify([content, found]))
    .digest('hex');
}
