import { XMLParser, XMLValidator } from 'fast-xml-parser';

/*
 * The narrative's XHTML rules (R4 narrative.html): the div must be well-formed XHTML rooted at a `div` in the XHTML
 * namespace (else the content is not FHIR: 400), and the invariants txt-1 (only the basic HTML 4 formatting elements
 * and attributes, links, images and inline styles: no scripts, forms, frames, objects or event attributes) and txt-2
 * (some non-whitespace content). Both invariants read `htmlChecks()`, which FHIRPath engines (@medplum/core's too)
 * answer with true; the element and attribute lists are those of the HL7 validator. Written here because no library
 * checks FHIR's XHTML subset; fast-xml-parser (already used for FHIR XML) does the parsing.
 */

const XHTML_NS = 'http://www.w3.org/1999/xhtml';

/** Elements txt-1 allows (HTML 4 chapters 7–11 and 15, links and images). */
const ELEMENTS = new Set(
  (
    'p br div h1 h2 h3 h4 h5 h6 a span b em i strong small big tt dfn q var abbr acronym cite blockquote hr address bdo kbd ' +
    'sub sup ul ol li dl dt dd pre table caption colgroup col thead tr tfoot tbody th td code samp img map area'
  ).split(' '),
);

/** Attributes allowed on any element (core, i18n, table layout). */
const ATTRIBUTES = new Set(
  'title style class id lang xml:lang dir accesskey tabindex span width align valign char charoff abbr axis headers scope rowspan colspan'.split(
    ' ',
  ),
);

/** Attributes allowed on one element only. */
const ELEMENT_ATTRIBUTES = new Set(
  (
    'a.href a.name a.charset a.type a.hreflang a.rel a.rev a.shape a.coords img.src img.border img.alt img.longdesc ' +
    'img.height img.width img.usemap img.ismap map.name area.shape area.coords area.href area.nohref area.alt ' +
    'blockquote.cite q.cite table.summary table.width table.border table.frame table.rules table.cellspacing ' +
    'table.cellpadding pre.space td.nowrap'
  ).split(' '),
);

/** Attributes holding a URL, whose scheme must not run script. */
const URL_ATTRIBUTES = new Set(['href', 'src', 'cite', 'longdesc', 'usemap']);

/** URL schemes that run script in a browser; `data:` only for raster images in `img src`. */
const SCRIPT_SCHEMES = new Set(['javascript', 'vbscript', 'livescript', 'data']);
const RASTER_DATA = /^data:image\/(?:png|gif|jpeg|jpg|webp|bmp);/;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  htmlEntities: true,
  maxNestedTags: 200,
});

type XmlNode = Record<string, unknown>;

interface ParsedDiv {
  /** Why the text is not well-formed XHTML rooted at an XHTML div. */
  error?: string;
  root?: XmlNode;
}

/** The last div parsed: its checks (well-formedness, txt-1, txt-2) run one after the other on the same text. */
let last: { div: string; parsed: ParsedDiv } | undefined;

function parse(div: string): ParsedDiv {
  if (last?.div === div) return last.parsed;
  const parsed = parseDiv(div);
  last = { div, parsed };
  return parsed;
}

function parseDiv(div: string): ParsedDiv {
  if (/<!DOCTYPE/i.test(div)) return { error: 'a DOCTYPE is not allowed in a narrative' };
  if (/<\?/.test(div)) return { error: 'processing instructions are not allowed in a narrative' };
  const valid = XMLValidator.validate(div);
  if (valid !== true) return { error: `not well-formed XHTML: ${valid.err.msg}` };
  let nodes: XmlNode[];
  try {
    nodes = parser.parse(div) as XmlNode[];
  } catch (err) {
    return { error: `not well-formed XHTML: ${(err as Error).message}` };
  }
  const elements = nodes.filter((n) => nameOf(n) !== '#text' || /\S/.test(String(n['#text'])));
  const root = elements[0];
  if (elements.length !== 1 || nameOf(root) !== 'div') return { error: 'the narrative must be one <div> element' };
  if (attributesOf(root).xmlns !== XHTML_NS)
    return { error: `the narrative <div> must be in the XHTML namespace (xmlns="${XHTML_NS}")` };
  return { root };
}

/** The narrative's structural problem (not well-formed, not an XHTML div), or undefined. */
export function xhtmlProblem(div: string): string | undefined {
  return parse(div).error;
}

/** txt-1: the first element or attribute outside the allowed XHTML subset, or script in a URL; undefined when fine. */
export function txt1Problem(div: string): string | undefined {
  const { root } = parse(div);
  return root && subsetProblem(root);
}

/** txt-2: undefined when the narrative has non-whitespace text (or an image), else the problem. */
export function txt2Problem(div: string): string | undefined {
  const { root } = parse(div);
  return root && !hasContent(root) ? 'the narrative has no content' : undefined;
}

function subsetProblem(node: XmlNode): string | undefined {
  const name = nameOf(node);
  if (name === '#text') return undefined;
  if (!ELEMENTS.has(name)) return `<${name}> is not allowed`;
  for (const [attr, value] of Object.entries(attributesOf(node))) {
    if (attr === 'xmlns' || attr.startsWith('xmlns:')) {
      if (value !== XHTML_NS) return `<${name}> declares a namespace other than XHTML`;
      continue;
    }
    if (!ATTRIBUTES.has(attr) && !ELEMENT_ATTRIBUTES.has(`${name}.${attr}`))
      return `attribute ${attr} is not allowed on <${name}>`;
    if (URL_ATTRIBUTES.has(attr) && runsScript(value, name === 'img' && attr === 'src'))
      return `<${name} ${attr}> must not hold a script URL`;
    if (attr === 'style' && /expression\(|javascript:|vbscript:/.test(value.toLowerCase().replace(/[\s\\]/g, ''))) {
      return `the style of <${name}> must not run script`;
    }
  }
  for (const child of childrenOf(node)) {
    const problem = subsetProblem(child);
    if (problem) return problem;
  }
  return undefined;
}

/** Whether a URL's scheme runs script. Browsers drop control characters and spaces around and inside the scheme. */
function runsScript(url: string, image: boolean): boolean {
  const compact = url.replace(/[\u0000-\u0020\u007f]/g, '').toLowerCase();
  const scheme = /^([a-z][a-z0-9+.-]*):/.exec(compact)?.[1];
  if (!scheme || !SCRIPT_SCHEMES.has(scheme)) return false;
  return !(scheme === 'data' && image && RASTER_DATA.test(compact));
}

function hasContent(node: XmlNode): boolean {
  const name = nameOf(node);
  if (name === '#text') return /\S/.test(String(node['#text']));
  return name === 'img' || childrenOf(node).some(hasContent);
}

function nameOf(node: XmlNode): string {
  for (const key in node) if (key !== ':@') return key;
  return '';
}

function attributesOf(node: XmlNode): Record<string, string> {
  return (node[':@'] as Record<string, string> | undefined) ?? {};
}

function childrenOf(node: XmlNode): XmlNode[] {
  const value = node[nameOf(node)];
  return Array.isArray(value) ? (value as XmlNode[]) : [];
}
