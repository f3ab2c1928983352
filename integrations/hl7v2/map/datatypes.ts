import type {
  Address,
  CodeableConcept,
  Coding,
  ContactPoint,
  HumanName,
  Identifier,
  Quantity,
  Reference,
} from '@medplum/fhirtypes';
import type { ResolvedFeed } from '../feeds.ts';
import type { V2Field } from '../parse/message.ts';
import { v2Time } from './dtm.ts';
import { codingSystem, tableSystem } from './vocab.ts';

/** What the datatype conversions need: the feed's identifier systems and time zone, the sending facility. */
export interface DatatypeContext {
  feed: ResolvedFeed;
  /** MSH-4.1, the namespace of identifiers that name no assigning authority. */
  facility: string;
}

/** Drops undefined, empty strings, empty arrays and empty objects (FHIR allows no empty values). */
export function clean<T>(value: T): T | undefined {
  if (typeof value === 'string') return (value.trim() || undefined) as T | undefined;
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) {
    const items = value.map(clean).filter((v) => v !== undefined);
    return (items.length ? items : undefined) as T | undefined;
  }
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const c = clean(v);
      if (c !== undefined) out[k] = c;
    }
    return (Object.keys(out).length ? out : undefined) as T | undefined;
  }
  return value;
}

/**
 * The identifier system of an assigning authority (HD): the feed's table first (by namespace id), then the
 * universal id when it is an OID, UUID or URI, else `urn:tributary:v2:<namespace>` (the sending facility's when the
 * value names none), so identifiers of different authorities never collide.
 */
export function identifierSystem(
  namespace: string,
  universal: string,
  universalType: string,
  ctx: DatatypeContext,
): string {
  const table = ctx.feed.identifierSystems;
  if (namespace && table[namespace]) return table[namespace];
  if (universal) {
    if (/^\d+(\.\d+)+$/.test(universal) && (!universalType || universalType.toUpperCase() === 'ISO'))
      return `urn:oid:${universal}`;
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(universal))
      return `urn:uuid:${universal.toLowerCase()}`;
    if (/^[a-z][a-z0-9+.-]*:/i.test(universal)) return universal;
  }
  if (universal && table[universal]) return table[universal];
  return `urn:tributary:v2:${encodeURIComponent(namespace || universal || ctx.facility || 'local')}`;
}

/** CX → Identifier (value, system from CX-4, type from CX-5, period from CX-7/CX-8). */
export function cxIdentifier(f: V2Field, ctx: DatatypeContext): Identifier | undefined {
  const value = f.get(1);
  if (!value) return undefined;
  const [ns, universal, type] = f.subs(4);
  return clean<Identifier>({
    value,
    system: identifierSystem(ns ?? '', universal ?? '', type ?? '', ctx),
    type: f.get(5) ? { coding: [{ system: tableSystem('0203'), code: f.get(5) }] } : undefined,
    period: { start: v2Time(f.get(7), ctx.feed.timeZone)?.value, end: v2Time(f.get(8), ctx.feed.timeZone)?.value },
  });
}

/**
 * EI (entity identifier: OBR-2/3, ORC-2/3, SCH-1/2…) → Identifier; `type` names the kind (PLAC, FILL). A placer and
 * a filler number in a system of the door's own (no OID, URI or feed table entry) get systems of their own: the two
 * numberings are independent, and the same number in both must not match one resource.
 */
export function eiIdentifier(f: V2Field, ctx: DatatypeContext, type?: string): Identifier | undefined {
  const value = f.get(1);
  if (!value) return undefined;
  const system = identifierSystem(f.get(2), f.get(3), f.get(4), ctx);
  const role = type === 'PLAC' ? ':placer' : type === 'FILL' ? ':filler' : '';
  return clean<Identifier>({
    value,
    system: system.startsWith('urn:tributary:v2:') ? `${system}${role}` : system,
    type: type ? { coding: [{ system: tableSystem('0203'), code: type }] } : undefined,
  });
}

/** XPN → HumanName (family, given and middle names, prefix, suffix and degree, use from XPN-7). */
export function xpnName(f: V2Field): HumanName | undefined {
  const use: Record<string, HumanName['use']> = {
    L: 'official',
    D: 'usual',
    M: 'maiden',
    N: 'nickname',
    A: 'anonymous',
    B: 'official',
    C: 'old',
    S: 'temp',
    U: 'usual',
    P: 'usual',
  };
  return clean<HumanName>({
    family: f.get(1, 1),
    given: [f.get(2), f.get(3)],
    prefix: [f.get(5)],
    suffix: [f.get(4), f.get(6)],
    use: use[f.get(7).toUpperCase()],
  });
}

/** XCN (a person with an id) → its name, and an Identifier when XCN-1 is given. */
export function xcnPerson(f: V2Field, ctx: DatatypeContext): { identifier?: Identifier; name?: HumanName } {
  const id = f.get(1);
  const [ns, universal, type] = f.subs(9);
  return {
    identifier: id
      ? clean<Identifier>({ value: id, system: identifierSystem(ns ?? '', universal ?? '', type ?? '', ctx) })
      : undefined,
    name: clean<HumanName>({
      family: f.get(2, 1),
      given: [f.get(3), f.get(4)],
      suffix: [f.get(5)],
      prefix: [f.get(6)],
    }),
  };
}

/** A display text for a person's name. */
export function nameText(name: HumanName | undefined): string | undefined {
  if (!name) return undefined;
  return (
    [...(name.prefix ?? []), ...(name.given ?? []), name.family, ...(name.suffix ?? [])].filter(Boolean).join(' ') ||
    undefined
  );
}

/** XAD → Address. */
export function xadAddress(f: V2Field): Address | undefined {
  const use: Record<string, Address['use']> = {
    H: 'home',
    B: 'work',
    O: 'work',
    C: 'temp',
    BA: 'billing',
    BI: 'billing',
    M: 'home',
    P: 'home',
  };
  return clean<Address>({
    line: [f.get(1, 1), f.get(2)],
    city: f.get(3),
    state: f.get(4),
    postalCode: f.get(5),
    country: f.get(6),
    use: use[f.get(7).toUpperCase()],
    district: f.get(9),
  });
}

/** XTN → ContactPoint (XTN-1 or the v2.5+ parts; system from XTN-3, use from XTN-2). */
export function xtnContact(f: V2Field): ContactPoint | undefined {
  const equipment = f.get(3).toUpperCase();
  const email = f.get(4);
  const number = f.get(12) || [f.get(5) && `+${f.get(5)}`, f.get(6), f.get(7)].filter(Boolean).join(' ') || f.get(1);
  const system: ContactPoint['system'] =
    equipment === 'INTERNET' || equipment === 'X.400'
      ? 'email'
      : equipment === 'FX'
        ? 'fax'
        : equipment === 'BP'
          ? 'pager'
          : 'phone';
  const use: Record<string, ContactPoint['use']> = {
    PRN: 'home',
    ORN: 'home',
    WPN: 'work',
    VHN: 'home',
    ASN: 'temp',
    EMR: 'home',
    NET: 'home',
    BPN: 'work',
    PRS: 'mobile',
  };
  return clean<ContactPoint>({
    system: email ? 'email' : system,
    value: email || number,
    use: equipment === 'CP' ? 'mobile' : use[f.get(2).toUpperCase()],
  });
}

/** CWE/CE/CNE → CodeableConcept: the identifier triplet and the alternate one, text from the original text or text. */
export function cweConcept(f: V2Field, defaultTable?: string): CodeableConcept | undefined {
  const coding = (code: string, display: string, system: string): Coding | undefined =>
    code
      ? clean<Coding>({
          code,
          display,
          system: codingSystem(system) ?? (defaultTable && !system ? tableSystem(defaultTable) : undefined),
        })
      : undefined;
  const codings = [coding(f.get(1), f.get(2), f.get(3)), coding(f.get(4), f.get(5), f.get(6))].filter(
    (c): c is Coding => !!c,
  );
  return clean<CodeableConcept>({
    coding: codings,
    text: f.get(9) || (codings.length ? undefined : f.get(2) || f.get(1)),
  });
}

/** A Coding in a v2 table's system (IS/ID values: PV1-2, PID-8…). */
export function tableCoding(code: string, table: string): Coding | undefined {
  return code ? { system: tableSystem(table), code } : undefined;
}

/** A number with a unit (CWE: UCUM code or text) → Quantity. */
export function quantity(value: string, unit: V2Field | undefined): Quantity | undefined {
  const n = value.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(n)) return undefined;
  const code = unit?.get(1);
  const named = unit ? codingSystem(unit.get(3)) : undefined;
  // A bare unit that looks like UCUM is taken as UCUM; a code without any system is left out (qty-3).
  const system =
    named ?? (code && /^[\w/.%{}[\]*^-]+$/.test(code) && !unit?.get(3) ? 'http://unitsofmeasure.org' : undefined);
  return clean<Quantity>({ value: Number(n), unit: unit?.get(2) || code, system, code: system ? code : undefined });
}

/** A Reference with a display only (a person named without an identifier, a place). */
export function displayReference(display: string | undefined): Reference | undefined {
  return display ? { display } : undefined;
}
