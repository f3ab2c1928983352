import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tributary } from '../../app.ts';
import type { Repository } from '../../core/repository.ts';
import { startTestServer } from '../../../test/harness.ts';
import { executeSearch } from '../engine.ts';
import { parseSearch } from '../parse.ts';

/**
 * `Observation?patient=…&code=…` starts from the patient by construction (anchor.ts, issue 15): the plan Postgres
 * chooses is checked (EXPLAIN), not a timing. The data tempts the planner the other way: the code is rarer than the
 * patient's Observations, so from statistics alone starting from the code would look cheaper.
 */
let server: Tributary;
const BIG = 'anchor-big';

beforeAll(async () => {
  server = await startTestServer({ validateWrites: false });
  const obs = (id: string, patient: string, code: string): Resource =>
    ({
      resourceType: 'Observation',
      id,
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code }] },
      subject: { reference: `Patient/${patient}` },
    }) as Resource;
  await server.repo.transaction(async (repo) => {
    for (const id of [BIG, 'anchor-other'])
      await repo.update({ resourceType: 'Patient', id } as Resource & { id: string });
    for (let i = 0; i < 600; i++)
      await repo.update(obs(`anchor-${i}`, BIG, `vital-${i % 3}`) as Resource & { id: string });
    for (let i = 0; i < 300; i++)
      await repo.update(obs(`anchor-o-${i}`, 'anchor-other', `vital-${i % 3}`) as Resource & { id: string });
    await repo.update(obs('anchor-rare-1', BIG, 'rare') as Resource & { id: string });
    await repo.update(obs('anchor-rare-2', 'anchor-other', 'rare') as Resource & { id: string });
  });
  await server.repo.query('ANALYZE', []);
});
afterAll(async () => {
  await server?.close();
});

/** Runs an Observation search in-process; returns the ids found and the statements it ran with their values. */
async function search(query: string): Promise<{ ids: string[]; statements: [string, unknown[]][] }> {
  const statements: [string, unknown[]][] = [];
  const repo = Object.create(server.repo) as Repository;
  repo.query = ((text: string, values: unknown[]) => {
    statements.push([text, values]);
    return server.repo.query(text, values);
  }) as Repository['query'];
  const params: Record<string, string[]> = { _count: ['1000'] };
  for (const [k, v] of new URLSearchParams(query)) (params[k] ??= []).push(v);
  const page = await executeSearch({ repo, baseUrl: server.fhirBase }, parseSearch(['Observation'], params, 'strict'));
  return { ids: page.matches.map((m) => m.id).sort(), statements };
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Parent Relationship'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

/** Every node reading a table, with the parent relationships on the way to it. */
function scans(node: PlanNode, path: string[] = []): { table: string; path: string[]; node: PlanNode }[] {
  const here = [...path, node['Parent Relationship'] ?? 'root'];
  const own = node['Relation Name'] ? [{ table: node['Relation Name'], path: here, node }] : [];
  return [...own, ...(node.Plans ?? []).flatMap((p) => scans(p, here))];
}

async function planOf(query: string): Promise<{ table: string; path: string[]; node: PlanNode }[]> {
  const { statements } = await search(query);
  const [text, values] = statements[0];
  const { rows } = await server.pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
    `EXPLAIN (FORMAT JSON) ${text}`,
    values,
  );
  return scans(rows[0]['QUERY PLAN'][0].Plan);
}

describe('Observation?patient=…&code=…', () => {
  for (const query of [
    `patient=${BIG}&code=rare`,
    `subject=Patient/${BIG}&code=http://loinc.org|rare`,
    `code=rare&subject:Patient=${BIG}`,
  ]) {
    it(`${query}: starts from the patient's index rows; the code is probed per row`, async () => {
      expect((await search(query)).ids).toEqual(['anchor-rare-1']);
      const plan = await planOf(query);
      const reference = plan.filter((s) => s.table === 'sp_reference');
      const token = plan.filter((s) => s.table === 'sp_token');
      const resource = plan.filter((s) => s.table === 'resource');
      // the patient's rids: an InitPlan, computed before anything else
      expect(reference.length).toBeGreaterThan(0);
      for (const r of reference) expect(r.path).toContain('InitPlan');
      // the code: a SubPlan checked on each row, never a join the planner could start from
      expect(token.length).toBeGreaterThan(0);
      for (const t of token) expect(t.path).toContain('SubPlan');
      // the resources are fetched by the anchor's rids
      expect(resource.some((r) => /rid = ANY/.test(r.node['Index Cond'] ?? ''))).toBe(true);
    });
  }

  it('finds the same as without an anchor (a reference that is not to one patient)', async () => {
    const anchored = await search(`patient=${BIG}&code=vital-1`);
    expect(anchored.ids).toHaveLength(200);
    const unanchored = await search(`subject=Patient/${BIG},Patient/none&code=vital-1`);
    expect(unanchored.ids).toEqual(anchored.ids);
    expect(unanchored.statements[0][0]).not.toMatch(/= ANY \(ARRAY/);
  });
});
