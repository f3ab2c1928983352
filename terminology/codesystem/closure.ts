/**
 * The transitive closure of a parent graph: for each node, its ancestors with itself. Iterative (hierarchies such as
 * SNOMED CT are deep enough to overflow a recursive walk) and robust to cycles, which some published code systems
 * have: an edge that closes a cycle is ignored.
 */
export function ancestorClosure(parents: readonly (readonly number[])[]): number[][] {
  const n = parents.length;
  const result: number[][] = new Array(n);
  const state = new Uint8Array(n); // 0 unseen, 1 on the stack, 2 done
  const stack: number[] = [];
  for (let root = 0; root < n; root++) {
    if (state[root] === 2) continue;
    stack.push(root);
    while (stack.length > 0) {
      const node = stack[stack.length - 1];
      if (state[node] === 0) {
        state[node] = 1;
        for (const p of parents[node]) if (state[p] === 0) stack.push(p);
        continue;
      }
      stack.pop();
      if (state[node] === 2) continue;
      result[node] = merge(node, parents[node], result);
      state[node] = 2;
    }
  }
  return result;
}

function merge(node: number, direct: readonly number[], done: number[][]): number[] {
  if (direct.length === 0) return [node];
  if (direct.length === 1 && done[direct[0]]) return [...done[direct[0]], node];
  const all = new Set<number>();
  for (const p of direct) for (const a of done[p] ?? []) all.add(a); // a parent still on the stack closes a cycle
  all.add(node);
  return [...all];
}
