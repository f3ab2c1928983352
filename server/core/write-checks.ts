import type { Resource } from '@medplum/fhirtypes';
import type { Repository, WriteMethod } from './repository.ts';

/** Where a write check runs: inside the write's own database transaction. */
export interface WriteCheckContext {
  /** The write's transaction: what the check reads sees the transaction's earlier writes; what it writes commits with it. */
  repo: Repository;
  method: WriteMethod;
}

/**
 * Runs on a write before it is stored, inside its transaction: throws an OutcomeError to veto it (nothing of the
 * write, nor of its transaction, is kept), or returns the resource to store instead (e.g. a requested Subscription
 * made active); returning nothing stores it as it is.
 */
export type WriteCheck = (resource: Resource, ctx: WriteCheckContext) => Resource | void | Promise<Resource | void>;

interface Registered {
  name: string;
  types?: ReadonlySet<string>;
  check: WriteCheck;
}

/**
 * The write checks of a server, in the order modules registered them (validation first, then modules' rules such as
 * a Subscription's or a prescription's hard stop). The store runs `run` on every create, update and patch, whichever
 * door it came through.
 */
export class WriteChecks {
  private readonly checks: Registered[] = [];

  /** Adds a check, for every resource type or only `options.types`. Names must be unique. */
  add(name: string, check: WriteCheck, options: { types?: string[] } = {}): this {
    if (this.checks.some((c) => c.name === name)) throw new Error(`a write check named "${name}" is registered`);
    this.checks.push({ name, check, types: options.types ? new Set(options.types) : undefined });
    return this;
  }

  /** The names of the registered checks, in the order they run. */
  names(): string[] {
    return this.checks.map((c) => c.name);
  }

  /** Runs every check that applies to the resource's type; each sees what the one before returned. */
  readonly run: WriteCheck = async (resource, ctx) => {
    let current = resource;
    for (const { types, check } of this.checks) {
      if (types && !types.has(current.resourceType)) continue;
      current = (await check(current, ctx)) ?? current;
    }
    return current;
  };
}
