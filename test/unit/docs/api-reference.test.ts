import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCrd } from '../../../src/api/crd/render.ts';
import type { JsonSchema } from '../../../src/api/crd/structural.ts';
import { KINDS, type KindName } from '../../../src/api/v1alpha1/index.ts';
import { API_REFERENCE_PATH, celRows, fieldRows, renderApiReference, staleness, typeName } from '../../../scripts/gen-api-docs.ts';

type Rule = { rule: string; message?: string };

function openApi(kind: KindName): JsonSchema {
  return (buildCrd(kind).spec as { versions: { schema: { openAPIV3Schema: JsonSchema } }[] }).versions[0]!.schema.openAPIV3Schema;
}

/** Every field path under spec and status, walked independently of the generator. */
function schemaPaths(kind: KindName): Map<string, { node: JsonSchema; required: boolean }> {
  const out = new Map<string, { node: JsonSchema; required: boolean }>();
  const walk = (node: JsonSchema, path: string, required: boolean) => {
    out.set(path, { node, required });
    const holder = node.type === 'array' ? (node.items as JsonSchema) : node;
    const prefix = node.type === 'array' ? `${path}[]` : path;
    const req = new Set((holder.required ?? []) as string[]);
    for (const [name, child] of Object.entries((holder.properties ?? {}) as Record<string, JsonSchema>)) walk(child, `${prefix}.${name}`, req.has(name));
  };
  const root = openApi(kind);
  const props = root.properties as Record<string, JsonSchema>;
  const req = new Set(root.required as string[]);
  walk(props.spec!, 'spec', req.has('spec'));
  walk(props.status!, 'status', req.has('status'));
  return out;
}

function allRules(node: JsonSchema, visit: (r: Rule) => void): void {
  for (const r of (node['x-kubernetes-validations'] ?? []) as Rule[]) visit(r);
  for (const child of Object.values((node.properties ?? {}) as Record<string, JsonSchema>)) allRules(child, visit);
  if (node.items) allRules(node.items as JsonSchema, visit);
}

/** Cells of a GFM table row: split on pipes that are not escaped. */
function cells(line: string): string[] {
  return line.trim().replace(/^\|/, '').replace(/\|$/, '').split(/(?<!\\)\|/);
}

function run(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['scripts/gen-api-docs.ts', ...args], (err, _stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
}

describe('API reference (scripts/gen-api-docs.ts)', () => {
  it('docs/api-reference.md is exactly what the generator writes (run node scripts/gen-api-docs.ts)', () => {
    expect(readFileSync(API_REFERENCE_PATH, 'utf8'), 'docs/api-reference.md is stale: run node scripts/gen-api-docs.ts').to.equal(renderApiReference());
    expect(staleness()).to.equal(undefined);
  });

  it('reports a stale or missing reference, naming the command that fixes it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'api-docs-'));
    try {
      const stale = join(dir, 'api-reference.md');
      writeFileSync(stale, renderApiReference().replace('vmiName', 'vmName'));
      expect(staleness(stale)).to.match(/out of date: run node scripts\/gen-api-docs\.ts/);
      expect(staleness(join(dir, 'absent.md'))).to.match(/is missing: run node scripts\/gen-api-docs\.ts/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const kind of KINDS) {
    it(`${kind}: one row per schema field, with its type, required flag, default and description`, () => {
      const expected = schemaPaths(kind);
      const rows = fieldRows(kind);
      expect(rows.map((r) => r.path)).to.deep.equal([...expected.keys()]);
      for (const row of rows) {
        const { node, required } = expected.get(row.path)!;
        expect(row.required, row.path).to.equal(required);
        expect(row.description, row.path).to.equal(node.description);
        expect(row.type, row.path).to.equal(typeName(node));
        expect(row.default, row.path).to.deep.equal(node.default);
      }
    });

    it(`${kind}: every CEL rule and message appears in the document`, () => {
      const doc = renderApiReference();
      const rules: Rule[] = [];
      allRules(openApi(kind), (r) => rules.push(r));
      expect(rules.length, `${kind} has CEL rules`).to.be.greaterThan(0);
      const listed = celRows(kind).map((r) => r.rule);
      for (const r of rules) {
        // Immutability rules are shown as "immutable" on their field, not listed one by one.
        if (r.rule === 'self == oldSelf') continue;
        expect(listed, `${kind}: ${r.rule}`).to.include(r.rule);
        if (r.message) expect(doc, `${kind}: message of ${r.rule}`).to.include(r.message.replaceAll('<', '&lt;'));
      }
    });

    it(`${kind}: every printer column and the short name are documented`, () => {
      const doc = renderApiReference();
      const spec = buildCrd(kind).spec as { names: { shortNames: string[] }; versions: { additionalPrinterColumns: { name: string; jsonPath: string }[] }[] };
      const section = doc.slice(doc.indexOf(`## ${kind}\n`));
      expect(section).to.include(`| Short name | \`${spec.names.shortNames[0]}\` |`);
      for (const c of spec.versions[0]!.additionalPrinterColumns) expect(section).to.include(`| ${c.name.toUpperCase()} | \`${c.jsonPath}\` |`);
    });
  }

  it('shows the MdevMigration defaults and bounds users rely on', () => {
    const row = (path: string) => fieldRows('MdevMigration').find((r) => r.path === path)!;
    expect(row('spec.deadlineSeconds')).to.include({ default: 900, required: false });
    expect(row('spec.deadlineSeconds').validation).to.include('value 30–86400');
    expect(row('spec.vmiName').required).to.equal(true);
    expect(row('spec.dryRun').default).to.equal(false);
    expect(row('status.phase').validation[0]).to.equal('one of `Pending`, `Probing`, `Planned`, `Migrating`, `Succeeded`, `Failed`');
    expect(row('spec.targetNodes').type).to.equal('[]string');
    expect(row('spec.targetNodes').validation.join(' ')).to.match(/items ≤ 256 each item: length 1–253/);
  });

  it('marks immutable fields and object-level rules', () => {
    const device = fieldRows('MdevDevice').find((r) => r.path === 'spec.nodeName')!;
    expect(device.validation).to.include('immutable');
    const nodeRule = celRows('MdevNode').find((r) => r.path === '');
    expect(nodeRule).to.deep.include({ rule: 'self.metadata.name == self.spec.nodeName', fieldPath: 'spec.nodeName' });
  });

  it('renders well-formed tables: every row has as many cells as its header', () => {
    const lines = renderApiReference().split('\n');
    let width = 0;
    for (const [i, line] of lines.entries()) {
      if (!line.startsWith('|')) {
        width = 0;
        continue;
      }
      if (width === 0) width = cells(line).length;
      else expect(cells(line).length, `line ${i + 1}: ${line.slice(0, 80)}`).to.equal(width);
    }
  });

  it('--check exits 0 on the committed file and an unknown flag exits 2 naming it', async function () {
    this.timeout(20_000);
    expect((await run(['--check'])).code).to.equal(0);
    const bad = await run(['--chek']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('unknown argument --chek');
  });
});
