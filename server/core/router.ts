import { loadDefinitions } from '../fhir/definitions.ts';
import { CapabilityRegistry } from './capability-registry.ts';
import { badRequest, methodNotAllowed, notFound } from '../fhir/outcomes.ts';
import { checkRequestText } from './query.ts';
import type { FhirContext, FhirHandler, FhirMethod, FhirRequest, FhirResponse } from './types.ts';

/**
 * How the access guard (server/auth/enforce.ts) judges a route, declared when the route is registered:
 * - `interaction`: one of FHIR's own interactions (INTERACTIONS below), judged by that interaction's rule;
 * - `public`: nothing to check (the CapabilityStatement);
 * - `read`: an operation that only reads what it is called on: read access to the instance (or search access to the
 *   type, at type level), and what it answers is confined like a search (`$everything`, `$events`, `$expand`);
 * - `unrestricted`: an operation that needs every permission on its type, or at system level on every type
 *   (`$reindex`, `$resend`, `Device/[id]/$execute`).
 */
export type RouteAccess = 'interaction' | 'public' | 'read' | 'unrestricted';

const ACCESS_RULES: ReadonlySet<string> = new Set<RouteAccess>(['interaction', 'public', 'read', 'unrestricted']);

/** FHIR's own interactions, whose rules the guard knows by name (`access: 'interaction'`). */
export const INTERACTIONS: ReadonlySet<string> = new Set([
  'transaction',
  'read',
  'vread',
  'update',
  'patch',
  'delete',
  'history-instance',
  'history-type',
  'history-system',
  'create',
  'search-type',
  'search-system',
  'search-compartment',
  'conditional-update',
  'conditional-patch',
  'conditional-delete',
  'validate',
]);

interface Route {
  method: FhirMethod;
  parts: string[];
  interaction: string;
  access: RouteAccess;
  handler: FhirHandler;
}

/** A registered route as /metadata sees it: method, path pattern (`:type/:id/_history`), interaction and access rule. */
export interface RouteInfo {
  method: FhirMethod;
  pattern: string;
  interaction: string;
  access: RouteAccess;
}

/** A request matched to its route: the interaction name (for metrics and audit), its access rule, path parameters. */
export interface RouteMatch {
  interaction: string;
  access: RouteAccess;
  handler: FhirHandler;
  params: Record<string, string>;
}

/**
 * Wraps every dispatched handler (server/auth's access enforcement): it may refuse the request, run the handler with
 * a changed context (e.g. inside a DB transaction) and check or change its response.
 */
export type RouteGuard = (
  ctx: FhirContext,
  req: FhirRequest,
  match: RouteMatch,
  run: (ctx: FhirContext) => Promise<FhirResponse>,
) => Promise<FhirResponse>;

const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * Maps (method, path) to the handler of a FHIR interaction. Patterns use `:type` (a known resource type),
 * `:id`, `:vid` and `:op` (`$name`) segments. Every door (HTTP, Bundle entries, MLLP, MQTT, bots) calls `handle`.
 */
export class FhirRouter {
  private readonly routes: Route[] = [];
  /** What modules add to the CapabilityStatement beyond the routes (search parameters, security…). */
  readonly capabilities = new CapabilityRegistry();

  /** Every registered route, in registration order (the CapabilityStatement is generated from them). */
  listRoutes(): RouteInfo[] {
    return this.routes.map((r) => ({
      method: r.method,
      pattern: r.parts.join('/'),
      interaction: r.interaction,
      access: r.access,
    }));
  }

  private readonly guards: RouteGuard[] = [];

  /**
   * Registers the handler of an interaction for a method and a path pattern such as `:type/:id/_history/:vid`, with
   * the access rule the guard judges it by. A route without a rule the guard knows is refused (an operation the guard
   * cannot judge must not be reachable).
   */
  add(method: FhirMethod, pattern: string, interaction: string, handler: FhirHandler, access: RouteAccess): this {
    if (!ACCESS_RULES.has(access)) {
      throw new Error(`${method} ${pattern}: declare its access rule (${[...ACCESS_RULES].join(', ')})`);
    }
    if (access === 'interaction' && !INTERACTIONS.has(interaction)) {
      throw new Error(`${method} ${pattern}: "${interaction}" is not a FHIR interaction; declare an operation's rule`);
    }
    this.routes.push({ method, parts: pattern === '' ? [] : pattern.split('/'), interaction, access, handler });
    return this;
  }

  /**
   * Finds the route of a request; throws an OutcomeError (400 NUL or a lone surrogate in the path, query or headers,
   * 404 unknown path/type, 405 method) when none fits.
   */
  match(req: FhirRequest): RouteMatch {
    checkRequestText(req);
    const segments = req.path.split('/').filter((s) => s !== '');
    let pathMatched = false;
    for (const route of this.routes) {
      const params = matchPath(route.parts, segments);
      if (!params) continue;
      pathMatched = true;
      if (route.method === req.method) {
        return { interaction: route.interaction, access: route.access, handler: route.handler, params };
      }
    }
    if (pathMatched) throw methodNotAllowed(`${req.method} is not allowed on ${req.path || 'the base'}`);
    throw unknownPath(segments);
  }

  /** Puts a guard around every handler this router dispatches (at startup); the first one added is the outermost. */
  useGuard(guard: RouteGuard): this {
    this.guards.push(guard);
    return this;
  }

  /** Dispatches a request to its handler. */
  async handle(ctx: FhirContext, req: FhirRequest): Promise<FhirResponse> {
    return this.dispatch(ctx, req, this.match(req));
  }

  /** Runs an already matched request through the guard and its handler. */
  async dispatch(ctx: FhirContext, req: FhirRequest, match: RouteMatch): Promise<FhirResponse> {
    const run = this.guards.reduceRight<(c: FhirContext) => Promise<FhirResponse>>(
      (inner, guard) => (c) => guard(c, req, match, inner),
      (c) => match.handler(c, req, match.params),
    );
    return run(ctx);
  }
}

function matchPath(pattern: string[], segments: string[]): Record<string, string> | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    const s = segments[i];
    if (p === ':type') {
      if (!/^[A-Z][A-Za-z]+$/.test(s)) return undefined;
      params.type = s;
    } else if (p === ':op') {
      if (!s.startsWith('$')) return undefined;
      params.op = s.slice(1);
    } else if (p.startsWith(':')) {
      if (s.startsWith('$') || s.startsWith('_')) return undefined;
      params[p.slice(1)] = s;
    } else if (p !== s) {
      return undefined;
    } else if (p.startsWith('$')) {
      params.op = p.slice(1); // a fixed operation (`Patient/:id/$everything`) names itself like `:op` would
    } else if (i === 0 && /^[A-Z]/.test(p)) {
      params.type = p; // a fixed resource type (`Subscription/$resend`) likewise
    }
  }
  return params;
}

function unknownPath(segments: string[]): Error {
  const type = segments[0];
  if (type && /^[A-Z]/.test(type) && !loadDefinitions().resourceTypeSet.has(type)) {
    return notFound(`Unknown resource type "${type}"`);
  }
  return notFound(`No FHIR interaction at "${segments.join('/')}"`);
}

/** Checks the resource type is one the server stores (404 otherwise). */
export function requireResourceType(type: string): void {
  if (!loadDefinitions().resourceTypeSet.has(type)) throw notFound(`Unknown resource type "${type}"`);
}

/** Checks an id has the FHIR id syntax (400 otherwise). */
export function requireValidId(id: string): void {
  if (!ID_PATTERN.test(id)) throw badRequest(`Invalid id "${id}"`, 'id');
}
