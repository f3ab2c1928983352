import type { MedicationRequest, Reference, Resource } from '@medplum/fhirtypes';
import type { Ingredient } from './tables/drugs.ts';

/** The code system every finding's DetectedIssue.code carries. */
export const CHECK_SYSTEM = 'https://tributary.dev/fhir/CodeSystem/prescription-check';

/** The layers of prescription validation, as codes of CHECK_SYSTEM. */
export type CheckName =
  'structure' | 'duplicate' | 'image' | 'refill' | 'interaction' | 'allergy' | 'dose' | 'prescriber' | 'patient';

/** One problem a layer found: a DetectedIssue to be. `high` blocks the prescription. */
export interface Finding {
  check: CheckName;
  severity: 'high' | 'moderate' | 'low';
  /** HL7 v3 ActCode detected-issue code where one fits (DRG, ALGY, DUPTHPY, DOSEHIGH, DOSEHINDW, TOOSOON). */
  actCode?: string;
  detail: string;
  mitigation?: string;
  /** Other resources involved (the interacting request, the allergy, the earlier duplicate…). */
  implicated?: Reference[];
}

/** What a layer reports: passed or failed, with its reasons (the findings, or why it had nothing to check). */
export interface LayerResult {
  check: CheckName;
  passed: boolean;
  reasons: string[];
}

/**
 * How the layers read the patient's record: with the caller's access (the operation), the bot's scopes (the bot) or
 * the write's own transaction (the hard stop). `read` answers undefined for what is missing or not visible.
 */
export interface ClinicalReader {
  read<T extends Resource>(resourceType: T['resourceType'], id: string): Promise<T | undefined>;
  search<T extends Resource>(resourceType: T['resourceType'], query: Record<string, string>): Promise<T[]>;
  /**
   * The errors of the resource against a profile, by the server's validator (element path → message); undefined when
   * the profile is not available (another PROFILES_DIR) or the reader may not validate.
   */
  profileErrors(resource: Resource, profile: string): Promise<ProfileError[] | undefined>;
}

/** An error of profile validation: the element (FHIRPath) and the message. */
export interface ProfileError {
  path: string;
  message: string;
}

/** The prescription profile shipped in profiles/tributary-prescription.json. */
export const PRESCRIPTION_PROFILE = 'https://tributary.dev/fhir/StructureDefinition/prescription';

/** What every layer gets: the request, its resolved ingredients, the reader, and the time of the check. */
export interface CheckInput {
  request: MedicationRequest;
  /** The request's ingredients the shipped table knows (empty when none). */
  ingredients: Ingredient[];
  /** The request's medication codes the table does not know. */
  unknownCodes: string[];
  reader: ClinicalReader;
  now: Date;
}

/** A layer: its name and what it finds. */
export interface Layer {
  check: CheckName;
  run(input: CheckInput): Promise<Finding[] | LayerNote>;
}

/** A layer that passed with nothing to check says why. */
export interface LayerNote {
  note: string;
}

/** The id part of a `Type/id` reference of the given type, if it is one. */
export function idOf(ref: Reference | undefined, type: string): string | undefined {
  const m = /^([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(ref?.reference ?? '');
  return m && m[1] === type ? m[2] : undefined;
}

/** `Type/id` of a stored resource. */
export function refTo(r: Resource): Reference {
  return { reference: `${r.resourceType}/${r.id}` };
}
