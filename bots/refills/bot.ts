import type {
  Bundle,
  BundleEntry,
  Communication,
  MedicationDispense,
  MedicationRequest,
  Patient,
} from '@medplum/fhirtypes';
import type { BotFhirClient, BotHandler, BotRegistration } from '../types.ts';
import { supplyState } from './supply.ts';

/** How many days before a supply runs out the patient is reminded (and, opted in, a refill is ordered). */
export const LOOKAHEAD_DAYS = 7;
/** The Patient extension by which a patient opts in to refill orders (MedSync's subscription): valueBoolean true. */
export const AUTO_REFILL_EXTENSION = 'https://tributary.dev/fhir/StructureDefinition/refill-auto-order';
/** Identifies the reminder of one fill, so that a slot run twice (or a retry) does not remind twice. */
export const REMINDER_SYSTEM = 'https://tributary.dev/fhir/refill-reminder';
/** How many active prescriptions one run looks at, at most (the rest wait for the next run; the run says so). */
const MAX_REQUESTS = 5000;
const PAGE = 200;
const DAY_MS = 86_400_000;

export const registration: BotRegistration = {
  name: 'refills',
  description: `Daily: for active prescriptions with repeats left whose supply runs out within ${LOOKAHEAD_DAYS} days, a reminder Communication to the patient and, when the patient opted in, a draft refill MedicationRequest (intent reflex-order).`,
  schedule: '0 6 * * *',
  scopes: 'system/MedicationRequest.crs system/MedicationDispense.rs system/Patient.r system/Communication.crs',
  timeoutMs: 120_000,
  maxAttempts: 3,
};

/**
 * The refill run: each active order with fills left and a supply that runs out within the lookahead (and a validity
 * that has not ended) gets one reminder per fill (keyed by the last dispense), and for an opted-in patient a draft
 * `reflex-order` refill (priorPrescription = the order) that prescription validation then checks. Reminder and
 * refill of one prescription are one transaction.
 */
export const handler: BotHandler = async ({ event, fhir, log }) => {
  const now = event.scheduledFor ? new Date(event.scheduledFor) : new Date();
  const horizon = now.getTime() + LOOKAHEAD_DAYS * DAY_MS;
  const optedIn = new Map<string, boolean>();
  let reminded = 0;
  let ordered = 0;
  let seen = 0;
  for await (const request of activeOrders(fhir)) {
    if (++seen > MAX_REQUESTS) {
      log(`stopped after ${MAX_REQUESTS} prescriptions; the rest wait for the next run`);
      break;
    }
    const patient = request.subject?.reference;
    if (!request.id || !patient?.startsWith('Patient/')) continue;
    const end = request.dispenseRequest?.validityPeriod?.end;
    if (end && Date.parse(end) < now.getTime()) continue;
    const dispenses = await all<MedicationDispense>(fhir, 'MedicationDispense', {
      prescription: `MedicationRequest/${request.id}`,
      status: 'completed',
    });
    const supply = supplyState(request, dispenses);
    if (!supply.fillsLeft || !supply.runsOutAt || !supply.last || supply.runsOutAt.getTime() > horizon) continue;
    const key = `MedicationRequest/${request.id}/${supply.last.id}`;
    const done = await fhir.search('Communication', { identifier: `${REMINDER_SYSTEM}|${key}`, _count: '1' });
    if (done.entry?.length) continue;
    if (!optedIn.has(patient)) optedIn.set(patient, await autoRefill(fhir, patient));
    const entries: BundleEntry[] = [
      {
        resource: reminder(request, patient, key, supply.runsOutAt, supply.fillsLeft, now),
        request: { method: 'POST', url: 'Communication' },
      },
    ];
    if (optedIn.get(patient))
      entries.push({ resource: refillOrder(request, now), request: { method: 'POST', url: 'MedicationRequest' } });
    const bundle: Bundle = { resourceType: 'Bundle', type: 'transaction', entry: entries };
    await fhir.request('POST', '', bundle);
    reminded++;
    if (entries.length > 1) ordered++;
  }
  log(`${seen} active prescriptions looked at; ${reminded} reminders, ${ordered} refill orders`);
  return { prescriptions: Math.min(seen, MAX_REQUESTS), reminded, ordered };
};

async function* activeOrders(fhir: BotFhirClient): AsyncGenerator<MedicationRequest> {
  let query: Record<string, string> | string = { status: 'active', intent: 'order', _count: String(PAGE) };
  for (;;) {
    // the server pages with a keyset cursor: pages neither repeat nor skip while the run writes new requests
    const page: Bundle<MedicationRequest> = await fhir.search<MedicationRequest>('MedicationRequest', query);
    yield* (page.entry ?? []).map((e) => e.resource).filter((r): r is MedicationRequest => !!r);
    const next: string | undefined = page.link?.find((l) => l.relation === 'next')?.url;
    if (!next?.includes('?')) return;
    query = next.slice(next.indexOf('?') + 1);
  }
}

async function all<T extends MedicationDispense>(
  fhir: BotFhirClient,
  type: T['resourceType'],
  query: Record<string, string>,
): Promise<T[]> {
  const page = await fhir.search<T>(type, { ...query, _count: '1000' });
  return (page.entry ?? []).map((e) => e.resource).filter((r): r is T => !!r);
}

async function autoRefill(fhir: BotFhirClient, patient: string): Promise<boolean> {
  const p = await fhir.read<Patient>('Patient', patient.slice('Patient/'.length)).catch(() => undefined);
  return p?.extension?.some((e) => e.url === AUTO_REFILL_EXTENSION && e.valueBoolean === true) ?? false;
}

function reminder(
  request: MedicationRequest,
  patient: string,
  key: string,
  runsOutAt: Date,
  fillsLeft: number,
  now: Date,
): Communication {
  const drug =
    request.medicationCodeableConcept?.text ??
    request.medicationCodeableConcept?.coding?.[0]?.display ??
    'your medication';
  return {
    resourceType: 'Communication',
    identifier: [{ system: REMINDER_SYSTEM, value: key }],
    status: 'completed',
    category: [
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/communication-category', code: 'reminder' }] },
    ],
    subject: { reference: patient },
    recipient: [{ reference: patient }],
    about: [{ reference: `MedicationRequest/${request.id}` }],
    sender: { reference: 'Device/bot-refills' },
    sent: now.toISOString(),
    payload: [
      {
        contentString: `Your supply of ${drug} runs out on ${runsOutAt.toISOString().slice(0, 10)}. ${fillsLeft} refill${fillsLeft === 1 ? '' : 's'} left on this prescription.`,
      },
    ],
  };
}

/** The draft refill: the same medication, dosage and supply, a refill of the order, without repeats of its own. */
function refillOrder(request: MedicationRequest, now: Date): MedicationRequest {
  return {
    resourceType: 'MedicationRequest',
    status: 'draft',
    intent: 'reflex-order',
    ...(request.medicationCodeableConcept ? { medicationCodeableConcept: request.medicationCodeableConcept } : {}),
    ...(request.medicationReference ? { medicationReference: request.medicationReference } : {}),
    ...(request.contained ? { contained: request.contained } : {}),
    subject: request.subject,
    ...(request.requester ? { requester: request.requester } : {}),
    authoredOn: now.toISOString(),
    priorPrescription: { reference: `MedicationRequest/${request.id}` },
    ...(request.dosageInstruction ? { dosageInstruction: request.dosageInstruction } : {}),
    dispenseRequest: {
      ...(request.dispenseRequest?.quantity ? { quantity: request.dispenseRequest.quantity } : {}),
      ...(request.dispenseRequest?.expectedSupplyDuration
        ? { expectedSupplyDuration: request.dispenseRequest.expectedSupplyDuration }
        : {}),
      numberOfRepeatsAllowed: 0,
    },
    note: [{ text: 'Refill ordered by the refills bot for the patient’s refill subscription; to be validated.' }],
  };
}
