/**
 * The layering of Tributary (README, Architecture): each group may import only from the groups below it (and from its
 * own folder), never from a group above, never across folders of the same group (the composition root at the top
 * excepted), and no module may take part in an import cycle. `npm run lint` runs it; test/layering.test.ts shows it fails on a wrong import.
 */
const LAYERS = [
  ['server/fhir', 'server/project.ts', 'server/env.ts'],
  ['server/core'],
  ['server/db', 'server/store', 'server/jobs'],
  ['terminology', 'server/inbox', 'server/http', 'server/scheduling'],
  ['server/search'],
  ['server/validation'],
  ['server/rest', 'server/auth'],
  ['server/subscriptions'],
  ['server/host'],
  ['bots', 'integrations', 'cli'],
  ['server/app.ts', 'server/config.ts', 'server/main.ts', 'server/doors.ts'],
];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** A path pattern of a layer member: a folder (everything under it) or one file. */
const pattern = (member) => (member.endsWith('.ts') ? `^${escape(member)}$` : `^${escape(member)}/`);

const forbidden = [
  {
    name: 'no-cycles',
    comment: 'Modules must not import each other in a loop.',
    severity: 'error',
    from: {},
    to: { circular: true },
  },
];
LAYERS.forEach((group, level) => {
  const above = LAYERS.slice(level + 1).flat();
  for (const member of group) {
    if (above.length > 0) {
      forbidden.push({
        name: `layer:${member}`,
        comment: `${member} may not import from a higher layer (${above.join(', ')}).`,
        severity: 'error',
        from: { path: pattern(member) },
        to: { path: above.map(pattern) },
      });
    }
    // the composition root (the top group) is one unit: its files may import each other
    const siblings = level === LAYERS.length - 1 ? [] : group.filter((m) => m !== member);
    if (siblings.length > 0) {
      forbidden.push({
        name: `layer-sibling:${member}`,
        comment: `${member} may not import its sibling layer members (${siblings.join(', ')}).`,
        severity: 'error',
        from: { path: pattern(member) },
        to: { path: siblings.map(pattern) },
      });
    }
  }
});

module.exports = {
  // (LAYERS is kept out of the exported configuration: dependency-cruiser refuses unknown keys)
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: {
      path: ['node_modules', '(^|/)dist/', '\\.test\\.ts$', '(^|/)tests/', '^test/', '^bench/', '^migrations/'],
    },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.json'] },
  },
};
