import { loadDefinitions } from '../fhir/definitions.ts';
import { CapabilityRegistry } from './capability-registry.ts';
import { badRequest, methodNotAllowed, notFound } from '../fhir/outcomes.ts';
import { checkRequestText } from './query.ts';
import type { FhirContext, FhirHandler, FhirMethod, FhirRequest, FhirResponse } from './types.ts';

interface Route {
  method: FhirMethod;
  parts: string[];
  interaction: string;
  handler: FhirHandler;
}

/** A registered route as /metadata sees it: method, path pattern (`:type/:id/_history`) and interaction name. */
export interface RouteInfo {
  method: FhirMethod;
  pattern: string;
  interaction: string;
}

/** A request matched to its route: the interaction name (for metrics and audit) and path parameters. */
export interface RouteMatch {
  interaction: string;
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
    return this.routes.map((r) => ({ method: r.method, pattern: r.parts.join('/'), interaction: r.interaction }));
  }

  private readonly guards: RouteGuard[] = [];

  /** Registers the handler of an interaction for a method and a path pattern such as `:type/:id/_history/:vid`. */
  add(method: FhirMethod, pattern: string, interaction: string, handler: FhirHandler): this {
    this.routes.push({ method, parts: pattern === '' ? [] : pattern.split('/'), interaction, handler });
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
      if (route.method === req.method) return { interaction: route.interaction, handler: route.handler, params };
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
