import type { Bundle, MedicationRequest } from '@medplum/fhirtypes';
import { randomUUID } from 'node:crypto';
import { matchesAny } from '../../server/auth/match.ts';
import type { FhirRouter } from '../../server/core/router.ts';
import type { FhirHandler } from '../../server/core/types.ts';
import { badRequest, forbidden } from '../../server/fhir/outcomes.ts';
import { checkWrite } from '../../server/validation/validator.ts';
import { detectedIssue } from './issues.ts';
import { routerReader } from './router-reader.ts';
import { validatePrescription } from './validate.ts';

/** The canonical URL of `$validate-prescription`'s OperationDefinition. */
export const VALIDATE_PRESCRIPTION_URL =
  'https://tributary.dev/fhir/OperationDefinition/MedicationRequest-validate-prescription';

/**
 * `POST MedicationRequest/$validate-prescription`: runs every layer on the MedicationRequest in the body without
 * writing anything, reading the record with the caller's own access, and answers a `collection` Bundle of the
 * DetectedIssues it would create (empty when clean). Access rule `read`: the caller needs search on
 * MedicationRequest, and a confined token may only validate a prescription it could read (its own patient's).
 */
export function validatePrescriptionHandler(router: FhirRouter): FhirHandler {
  return async (ctx, req) => {
    const body = req.body as MedicationRequest | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body) || body.resourceType !== 'MedicationRequest')
      throw badRequest('The body of $validate-prescription must be a MedicationRequest');
    checkWrite(body);
    if (!matchesAny(body, ctx.access.whereFor?.('r', 'MedicationRequest')))
      throw forbidden('Insufficient scope: this prescription is outside what the token may read');
    const reader = routerReader({
      router,
      repo: ctx.repo,
      baseUrl: ctx.baseUrl,
      access: ctx.access,
      requestId: ctx.requestId,
    });
    const now = new Date();
    const { findings } = await validatePrescription(body, reader, now);
    const target = body.id
      ? { reference: `MedicationRequest/${body.id}` }
      : { display: 'the submitted MedicationRequest' };
    const bundle: Bundle = {
      resourceType: 'Bundle',
      id: randomUUID(),
      type: 'collection',
      timestamp: now.toISOString(),
      entry: findings.map((f) => ({
        fullUrl: `urn:uuid:${randomUUID()}`,
        resource: detectedIssue(f, target, body.subject, now),
      })),
    };
    return { status: 200, resource: bundle };
  };
}
