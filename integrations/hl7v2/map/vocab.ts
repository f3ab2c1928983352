/**
 * v2 code tables mapped to FHIR codes: typed tables of our own, following the vocabulary maps of the HL7 v2-to-FHIR
 * IG (hl7.fhir.uv.v2mappings 1.0, `mappings/codesystems/*.csv` of HL7/v2-to-fhir). A code a table does not list is
 * kept as a Coding in the v2 table's own code system (`tableSystem`) where FHIR allows it, and left out where FHIR
 * binds a required code (`undefined`).
 */

/** The THO canonical URL of a v2 table (`0203` → `http://terminology.hl7.org/CodeSystem/v2-0203`). */
export const tableSystem = (table: string) => `http://terminology.hl7.org/CodeSystem/v2-${table.padStart(4, '0')}`;

export const V3_ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const V3_INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

/** Table 0001 (administrative sex) → Patient.gender. */
export const SEX_0001: Record<string, 'male' | 'female' | 'other' | 'unknown'> = {
  F: 'female',
  M: 'male',
  O: 'other',
  U: 'unknown',
  A: 'other',
  N: 'unknown',
  X: 'other',
};

/** Table 0004 (patient class) → Encounter.class (v3 ActCode). */
export const PATIENT_CLASS_0004: Record<string, { code: string; display: string }> = {
  E: { code: 'EMER', display: 'emergency' },
  I: { code: 'IMP', display: 'inpatient encounter' },
  O: { code: 'AMB', display: 'ambulatory' },
  P: { code: 'PRENC', display: 'pre-admission' },
  R: { code: 'AMB', display: 'ambulatory' },
  B: { code: 'IMP', display: 'inpatient encounter' },
  C: { code: 'AMB', display: 'ambulatory' },
};

/** Table 0085 (observation result status, OBX-11) → Observation.status. */
export const OBSERVATION_STATUS_0085: Record<string, string> = {
  C: 'corrected',
  D: 'entered-in-error',
  F: 'final',
  I: 'registered',
  N: 'cancelled',
  P: 'preliminary',
  R: 'preliminary',
  S: 'preliminary',
  U: 'final',
  W: 'entered-in-error',
  X: 'cancelled',
};

/** Table 0123 (result status, OBR-25) → DiagnosticReport.status. */
export const REPORT_STATUS_0123: Record<string, string> = {
  O: 'registered',
  I: 'registered',
  S: 'registered',
  A: 'partial',
  P: 'preliminary',
  C: 'corrected',
  R: 'partial',
  F: 'final',
  X: 'cancelled',
  Y: 'final',
  Z: 'final',
};

/** Table 0078 (abnormal flags, OBX-8): the v3 ObservationInterpretation codes that share their v2 code. */
export const INTERPRETATION_0078 = new Set([
  '<',
  '>',
  'A',
  'AA',
  'B',
  'D',
  'DET',
  'H',
  'HH',
  'HM',
  'HU',
  'I',
  'IND',
  'L',
  'LL',
  'LU',
  'MS',
  'N',
  'ND',
  'NEG',
  'NR',
  'NS',
  'POS',
  'QCF',
  'R',
  'RR',
  'S',
  'SDD',
  'SYN-R',
  'SYN-S',
  'TOX',
  'U',
  'VS',
  'W',
  'WR',
  'E',
  'EX',
  'EXP',
  'IE',
  'L>',
  'H>',
  'AC',
]);

/** Table 0038 (order status, ORC-5) → ServiceRequest/MedicationRequest status. */
export const ORDER_STATUS_0038: Record<string, string> = {
  A: 'active',
  CA: 'revoked',
  CM: 'completed',
  DC: 'revoked',
  ER: 'entered-in-error',
  HD: 'on-hold',
  IP: 'active',
  RP: 'revoked',
  SC: 'active',
};

/** Table 0119 (order control, ORC-1) → request status, when ORC-5 says nothing. */
export const ORDER_CONTROL_0119: Record<string, string> = {
  NW: 'active',
  XO: 'active',
  SC: 'active',
  RE: 'active',
  CA: 'revoked',
  OC: 'revoked',
  DC: 'revoked',
  OD: 'revoked',
  HD: 'on-hold',
  OH: 'on-hold',
  RL: 'active',
  CR: 'revoked',
};

/** Table 0278 (filler status, SCH-25) → Appointment.status. */
export const APPOINTMENT_STATUS_0278: Record<string, string> = {
  BOOKED: 'booked',
  CANCELLED: 'cancelled',
  COMPLETE: 'fulfilled',
  DC: 'cancelled',
  DELETED: 'entered-in-error',
  NOSHOW: 'noshow',
  OVERBOOK: 'booked',
  PENDING: 'pending',
  STARTED: 'arrived',
  WAITLIST: 'waitlist',
  BLOCKED: 'booked',
};

/** SIU trigger events → Appointment.status when SCH-25 is empty. */
export const APPOINTMENT_STATUS_BY_EVENT: Record<string, string> = {
  S12: 'booked',
  S13: 'booked',
  S14: 'booked',
  S15: 'cancelled',
  S16: 'cancelled',
  S17: 'entered-in-error',
  S18: 'booked',
  S19: 'booked',
  S20: 'cancelled',
  S21: 'cancelled',
  S22: 'entered-in-error',
  S23: 'booked',
  S24: 'booked',
  S25: 'cancelled',
  S26: 'noshow',
};

/** ADT trigger events → Encounter.status. */
export const ENCOUNTER_STATUS_BY_EVENT: Record<string, string> = {
  A01: 'in-progress',
  A02: 'in-progress',
  A03: 'finished',
  A04: 'in-progress',
  A05: 'planned',
  A06: 'in-progress',
  A07: 'in-progress',
  A11: 'cancelled',
  A13: 'in-progress',
  A14: 'planned',
  A27: 'cancelled',
  A38: 'cancelled',
};

/** Table 0322 (completion status, RXA-20) → Immunization.status. */
export const IMMUNIZATION_STATUS_0322: Record<string, 'completed' | 'not-done'> = {
  CP: 'completed',
  PA: 'completed',
  RE: 'not-done',
  NA: 'not-done',
};

/** Table 0271 (document completion status, TXA-17) → DocumentReference.docStatus. */
export const DOC_STATUS_0271: Record<string, 'preliminary' | 'final' | 'amended' | 'entered-in-error'> = {
  AU: 'final',
  LA: 'final',
  DI: 'preliminary',
  DO: 'preliminary',
  IN: 'preliminary',
  IP: 'preliminary',
  PA: 'preliminary',
};

/** Table 0127 (allergen type, AL1-2) → AllergyIntolerance.category. */
export const ALLERGY_CATEGORY_0127: Record<string, 'food' | 'medication' | 'environment' | 'biologic'> = {
  DA: 'medication',
  FA: 'food',
  EA: 'environment',
  MA: 'environment',
  PA: 'environment',
  AA: 'biologic',
  LA: 'environment',
  MC: 'medication',
};

/** Table 0128 (allergy severity, AL1-4) → AllergyIntolerance.criticality. */
export const ALLERGY_CRITICALITY_0128: Record<string, 'high' | 'low' | 'unable-to-assess'> = {
  SV: 'high',
  MO: 'low',
  MI: 'low',
  U: 'unable-to-assess',
};

/** Coding-system names of CWE-3/CE-3 (table 0396) → FHIR system URLs. */
export const CODING_SYSTEM_0396: Record<string, string> = {
  LN: 'http://loinc.org',
  LOINC: 'http://loinc.org',
  SCT: 'http://snomed.info/sct',
  SNM: 'http://snomed.info/sct',
  SNOMEDCT: 'http://snomed.info/sct',
  'SNOMED-CT': 'http://snomed.info/sct',
  I10: 'http://hl7.org/fhir/sid/icd-10',
  I10C: 'http://hl7.org/fhir/sid/icd-10-cm',
  ICD10CM: 'http://hl7.org/fhir/sid/icd-10-cm',
  I9: 'http://hl7.org/fhir/sid/icd-9-cm',
  I9C: 'http://hl7.org/fhir/sid/icd-9-cm',
  RXNORM: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  RXN: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  CVX: 'http://hl7.org/fhir/sid/cvx',
  MVX: 'http://terminology.hl7.org/CodeSystem/MVX',
  NDC: 'http://hl7.org/fhir/sid/ndc',
  UCUM: 'http://unitsofmeasure.org',
  C4: 'http://www.ama-assn.org/go/cpt',
  CPT: 'http://www.ama-assn.org/go/cpt',
  NCI: 'http://ncimeta.nci.nih.gov',
  ISO3166_1: 'urn:iso:std:iso:3166',
  ISO639: 'urn:ietf:bcp:47',
  CDCREC: 'urn:oid:2.16.840.1.113883.6.238',
  NUCC: 'http://nucc.org/provider-taxonomy',
  HCPCS: 'http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets',
};

/** The FHIR system of a coding-system name: the known ones, `HL7nnnn`/`HL70nnn` tables, else none (local codes). */
export function codingSystem(name: string): string | undefined {
  const key = name.trim().toUpperCase();
  if (!key) return undefined;
  if (CODING_SYSTEM_0396[key]) return CODING_SYSTEM_0396[key];
  const table = /^HL7(\d{3,4})$/.exec(key);
  if (table) return tableSystem(table[1]);
  if (/^\d+(\.\d+)+$/.test(name.trim())) return `urn:oid:${name.trim()}`;
  return undefined;
}
