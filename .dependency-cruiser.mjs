/**
 * The layers of src/, top to bottom (docs/architecture.md). A module may import its own folder and
 * the layers below its own, never a layer above it nor another folder of its own layer. Each entry
 * is a folder of src/ or a file directly in it. The rules below are generated from this list;
 * test/architecture/layers.test.ts runs them (and checks that every entry of src/ is listed).
 */
export const LAYERS = [
  ['cli', 'index.ts'],
  ['demo'],
  ['sandbox'],
  ['doctor', 'report', 'upgrade'],
  ['schedule'],
  ['fleet'],
  ['migrate'],
  ['backup'],
  ['restore'],
  ['config'],
  ['offsite'],
  ['archive'],
  ['pg'],
  ['services'],
  ['jobs'],
  ['artifacts'],
  ['system'],
  ['security', 'format'],
  ['errors.ts', 'version.ts', 'file-system.ts', 'types'],
];

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The path pattern of a LAYERS entry: a folder and everything in it, or one file. */
const pathOf = (entry) => (entry.endsWith('.ts') ? `${escape(entry)}$` : `${escape(entry)}/`);
const anyOf = (entries) => `^src/(?:${entries.map(pathOf).join('|')})`;

/** One rule per entry: it may not import the layers above it, nor the other entries of its layer. */
function layerRules(layers) {
  return layers.flatMap((layer, index) =>
    layer.map((entry) => {
      const above = layers.slice(0, index).flat();
      const siblings = layer.filter((other) => other !== entry);
      const forbidden = [...above, ...siblings];
      return {
        name: `layer-${entry}`,
        comment: `src/${entry} is in layer ${index + 1} of ${layers.length}: it may import only itself and the layers below it (${forbidden.length > 0 ? `not ${forbidden.join(', ')}` : 'anything'}).`,
        severity: 'error',
        from: { path: `^src/${pathOf(entry)}` },
        to: { path: forbidden.length > 0 ? anyOf(forbidden) : '$^' },
      };
    }),
  );
}

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...layerRules(LAYERS),
    {
      name: 'no-circular',
      comment: 'Modules that import each other (type-only imports included) cannot be read, tested or layered one at a time.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to no file: a typo, a moved module, or a package missing from package.json.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Type-only imports count: a cycle through types is a cycle of the design.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
  },
};
