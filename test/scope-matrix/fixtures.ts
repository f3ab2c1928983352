/**
 * A minimal valid resource of every type in the Patient compartment, for the scope matrix's compartment write cases
 * (scope-matrix-writes.ts). Each fixture says where the references of each of its type's compartment parameters go
 * (`one`/`many`, named by parameter; `a|b` when one element serves two parameters) and which non-patient reference
 * may stand in such a slot when the parameter under test is another one. Test code only.
 */

type Reference = { reference: string };

/** Where a fixture puts the references of a compartment parameter. */
export interface Slots {
  /** A single Reference element. */
  one(params: string, neutral?: string): Reference;
  /** A repeating element: one item per reference (`wrap` builds a backbone item around it). */
  many(params: string, neutral?: string, wrap?: (r: Reference) => unknown): unknown[];
}

export type Fixture = (s: Slots) => Record<string, unknown>;

const CODE = { coding: [{ system: 'urn:matrix', code: 'x' }] };
const DAY = '2024-01-01';
const INSTANT = '2024-01-01T00:00:00Z';
const ref = (reference: string) => ({ reference });
const GROUP = 'Group/matrix';
const PRACTITIONER = 'Practitioner/matrix';
const ORGANIZATION = 'Organization/matrix';

export const FIXTURES: Record<string, Fixture> = {
  Account: (s) => ({ status: 'active', subject: s.many('subject', 'Device/matrix') }),
  AdverseEvent: (s) => ({ actuality: 'actual', subject: s.one('subject', GROUP) }),
  AllergyIntolerance: (s) => ({
    clinicalStatus: {
      coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }],
    },
    patient: s.one('patient'),
    recorder: s.one('recorder', PRACTITIONER),
    asserter: s.one('asserter', PRACTITIONER),
  }),
  Appointment: (s) => ({
    status: 'proposed',
    participant: s.many('actor', PRACTITIONER, (actor) => ({ actor, status: 'accepted' })),
  }),
  AppointmentResponse: (s) => ({
    appointment: ref('Appointment/matrix'),
    participantStatus: 'accepted',
    actor: s.one('actor', PRACTITIONER),
  }),
  AuditEvent: (s) => ({
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110110' },
    recorded: INSTANT,
    agent: s.many('patient', undefined, (who) => ({ who, requestor: false })),
    source: { observer: ref('Device/matrix') },
  }),
  Basic: (s) => ({ code: CODE, subject: s.one('patient', GROUP), author: s.one('author', PRACTITIONER) }),
  BodyStructure: (s) => ({ patient: s.one('patient') }),
  CarePlan: (s) => ({
    status: 'active',
    intent: 'plan',
    subject: s.one('patient', GROUP),
    activity: [{ detail: { status: 'scheduled', performer: s.many('performer', PRACTITIONER) } }],
  }),
  CareTeam: (s) => ({
    subject: s.one('patient', GROUP),
    participant: s.many('participant', PRACTITIONER, (member) => ({ member })),
  }),
  ChargeItem: (s) => ({ status: 'billable', code: CODE, subject: s.one('subject', GROUP) }),
  Claim: (s) => ({
    status: 'active',
    type: CODE,
    use: 'claim',
    patient: s.one('patient'),
    created: DAY,
    provider: ref(ORGANIZATION),
    priority: CODE,
    insurance: [{ sequence: 1, focal: true, coverage: ref('Coverage/matrix') }],
    payee: { type: CODE, party: s.one('payee', ORGANIZATION) },
  }),
  ClaimResponse: (s) => ({
    status: 'active',
    type: CODE,
    use: 'claim',
    patient: s.one('patient'),
    created: DAY,
    insurer: ref(ORGANIZATION),
    outcome: 'complete',
  }),
  ClinicalImpression: (s) => ({ status: 'completed', subject: s.one('subject', GROUP) }),
  Communication: (s) => ({
    status: 'completed',
    subject: s.one('subject', GROUP),
    sender: s.one('sender', PRACTITIONER),
    recipient: s.many('recipient', PRACTITIONER),
  }),
  CommunicationRequest: (s) => ({
    status: 'active',
    subject: s.one('subject', GROUP),
    sender: s.one('sender', PRACTITIONER),
    recipient: s.many('recipient', PRACTITIONER),
    requester: s.one('requester', PRACTITIONER),
  }),
  Composition: (s) => ({
    status: 'final',
    type: CODE,
    date: DAY,
    title: 'matrix',
    subject: s.one('subject', GROUP),
    author: s.many('author', PRACTITIONER),
    attester: s.many('attester', PRACTITIONER, (party) => ({ mode: 'legal', party })),
  }),
  Condition: (s) => ({ subject: s.one('patient', GROUP), asserter: s.one('asserter', PRACTITIONER) }),
  Consent: (s) => ({
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [CODE],
    patient: s.one('patient'),
    policyRule: CODE,
  }),
  Coverage: (s) => ({
    status: 'active',
    beneficiary: s.one('beneficiary'),
    payor: s.many('payor', ORGANIZATION),
    policyHolder: s.one('policy-holder', ORGANIZATION),
    subscriber: s.one('subscriber', 'RelatedPerson/matrix'),
  }),
  CoverageEligibilityRequest: (s) => ({
    status: 'active',
    purpose: ['benefits'],
    patient: s.one('patient'),
    created: DAY,
    insurer: ref(ORGANIZATION),
  }),
  CoverageEligibilityResponse: (s) => ({
    status: 'active',
    purpose: ['benefits'],
    patient: s.one('patient'),
    created: DAY,
    request: ref('CoverageEligibilityRequest/matrix'),
    outcome: 'complete',
    insurer: ref(ORGANIZATION),
  }),
  DetectedIssue: (s) => ({ status: 'final', patient: s.one('patient') }),
  DeviceRequest: (s) => ({
    intent: 'order',
    codeCodeableConcept: CODE,
    subject: s.one('subject', GROUP),
    performer: s.one('performer', PRACTITIONER),
  }),
  DeviceUseStatement: (s) => ({ status: 'active', subject: s.one('subject', GROUP), device: ref('Device/matrix') }),
  DiagnosticReport: (s) => ({ status: 'final', code: CODE, subject: s.one('subject', GROUP) }),
  DocumentManifest: (s) => ({
    status: 'current',
    content: [ref('DocumentReference/matrix')],
    subject: s.one('subject', GROUP),
    author: s.many('author', PRACTITIONER),
    recipient: s.many('recipient', PRACTITIONER),
  }),
  DocumentReference: (s) => ({
    status: 'current',
    content: [{ attachment: { contentType: 'text/plain', data: 'aGk=' } }],
    subject: s.one('subject', GROUP),
    author: s.many('author', PRACTITIONER),
  }),
  Encounter: (s) => ({
    status: 'finished',
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: s.one('subject', GROUP),
  }),
  EnrollmentRequest: (s) => ({ status: 'active', candidate: s.one('subject') }),
  EpisodeOfCare: (s) => ({ status: 'active', patient: s.one('patient') }),
  ExplanationOfBenefit: (s) => ({
    status: 'active',
    type: CODE,
    use: 'claim',
    patient: s.one('patient'),
    created: DAY,
    insurer: ref(ORGANIZATION),
    provider: ref(ORGANIZATION),
    outcome: 'complete',
    insurance: [{ focal: true, coverage: ref('Coverage/matrix') }],
    payee: { party: s.one('payee', ORGANIZATION) },
  }),
  FamilyMemberHistory: (s) => ({ status: 'completed', patient: s.one('patient'), relationship: CODE }),
  Flag: (s) => ({ status: 'active', code: CODE, subject: s.one('patient', GROUP) }),
  Goal: (s) => ({ lifecycleStatus: 'active', description: CODE, subject: s.one('patient', GROUP) }),
  Group: (s) => ({ type: 'person', actual: true, member: s.many('member', PRACTITIONER, (entity) => ({ entity })) }),
  ImagingStudy: (s) => ({ status: 'available', subject: s.one('patient', GROUP) }),
  Immunization: (s) => ({ status: 'completed', vaccineCode: CODE, patient: s.one('patient'), occurrenceDateTime: DAY }),
  ImmunizationEvaluation: (s) => ({
    status: 'completed',
    patient: s.one('patient'),
    targetDisease: CODE,
    immunizationEvent: ref('Immunization/matrix'),
    doseStatus: CODE,
  }),
  ImmunizationRecommendation: (s) => ({
    patient: s.one('patient'),
    date: DAY,
    recommendation: [{ vaccineCode: [CODE], forecastStatus: CODE }],
  }),
  Invoice: (s) => ({
    status: 'issued',
    subject: s.one('subject|patient', GROUP),
    recipient: s.one('recipient', ORGANIZATION),
  }),
  List: (s) => ({
    status: 'current',
    mode: 'working',
    subject: s.one('subject', GROUP),
    source: s.one('source', PRACTITIONER),
  }),
  MeasureReport: (s) => ({
    status: 'complete',
    type: 'individual',
    measure: 'http://example.org/Measure/matrix',
    period: { start: DAY, end: '2024-12-31' },
    subject: s.one('patient', GROUP),
  }),
  Media: (s) => ({
    status: 'completed',
    content: { contentType: 'text/plain', data: 'aGk=' },
    subject: s.one('subject', GROUP),
  }),
  MedicationAdministration: (s) => ({
    status: 'completed',
    medicationCodeableConcept: CODE,
    subject: s.one('subject|patient', GROUP),
    effectiveDateTime: DAY,
    performer: s.many('performer', PRACTITIONER, (actor) => ({ actor })),
  }),
  MedicationDispense: (s) => ({
    status: 'completed',
    medicationCodeableConcept: CODE,
    subject: s.one('subject|patient', GROUP),
    receiver: s.many('receiver', PRACTITIONER),
  }),
  MedicationRequest: (s) => ({
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: CODE,
    subject: s.one('subject', GROUP),
  }),
  MedicationStatement: (s) => ({ status: 'active', medicationCodeableConcept: CODE, subject: s.one('subject', GROUP) }),
  MolecularSequence: (s) => ({ coordinateSystem: 0, patient: s.one('patient') }),
  NutritionOrder: (s) => ({
    status: 'active',
    intent: 'order',
    patient: s.one('patient'),
    dateTime: DAY,
    oralDiet: { type: [CODE] },
  }),
  Observation: (s) => ({
    status: 'final',
    code: CODE,
    subject: s.one('subject', GROUP),
    performer: s.many('performer', PRACTITIONER),
  }),
  Patient: (s) => ({ link: s.many('link', 'RelatedPerson/matrix', (other) => ({ other, type: 'seealso' })) }),
  Person: (s) => ({ link: s.many('patient', PRACTITIONER, (target) => ({ target })) }),
  Procedure: (s) => ({
    status: 'completed',
    subject: s.one('patient', GROUP),
    performer: s.many('performer', PRACTITIONER, (actor) => ({ actor })),
  }),
  Provenance: (s) => ({
    target: s.many('patient', 'Observation/matrix'),
    recorded: INSTANT,
    agent: [{ who: ref(PRACTITIONER) }],
  }),
  QuestionnaireResponse: (s) => ({
    status: 'completed',
    subject: s.one('subject', GROUP),
    author: s.one('author', PRACTITIONER),
  }),
  RelatedPerson: (s) => ({ patient: s.one('patient') }),
  RequestGroup: (s) => ({
    status: 'active',
    intent: 'order',
    subject: s.one('subject', GROUP),
    action: [{ resource: ref('ServiceRequest/matrix'), participant: s.many('participant', PRACTITIONER) }],
  }),
  ResearchSubject: (s) => ({ status: 'on-study', study: ref('ResearchStudy/matrix'), individual: s.one('individual') }),
  RiskAssessment: (s) => ({ status: 'final', subject: s.one('subject', GROUP) }),
  Schedule: (s) => ({ actor: s.many('actor', PRACTITIONER) }),
  ServiceRequest: (s) => ({
    status: 'active',
    intent: 'order',
    subject: s.one('subject', GROUP),
    performer: s.many('performer', PRACTITIONER),
  }),
  Specimen: (s) => ({ subject: s.one('subject', GROUP) }),
  SupplyDelivery: (s) => ({ status: 'completed', patient: s.one('patient') }),
  SupplyRequest: (s) => ({
    itemCodeableConcept: CODE,
    quantity: { value: 1 },
    deliverTo: s.one('subject', ORGANIZATION),
  }),
  Task: (s) => ({
    status: 'requested',
    intent: 'order',
    for: s.one('patient', GROUP),
    focus: s.one('focus', 'Observation/matrix'),
  }),
  VisionPrescription: (s) => ({
    status: 'active',
    created: DAY,
    patient: s.one('patient'),
    dateWritten: DAY,
    prescriber: ref(PRACTITIONER),
    lensSpecification: [{ product: CODE, eye: 'right' }],
  }),
};
