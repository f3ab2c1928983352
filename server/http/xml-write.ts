import type { Resource } from '@medplum/fhirtypes';
import { decimalText } from '../fhir/decimals.ts';
import { tryTypeModel, type PropertyInfo, type TypeModel } from '../fhir/elements.ts';
import { escapeAttribute, FHIR_NS } from './xml-parse.ts';

/*
 * FHIR XML is written by hand rather than with fast-xml-parser's builder: the output is a plain walk over the
 * StructureDefinition order, the narrative must be embedded verbatim as markup, and building the builder's
 * intermediate tree would cost more than writing the text directly.
 */

type Json = Record<string, unknown>;

/** Characters XML 1.0 cannot carry at all (FHIR strings exclude them too); dropped rather than emitted. */
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

class XmlWriter {
  private readonly parts: string[] = [];

  constructor(private readonly pretty: boolean) {}

  text(): string {
    return this.parts.join('');
  }

  line(depth: number, markup: string): void {
    this.parts.push(this.pretty ? `${'  '.repeat(depth)}${markup}\n` : markup);
  }

  resource(resource: Resource, depth: number, root: boolean): void {
    const model = tryTypeModel(resource.resourceType);
    if (!model?.isResource) return;
    const ns = root ? ` xmlns="${FHIR_NS}"` : '';
    this.element(resource.resourceType, resource as unknown as Json, model, depth, ns);
  }

  /** Writes `<name attrs>…</name>` for a complex value, children in definition order. */
  private element(name: string, value: Json, model: TypeModel, depth: number, extraAttrs = ''): void {
    let attrs = extraAttrs;
    if (!model.isResource && typeof value.id === 'string') attrs += ` id="${attr(value.id)}"`;
    if (model.name === 'Extension' && typeof value.url === 'string') attrs += ` url="${attr(value.url)}"`;
    const start = this.parts.length;
    this.line(depth, `<${name}${attrs}>`);
    const before = this.parts.length;
    for (const slot of model.slots) {
      for (const prop of slot.properties) {
        if ((prop.name === 'id' && !model.isResource) || (prop.name === 'url' && model.name === 'Extension')) continue;
        this.property(value, prop, depth + 1);
      }
    }
    if (this.parts.length === before) {
      this.parts.length = start;
      this.line(depth, `<${name}${attrs}/>`);
    } else {
      this.line(depth, `</${name}>`);
    }
  }

  private property(holder: Json, prop: PropertyInfo, depth: number): void {
    const value = holder[prop.name];
    if (prop.kind === 'primitive') {
      this.primitive(holder, prop, depth);
      return;
    }
    if (value === undefined || value === null) return;
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) {
      if (item === null || (typeof item !== 'object' && prop.kind !== 'xhtml')) continue;
      if (prop.kind === 'xhtml') {
        if (typeof item === 'string') this.line(depth, item.replace(NOT_XML, ''));
      } else if (prop.kind === 'resource') {
        this.line(depth, `<${prop.name}>`);
        this.resource(item as Resource, depth + 1, false);
        this.line(depth, `</${prop.name}>`);
      } else {
        const model = tryTypeModel(prop.type);
        if (model) this.element(prop.name, item as Json, model, depth);
      }
    }
  }

  /** A primitive (or a list of them) with its `_name` partner: `<name id=".." value="..">extensions</name>`. */
  private primitive(holder: Json, prop: PropertyInfo, depth: number): void {
    const raw = holder[prop.name];
    const rawExtra = holder[`_${prop.name}`];
    if (raw === undefined && rawExtra === undefined) return;
    const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    const extras = rawExtra === undefined ? [] : Array.isArray(rawExtra) ? rawExtra : [rawExtra];
    const valueHolder = Array.isArray(raw) ? raw : holder;
    for (let i = 0; i < Math.max(values.length, extras.length); i++) {
      const value = values[i];
      const extra = (extras[i] ?? undefined) as Json | undefined;
      let attrs = typeof extra?.id === 'string' ? ` id="${attr(extra.id)}"` : '';
      if (value !== undefined && value !== null) {
        const key = Array.isArray(raw) ? i : prop.name;
        const text = typeof value === 'number' ? decimalText(valueHolder, key, value) : String(value);
        attrs += ` value="${attr(text)}"`;
      }
      const extensions = Array.isArray(extra?.extension) ? (extra.extension as Json[]) : [];
      if (extensions.length === 0) {
        this.line(depth, `<${prop.name}${attrs}/>`);
        continue;
      }
      this.line(depth, `<${prop.name}${attrs}>`);
      const model = tryTypeModel('Extension') as TypeModel;
      for (const ext of extensions)
        if (ext && typeof ext === 'object') this.element('extension', ext, model, depth + 1);
      this.line(depth, `</${prop.name}>`);
    }
  }
}

function attr(value: string): string {
  return escapeAttribute(value.replace(NOT_XML, ''));
}

/** Serialises a resource as FHIR XML (StructureDefinition element order, `_pretty` indents it). */
export function writeFhirXml(resource: Resource, pretty: boolean): string {
  const writer = new XmlWriter(pretty);
  writer.resource(resource, 0, true);
  return writer.text();
}
