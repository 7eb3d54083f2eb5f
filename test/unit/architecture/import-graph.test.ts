// Dependencies point one way: the import graph of src/ and dev/ against the "Import direction"
// table of docs/architecture.md (the one definition of the rule). TypeScript refuses neither
// cycles nor reaches into another folder, so this test is what holds the layering.
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../dev/localcluster/paths.ts';
import {
  forbiddenEdges,
  importsOfText,
  packageGroupsOf,
  parseLayerRules,
  readImportGraph,
  unitsOnDisk,
  type ImportEdge,
} from '../../support/import-graph.ts';

const DIRS = ['src', 'dev'] as const;
const rules = parseLayerRules(readFileSync(join(REPO_ROOT, 'docs/architecture.md'), 'utf8'));
const packages = packageGroupsOf(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as object);

describe('import direction (docs/architecture.md, the table is the rule)', () => {
  it('has exactly one row for every folder and top-level file of src/ and dev/', () => {
    const onDisk = unitsOnDisk(REPO_ROOT, DIRS).sort();
    const inTable = rules.map((r) => r.unit).sort();
    expect(inTable, 'a unit listed twice').to.deep.equal([...new Set(inTable)]);
    expect(inTable, 'rows of the Import direction table vs. folders on disk').to.deep.equal(onDisk);
  });

  it('names only units, trees or modules that exist in its "may import" column', () => {
    const units = new Set(rules.map((r) => r.unit));
    const unknown = rules.flatMap((r) => r.mayImport.filter((a) => {
      if (a.endsWith('/*')) return !DIRS.includes(a.slice(0, -2) as (typeof DIRS)[number]);
      if (a.endsWith('.ts') && a.split('/').length > 2) return !existsSync(join(REPO_ROOT, a));
      return !units.has(a);
    }).map((a) => `${r.unit} → ${a}`));
    expect(unknown).to.deep.equal([]);
  });

  it('the product and the dev tools import only what their row allows', () => {
    const edges = readImportGraph(REPO_ROOT, DIRS);
    expect(edges.length, 'the reader found the imports').to.be.greaterThan(500);
    expect(forbiddenEdges(edges, rules, packages)).to.deep.equal([]);
  });

  it('the graph contains the dynamic imports of the command runner', () => {
    const edges = readImportGraph(REPO_ROOT, ['src']);
    const dynamic = edges.filter((e) => e.kind === 'dynamic' && e.from === 'src/cli/commands.ts').map((e) => e.target);
    expect(dynamic).to.include('src/cli/explain-command.ts');
  });
});

describe('import-graph checker (it can fail)', () => {
  const edge = (from: string, specifier: string, kind: ImportEdge['kind'] = 'static'): ImportEdge[] =>
    importsOfText(from, kind === 'dynamic' ? `await import('${specifier}');` : `import { x } from '${specifier}';`);

  it('reads static, type-only, re-export, dynamic and import-type forms, and flags a computed import()', () => {
    const text = [
      "import { a } from './a.ts';",
      "import type { B } from '../kube/b.ts';",
      "export { c } from '../api/c.ts';",
      "export * from './d.ts';",
      "const m = await import('../webhook/e.ts');",
      "type F = import('../../dev/f.ts').F;",
      "const g = await import(name);",
      "import '@kubernetes/client-node/dist/x.js';",
    ].join('\n');
    const got = importsOfText('src/controller/z.ts', text).map((e) => [e.kind, e.target]);
    expect(got).to.deep.equal([
      ['static', 'src/controller/a.ts'],
      ['static', 'src/kube/b.ts'],
      ['static', 'src/api/c.ts'],
      ['static', 'src/controller/d.ts'],
      ['dynamic', 'src/webhook/e.ts'],
      ['type-query', 'dev/f.ts'],
      ['dynamic', undefined],
      ['static', '@kubernetes/client-node'],
    ]);
  });

  it('reports each kind of forbidden edge, naming the file, line and the rule', () => {
    const bad = [
      ...edge('src/controller/m.ts', '../webhook/vmim-admission.ts'),
      ...edge('src/webhook/m.ts', '../controller/decision.ts'),
      ...edge('src/kube/m.ts', '../api/validation.ts'),
      ...edge('src/agent/m.ts', '../../dev/fakes/sysfs/fake-tree.ts', 'dynamic'),
      ...edge('src/api/m.ts', 'chai'),
      ...importsOfText('src/cli/m.ts', 'await import(`./${name}.ts`);'),
      ...edge('src/newfolder/m.ts', '../api/index.ts'),
    ];
    const found = forbiddenEdges(bad, rules, packages);
    expect(found).to.have.length(bad.length);
    expect(found[0]).to.match(/^src\/controller\/m\.ts:1: src\/controller may not import src\/webhook\/vmim-admission\.ts/);
    expect(found[1]).to.contain('src/webhook may not import src/controller/decision.ts');
    expect(found[2]).to.contain('src/kube may not import src/api/validation.ts');
    expect(found[3]).to.contain('src/agent may not import dev/fakes/sysfs/fake-tree.ts');
    expect(found[4]).to.contain('may not import the package chai');
    expect(found[5]).to.contain('cannot be checked');
    expect(found[6]).to.contain('src/newfolder has no row');
  });

  it('allows what the table allows: the webhook through services.ts, dev through src/*, Node built-ins', () => {
    const ok = [
      ...edge('src/webhook/m.ts', '../controller/services.ts'),
      ...edge('dev/demo/m.ts', '../../src/cli/output/table.ts'),
      ...edge('dev/cli.ts', './localcluster/index.ts'),
      ...edge('src/kube/m.ts', 'node:fs'),
      ...edge('src/kube/m.ts', '@kubernetes/client-node'),
      ...edge('dev/fakes/m.ts', 'fast-check'),
    ];
    expect(forbiddenEdges(ok, rules, packages)).to.deep.equal([]);
  });
});
