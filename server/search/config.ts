import { intEnv } from '../env.ts';

/**
 * Limits that keep one search from taking the database down (README: configuration table, conformance notes).
 * `0` turns a limit off.
 */
export interface SearchConfig {
  /** Longest a search request may run, in ms: each statement in Postgres (`statement_timeout`) and the whole request. */
  timeoutMs: number;
  /** Connections of the pool searches run on (their own, beside the store's). */
  poolSize: number;
  /** Longest query (parameter names and values, as in the URL or a `_search` form body), in characters. */
  maxQueryLength: number;
  /** Most parameters (name=value pairs) in one query. */
  maxParameters: number;
  /** Most values of one search parameter: comma-separated ORs and repeated ANDs together. */
  maxValues: number;
  /** Most chain links (`a.b.c`) in one parameter. */
  maxChainDepth: number;
  /** Most nested `_has` in one parameter. */
  maxHasDepth: number;
  /** Most resource-type branches the chains and `_has` of a query expand to, over every link. */
  maxChainTargets: number;
  /** Most `_sort` keys. */
  maxSortKeys: number;
}

/** Reads the search settings. */
export function loadSearchConfig(env: NodeJS.ProcessEnv): SearchConfig {
  return {
    timeoutMs: intEnv(env, 'SEARCH_TIMEOUT_MS', 5_000),
    poolSize: intEnv(env, 'SEARCH_POOL_SIZE', intEnv(env, 'DB_POOL_SIZE', 10)) || 1,
    maxQueryLength: intEnv(env, 'SEARCH_MAX_QUERY_LENGTH', 8_192),
    maxParameters: intEnv(env, 'SEARCH_MAX_PARAMETERS', 50),
    maxValues: intEnv(env, 'SEARCH_MAX_VALUES', 100),
    maxChainDepth: intEnv(env, 'SEARCH_MAX_CHAIN_DEPTH', 3),
    maxHasDepth: intEnv(env, 'SEARCH_MAX_HAS_DEPTH', 3),
    maxChainTargets: intEnv(env, 'SEARCH_MAX_CHAIN_TARGETS', 128),
    maxSortKeys: intEnv(env, 'SEARCH_MAX_SORT_KEYS', 5),
  };
}

/**
 * The settings in force. One server per process in production; `startSearchServices` installs the configured ones
 * (vitest gives each test file its own module state, so a test's server may use other limits).
 */
let current = loadSearchConfig(process.env);

/** The search settings in force. */
export function searchConfig(): SearchConfig {
  return current;
}

/** Installs the search settings (server/search/services.ts, at start). */
export function useSearchConfig(config: SearchConfig): void {
  current = config;
}
