import type { Bundle, BundleEntry, DocumentReference, Resource } from '@medplum/fhirtypes';

/**
 * A small record for tests: a patient with one encounter and one resource of each kind a note is drafted from. The
 * encounter is `in-progress` (the notes bot drafts only finished ones) unless `status` says otherwise.
 */
export function testRecord(status = 'in-progress', marker = 'x'): Bundle {
  const enc = { reference: 'urn:uuid:enc' };
  const pat = { reference: 'urn:uuid:pat' };
  const entry = (fullUrl: string, resource: Record<string, unknown>): BundleEntry => ({
    fullUrl,
    resource: resource as unknown as Resource,
    request: { method: 'POST', url: resource.resourceType as string },
  });
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      entry('urn:uuid:pat', {
        resourceType: 'Patient',
        gender: 'female',
        birthDate: '1970-05-01',
        name: [{ family: marker }],
      }),
      entry('urn:uuid:enc', {
        resourceType: 'Encounter',
        status,
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
        type: [{ text: 'General examination' }],
        subject: pat,
        period: { start: '2024-03-04T09:00:00Z', end: '2024-03-04T09:40:00Z' },
        reasonCode: [{ text: 'Acute bronchitis' }],
      }),
      entry('urn:uuid:temp', {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8310-5', display: 'Body temperature' }] },
        subject: pat,
        encounter: enc,
        effectiveDateTime: '2024-03-04T09:10:00Z',
        valueQuantity: { value: 38.2, unit: 'Cel', system: 'http://unitsofmeasure.org', code: 'Cel' },
      }),
      entry('urn:uuid:bp', {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure panel' }] },
        subject: pat,
        encounter: enc,
        effectiveDateTime: '2024-03-04T09:12:00Z',
        component: [
          {
            code: { coding: [{ system: 'http://loinc.org', code: '8480-6', display: 'Systolic blood pressure' }] },
            valueQuantity: { value: 128, unit: 'mm[Hg]' },
          },
          {
            code: { coding: [{ system: 'http://loinc.org', code: '8462-4', display: 'Diastolic blood pressure' }] },
            valueQuantity: { value: 84, unit: 'mm[Hg]' },
          },
        ],
      }),
      entry('urn:uuid:cond', {
        resourceType: 'Condition',
        clinicalStatus: {
          coding: [
            { system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active', display: 'Active' },
          ],
        },
        code: { coding: [{ system: 'http://snomed.info/sct', code: '10509002', display: 'Acute bronchitis' }] },
        subject: pat,
        encounter: enc,
        onsetDateTime: '2024-03-04',
      }),
      entry('urn:uuid:proc', {
        resourceType: 'Procedure',
        status: 'completed',
        code: { text: 'Chest X-ray' },
        subject: pat,
        encounter: enc,
        performedDateTime: '2024-03-04T09:30:00Z',
      }),
      entry('urn:uuid:med', {
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        medicationCodeableConcept: { text: 'Amoxicillin 500 MG Oral Capsule' },
        subject: pat,
        encounter: enc,
        authoredOn: '2024-03-04',
        dosageInstruction: [
          {
            timing: { repeat: { frequency: 3, period: 1, periodUnit: 'd' } },
            doseAndRate: [{ doseQuantity: { value: 1 } }],
          },
        ],
      }),
      entry('urn:uuid:allergy', {
        resourceType: 'AllergyIntolerance',
        patient: pat,
        clinicalStatus: {
          coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }],
        },
        code: { text: 'Latex' },
        criticality: 'low',
        reaction: [{ manifestation: [{ text: 'Hives' }] }],
      }),
      entry('urn:uuid:msg', {
        resourceType: 'Communication',
        status: 'completed',
        subject: pat,
        encounter: enc,
        sent: '2024-03-04T08:00:00Z',
        payload: [{ contentString: 'Cough for 5 days, worse at night.' }],
      }),
    ],
  };
}

/** The ids a created test record got, by the fullUrl names of `testRecord` (`enc`, `pat`, `temp`…). */
export function idsOf(request: Bundle, response: Bundle): Record<string, string> {
  const ids: Record<string, string> = {};
  request.entry?.forEach((e, i) => {
    const location = response.entry?.[i]?.response?.location ?? '';
    ids[(e.fullUrl ?? '').replace('urn:uuid:', '')] = location.split('/')[1];
  });
  return ids;
}

/** The text of a stored draft (its attachment, base64). */
export function draftText(doc: DocumentReference): string {
  return Buffer.from(doc.content[0].attachment.data ?? '', 'base64').toString('utf8');
}

/** Parses a server-sent event stream into its events (data lines joined). */
export function parseEvents(body: string): { event: string; data: string }[] {
  return body
    .split('\n\n')
    .filter((block) => block.trim())
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
      const data = lines
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      return { event, data };
    });
}
