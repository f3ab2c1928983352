import {
  getDataType,
  isPrimitiveType,
  isResourceType,
  type InternalSchemaElement,
  type InternalTypeSchema,
} from '@medplum/core';

/** How a value of an element is represented. */
export type ValueKind = 'primitive' | 'xhtml' | 'complex' | 'resource';

/** One JSON property of a type: a plain element, or one type of a choice element (`valueQuantity` of `value[x]`). */
export interface PropertyInfo {
  /** The JSON property name (`valueQuantity`, `given`). */
  name: string;
  /** The element's name in the definition (`value[x]`, `given`). */
  elementKey: string;
  /** The FHIR type of the value (`Quantity`, `string`, or a backbone type such as `PatientContact`). */
  type: string;
  kind: ValueKind;
  isArray: boolean;
  element: InternalSchemaElement;
}

/** One element of a type, in definition order, with its JSON properties (several for a choice element). */
export interface ElementSlot {
  key: string;
  element: InternalSchemaElement;
  properties: PropertyInfo[];
}

/** The shape of a FHIR type (resource, datatype or backbone element) as the serialisers and validators need it. */
export interface TypeModel {
  name: string;
  schema: InternalTypeSchema;
  /** True for resource types (their `id` is an element, not an XML attribute). */
  isResource: boolean;
  /** Elements in the order of the StructureDefinition (the XML order). */
  slots: ElementSlot[];
  /** JSON property name → property (choice types expanded). */
  properties: Map<string, PropertyInfo>;
}

const models = new Map<string, TypeModel>();

/** Kind of a value of the given FHIR type code. */
export function kindOf(type: string): ValueKind {
  if (type === 'xhtml') return 'xhtml';
  if (type === 'Resource' || isResourceType(type)) return 'resource';
  return isPrimitiveType(type) ? 'primitive' : 'complex';
}

/** The JSON/XML name of one type of a choice element: `value[x]` + `dateTime` → `valueDateTime`. */
export function choiceName(elementKey: string, type: string): string {
  return elementKey.slice(0, -3) + type.charAt(0).toUpperCase() + type.slice(1);
}

/**
 * The model of a FHIR type, built once from the R4 StructureDefinitions that `loadDefinitions()` indexed in
 * @medplum/core; throws for an unknown type. Backbone elements are types of their own (`PatientContact`).
 */
export function typeModel(type: string): TypeModel {
  let model = models.get(type);
  if (!model) {
    model = buildModel(type, getDataType(type));
    models.set(type, model);
  }
  return model;
}

/** The model of a type, or undefined when the type is unknown. */
export function tryTypeModel(type: string): TypeModel | undefined {
  try {
    return typeModel(type);
  } catch {
    return undefined;
  }
}

function buildModel(name: string, schema: InternalTypeSchema): TypeModel {
  const slots: ElementSlot[] = [];
  const properties = new Map<string, PropertyInfo>();
  for (const [key, element] of Object.entries(schema.elements)) {
    const isChoice = key.endsWith('[x]');
    const slot: ElementSlot = { key, element, properties: [] };
    for (const { code } of element.type) {
      const type = code === 'http://hl7.org/fhirpath/System.String' ? 'string' : code;
      const prop: PropertyInfo = {
        name: isChoice ? choiceName(key, type) : key,
        elementKey: key,
        type,
        kind: kindOf(type),
        isArray: !!element.isArray,
        element,
      };
      slot.properties.push(prop);
      properties.set(prop.name, prop);
    }
    slots.push(slot);
  }
  return { name, schema, isResource: schema.kind === 'resource', slots, properties };
}
