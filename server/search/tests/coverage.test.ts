import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import { startTestServer } from '../../../test/harness.ts';
import { loadDefinitions } from '../../fhir/definitions.ts';
import type { FhirContext } from '../../core/types.ts';
import { searchCapabilities } from '../capabilities.ts';
import { searchParam, type TypedParam } from '../../fhir/search-params/registry.ts';
import { sampleFor, type ParamSample } from './param-samples.ts';

/**
 * Every search parameter the CapabilityStatement advertises, for every resource type, is exercised: a generated
 * resource carries a value at the parameter's expression, a search by that value finds it and a search by another
 * value does not (strict handling, so an ignored parameter fails). Prints the coverage; fails under 100%.
 */
let server: Tributary;
beforeAll(async () => {
  server = await startTestServer({ validateWrites: false });
});
afterAll(async () => {
  await server?.close();
});

async function search(ctx: FhirContext, type: string, query: Record<string, string[]>): Promise<string[]> {
  const res = await server.router.handle(ctx, {
    method: 'GET',
    path: type,
    query,
    headers: { preferHandling: 'strict' },
  });
  const bundle = JSON.parse(res.content as string);
  return (bundle.entry ?? []).map((e: { resource: Resource }) => e.resource.id);
}

/** Samples for the parameters the engine answers itself. */
function engineSample(
  type: string,
  code: string,
  id: string,
): (ParamSample & { extra?: Resource[]; name?: string }) | undefined {
  const base = { resourceType: type } as Resource;
  switch (code) {
    case '_id':
      return { resource: base, match: id, miss: 'not-this-one' };
    case '_lastUpdated':
      return { resource: base, match: 'gt2000-01-01', miss: 'lt2000-01-01' };
    case '_text':
    case '_content':
      return {
        resource: {
          ...base,
          text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">alpha narrative</div>' },
        } as Resource,
        match: 'alpha',
        miss: 'zulu',
      };
    case '_list':
      return {
        resource: base,
        match: `list-${id}`,
        miss: 'no-such-list',
        extra: [
          {
            resourceType: 'List',
            id: `list-${id}`,
            status: 'current',
            mode: 'working',
            entry: [{ item: { reference: `${type}/${id}` } }],
          } as Resource,
        ],
      };
    case '_has': {
      // The first reference parameter of any type whose sample holds a Reference to this type.
      for (const candidate of searchCapabilities(type).searchRevInclude) {
        const [source, ref] = candidate.split(':');
        const sample = sampleFor(source, { ...(searchParam(source, ref) as TypedParam), target: [type] });
        if (!sample || !JSON.stringify(sample.resource).includes(`"reference":"${type}/sample-1"`)) continue;
        return {
          resource: base,
          name: `_has:${source}:${ref}:_id`,
          match: `has-${id}`,
          miss: 'no-such-resource',
          extra: [
            {
              ...JSON.parse(JSON.stringify(sample.resource).replace(`${type}/sample-1`, `${type}/${id}`)),
              id: `has-${id}`,
            },
          ],
        };
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

describe('every advertised search parameter', () => {
  it('finds a resource by each parameter and misses it with another value', async () => {
    const ctx: FhirContext = {
      repo: server.repo,
      baseUrl: 'http://localhost/fhir',
      requestId: 'coverage',
      access: { kind: 'system' },
    };
    let advertised = 0;
    let covered = 0;
    const failures: string[] = [];
    const checks: { type: string; id: string; name: string; sample: ParamSample }[] = [];
    const writes: Resource[] = [];
    let n = 0;
    for (const type of loadDefinitions().resourceTypes) {
      for (const { name } of searchCapabilities(type).searchParam) {
        advertised++;
        const id = `cov-${++n}`;
        const param = searchParam(type, name);
        const sample = engineSample(type, name, id) ?? (param ? sampleFor(type, param) : undefined);
        if (!sample) {
          failures.push(`${type}.${name}: no sample value could be generated`);
          continue;
        }
        writes.push(...((sample as { extra?: Resource[] }).extra ?? []), { ...sample.resource, id } as Resource);
        checks.push({ type, id, name: (sample as { name?: string }).name ?? name, sample });
      }
    }
    await server.repo.transaction(async (tx) => {
      for (const r of writes) await tx.update(r as Resource & { id: string });
    });
    for (const { type, id, name, sample } of checks) {
      try {
        const only = (value: string) => (name === '_id' ? { _id: [value] } : { [name]: [value], _id: [id] });
        const hit = await search(ctx, type, only(sample.match));
        const miss = await search(ctx, type, only(sample.miss));
        if (hit.length === 1 && miss.length === 0) covered++;
        else failures.push(`${type}?${name}=${sample.match} found ${hit.length}, =${sample.miss} found ${miss.length}`);
      } catch (err) {
        failures.push(`${type}?${name}=${sample.match}: ${(err as Error).message}`);
      }
    }
    console.log(`search parameter coverage: ${covered}/${advertised} (${((100 * covered) / advertised).toFixed(1)}%)`);
    if (failures.length) console.log(failures.join('\n'));
    expect(failures).toEqual([]);
    expect(covered).toBe(advertised);
  }, 180_000);
});
