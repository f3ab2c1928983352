import type { Resource } from '@medplum/fhirtypes';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { keepDecimalText } from '../fhir/decimals.ts';
import { loadDefinitions } from '../fhir/definitions.ts';
import { typeModel, type PropertyInfo, type TypeModel } from '../fhir/elements.ts';
import { invalidContent } from '../fhir/outcomes.ts';

/** The FHIR and XHTML namespaces. */
export const FHIR_NS = 'http://hl7.org/fhir';
export const XHTML_NS = 'http://www.w3.org/1999/xhtml';

/** A node of fast-xml-parser's ordered output: `{ tag: children, ':@': attributes }` or `{ '#text': text }`. */
type XmlNode = Record<string, unknown>;
type Attributes = Record<string, string>;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  // The narrative's XHTML stays markup: its content is kept raw.
  stopNodes: ['*.div'],
  // Decodes character references (&#xA;); named entities beyond XML's five are refused before parsing.
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: 200,
});

/** An entity reference other than XML's five and character references: not well-formed without a DTD. */
const UNKNOWN_ENTITY = /&(?!(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)/;

/** Characters XML 1.0 does not allow in a document (C0 controls other than tab, LF and CR; U+FFFE, U+FFFF). */
const NOT_XML_CHARACTER = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const CHARACTER_REFERENCE = /&#(x[0-9a-fA-F]+|[0-9]+);/g;

/**
 * The first character reference to something XML 1.0 does not allow (NUL and other controls, surrogates, U+FFFE,
 * U+FFFF, beyond U+10FFFF): not well-formed, though fast-xml-parser would silently drop it.
 */
function notACharacterReference(text: string): string | undefined {
  if (!text.includes('&#')) return undefined;
  for (const m of text.matchAll(CHARACTER_REFERENCE)) {
    const code = m[1][0] === 'x' ? parseInt(m[1].slice(1), 16) : Number(m[1]);
    const allowed =
      code === 0x9 ||
      code === 0xa ||
      code === 0xd ||
      (code >= 0x20 && code <= 0xd7ff) ||
      (code >= 0xe000 && code <= 0xfffd) ||
      (code >= 0x10000 && code <= 0x10ffff);
    if (!allowed) return m[0];
  }
  return undefined;
}

const DECIMAL = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
const INTEGER = /^[+-]?[0-9]+$/;

/**
 * Parses a FHIR XML resource into its JSON form, guided by the R4 StructureDefinitions (arrays by cardinality,
 * choice types, primitives' `id`/`extension` as `_name`, narrative kept as markup, nested resources, decimal text).
 * Anything that is not FHIR XML is refused with a 400 naming the element; DTDs are refused outright (no XXE, no
 * entity expansion).
 */
export function parseFhirXml(text: string): Resource {
  if (/<!DOCTYPE/i.test(text)) throw invalidContent('XML with a DOCTYPE (DTD or entity declarations) is not accepted');
  const entity = UNKNOWN_ENTITY.exec(text);
  if (entity)
    throw invalidContent(`Malformed XML: undefined entity at "${text.slice(entity.index, entity.index + 12)}"`);
  const control = NOT_XML_CHARACTER.exec(text);
  if (control)
    throw invalidContent(
      `Malformed XML: U+${control[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()} is not an XML character`,
    );
  const badReference = notACharacterReference(text);
  if (badReference)
    throw invalidContent(`Malformed XML: the character reference ${badReference} is not an XML character`);
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    throw invalidContent(`Malformed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  }
  const roots = elementsOf(parseNodes(text), '');
  if (roots.length !== 1) throw invalidContent('The XML document must have exactly one root element');
  const [root] = roots;
  const ns = root.attrs.xmlns;
  if (ns !== FHIR_NS) throw invalidContent(`The root element must be in the FHIR namespace "${FHIR_NS}"`);
  return readResource(root, root.name);
}

/** fast-xml-parser's tree; its own refusals (e.g. nesting deeper than `maxNestedTags`) become a 400. */
function parseNodes(text: string): XmlNode[] {
  try {
    return parser.parse(text) as XmlNode[];
  } catch (err) {
    throw invalidContent(`Malformed XML: ${(err as Error).message}`);
  }
}

interface XmlElement {
  name: string;
  children: XmlNode[];
  attrs: Attributes;
}

/** The element children of a node list; non-blank text between FHIR elements is an error. */
function elementsOf(nodes: XmlNode[], path: string): XmlElement[] {
  const out: XmlElement[] = [];
  for (const node of nodes) {
    for (const key of Object.keys(node)) {
      if (key === ':@') continue;
      if (key === '#text') {
        if (String(node[key]).trim() !== '')
          throw invalidContent(`Unexpected text content in ${path || 'the document'}`, path || undefined);
        continue;
      }
      out.push({ name: key, children: node[key] as XmlNode[], attrs: (node[':@'] as Attributes) ?? {} });
    }
  }
  return out;
}

function readResource(el: XmlElement, path: string): Resource {
  if (!loadDefinitions().resourceTypeSet.has(el.name)) throw invalidContent(`Unknown resource type "${el.name}"`, path);
  const ns = el.attrs.xmlns;
  if (ns !== undefined && ns !== FHIR_NS) throw invalidContent(`${el.name} is not in the FHIR namespace`, path);
  return { resourceType: el.name, ...readComplex(el, typeModel(el.name), path) } as Resource;
}

/** A primitive's values and extensions collected over its (possibly repeated) XML elements. */
interface PrimitiveValues {
  values: unknown[];
  texts: (string | undefined)[];
  extras: (Record<string, unknown> | null)[];
}

function readComplex(el: XmlElement, model: TypeModel, path: string): Record<string, unknown> {
  const attributeValues = readAttributes(el, model, path);
  const complex = new Map<string, unknown[]>();
  const primitives = new Map<string, PrimitiveValues>();
  const occurrences = new Map<string, number>();
  for (const child of elementsOf(el.children, path)) {
    const childPath = `${path}.${child.name}`;
    const prop = model.properties.get(child.name);
    if (!prop || isXmlAttribute(model, prop.name))
      throw invalidContent(`Unknown element "${child.name}" in ${path}`, childPath);
    const seen = occurrences.get(prop.elementKey) ?? 0;
    if (!prop.isArray && seen > 0) throw invalidContent(`${childPath} is repeated but may occur only once`, childPath);
    occurrences.set(prop.elementKey, seen + 1);
    if (prop.kind === 'primitive') {
      addPrimitive(primitives, prop, child, childPath);
    } else {
      const list = complex.get(prop.name) ?? [];
      list.push(readValue(prop, child, childPath));
      complex.set(prop.name, list);
    }
  }
  const out: Record<string, unknown> = {};
  for (const slot of model.slots) {
    for (const prop of slot.properties) {
      if (attributeValues[prop.name] !== undefined) out[prop.name] = attributeValues[prop.name];
      const list = complex.get(prop.name);
      if (list) out[prop.name] = prop.isArray ? list : list[0];
      const prim = primitives.get(prop.name);
      if (prim) emitPrimitive(out, prop, prim);
    }
  }
  return out;
}

/** In FHIR XML, `id` of an element (not of a resource) and `url` of an extension are attributes. */
function isXmlAttribute(model: TypeModel, name: string): boolean {
  return (name === 'id' && !model.isResource) || (name === 'url' && model.name === 'Extension');
}

function readAttributes(el: XmlElement, model: TypeModel, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(el.attrs)) {
    if (isDeclaration(name)) continue;
    if (name === 'xmlns') {
      if (value !== FHIR_NS) throw invalidContent(`${path} is not in the FHIR namespace`, path);
    } else if (isXmlAttribute(model, name)) {
      out[name] = value;
    } else {
      throw invalidContent(`Unexpected attribute "${name}" on ${path}`, path);
    }
  }
  return out;
}

/** Namespace prefix declarations and schema hints (`xmlns:xsi`, `xsi:schemaLocation`) carry no content. */
function isDeclaration(attribute: string): boolean {
  return attribute.startsWith('xmlns:') || attribute.startsWith('xsi:');
}

function readValue(prop: PropertyInfo, el: XmlElement, path: string): unknown {
  if (prop.kind === 'xhtml') return xhtmlMarkup(el, path);
  if (prop.kind === 'resource') {
    const inner = elementsOf(el.children, path);
    if (inner.length !== 1 || Object.keys(el.attrs).length > 0)
      throw invalidContent(`${path} must hold exactly one resource`, path);
    return readResource(inner[0], `${path}.${inner[0].name}`);
  }
  return readComplex(el, typeModel(prop.type), path);
}

function addPrimitive(
  primitives: Map<string, PrimitiveValues>,
  prop: PropertyInfo,
  el: XmlElement,
  path: string,
): void {
  const { value, id, xmlns, ...others } = el.attrs;
  const unexpected = Object.keys(others).find((name) => !isDeclaration(name));
  if (unexpected) throw invalidContent(`Unexpected attribute "${unexpected}" on ${path}`, path);
  if (xmlns !== undefined && xmlns !== FHIR_NS) throw invalidContent(`${path} is not in the FHIR namespace`, path);
  const extra: Record<string, unknown> = {};
  if (id !== undefined) extra.id = id;
  const extensions = elementsOf(el.children, path).map((child, i) => {
    if (child.name !== 'extension')
      throw invalidContent(`Unknown element "${child.name}" in ${path}`, `${path}.${child.name}`);
    return readComplex(child, typeModel('Extension'), `${path}.extension[${i}]`);
  });
  if (extensions.length > 0) extra.extension = extensions;
  if (value === undefined && Object.keys(extra).length === 0)
    throw invalidContent(`${path} has neither a value nor extensions`, path);
  const entry = primitives.get(prop.name) ?? { values: [], texts: [], extras: [] };
  entry.values.push(value === undefined ? null : primitiveValue(prop.type, value, path));
  entry.texts.push(value);
  entry.extras.push(Object.keys(extra).length > 0 ? extra : null);
  primitives.set(prop.name, entry);
}

function emitPrimitive(out: Record<string, unknown>, prop: PropertyInfo, prim: PrimitiveValues): void {
  const hasValue = prim.values.some((v) => v !== null);
  const hasExtra = prim.extras.some((e) => e !== null);
  if (prop.isArray) {
    if (hasValue) {
      const values = [...prim.values];
      out[prop.name] = values;
      if (prop.type === 'decimal')
        prim.texts.forEach((t, i) => t !== undefined && keepDecimalText(values, i, t, values[i] as number));
    }
    if (hasExtra) out[`_${prop.name}`] = prim.extras;
    return;
  }
  if (hasValue) {
    out[prop.name] = prim.values[0];
    if (prop.type === 'decimal') keepDecimalText(out, prop.name, prim.texts[0] as string, prim.values[0] as number);
  }
  if (hasExtra) out[`_${prop.name}`] = prim.extras[0];
}

function primitiveValue(type: string, text: string, path: string): unknown {
  switch (type) {
    case 'boolean':
      if (text !== 'true' && text !== 'false') throw invalidContent(`${path}: "${text}" is not a boolean`, path);
      return text === 'true';
    case 'integer':
    case 'positiveInt':
    case 'unsignedInt':
      if (!INTEGER.test(text)) throw invalidContent(`${path}: "${text}" is not an integer`, path);
      return Number(text);
    case 'decimal':
      if (!DECIMAL.test(text.trim())) throw invalidContent(`${path}: "${text}" is not a decimal`, path);
      return Number(text);
    default:
      return text;
  }
}

/** The narrative `div` as XHTML markup text, the way FHIR JSON carries it. */
function xhtmlMarkup(el: XmlElement, path: string): string {
  if (el.attrs.xmlns !== XHTML_NS) throw invalidContent(`${path} must be in the XHTML namespace "${XHTML_NS}"`, path);
  const attrs = Object.entries(el.attrs)
    .map(([k, v]) => ` ${k}="${escapeAttribute(v)}"`)
    .join('');
  const inner = el.children.map((n) => String(n['#text'] ?? '')).join('');
  return `<div${attrs}>${inner}</div>`;
}

/** Escapes text for a double-quoted XML attribute (whitespace that attribute normalisation would lose included). */
export function escapeAttribute(value: string): string {
  return value.replace(/[&<>"\n\r\t]/g, (c) => ATTRIBUTE_ESCAPES[c]);
}

const ATTRIBUTE_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  '\n': '&#xA;',
  '\r': '&#xD;',
  '\t': '&#x9;',
};
