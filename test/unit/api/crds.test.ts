import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { buildCrd, renderCrds } from '../../../src/api/crd/render.ts';
import { toStructuralSchema, type JsonSchema } from '../../../src/api/crd/structural.ts';
import { IMMUTABLE_FIELDS, KINDS, type KindName } from '../../../src/api/v1alpha1/index.ts';

const CRDS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'crds');

function schemaOf(kind: KindName): JsonSchema {
  const spec = buildCrd(kind).spec as { versions: { schema: { openAPIV3Schema: JsonSchema } }[] };
  return spec.versions[0]!.schema.openAPIV3Schema;
}

function versionOf(kind: KindName): Record<string, unknown> {
  return (buildCrd(kind).spec as { versions: Record<string, unknown>[] }).versions[0]!;
}

/** Every schema node with its path, in the form `spec.capacity[].type.id`. */
function walk(node: JsonSchema, path: string, visit: (node: JsonSchema, path: string) => void): void {
  visit(node, path);
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, JsonSchema>)) {
    walk(child, path ? `${path}.${name}` : name, visit);
  }
  if (node.items) walk(node.items as JsonSchema, `${path}[]`, visit);
}

type Rule = { rule: string; fieldPath?: string };
const rulesAt = (node: JsonSchema) => (node['x-kubernetes-validations'] ?? []) as Rule[];

describe('CRD generation (scripts/gen-crds.ts)', () => {
  it('crds/ on disk is exactly what the generator writes (run npm run gen:crds)', () => {
    const rendered = renderCrds();
    const onDisk = readdirSync(CRDS_DIR).filter((f) => f.endsWith('.yaml')).sort();
    expect(onDisk).to.deep.equal(rendered.map((c) => c.file).sort());
    for (const crd of rendered) {
      expect(existsSync(join(CRDS_DIR, crd.file))).to.equal(true);
      expect(readFileSync(join(CRDS_DIR, crd.file), 'utf8'), `crds/${crd.file} is stale`).to.equal(crd.yaml);
    }
  });

  it('renders YAML that parses back to the CRD objects', () => {
    for (const crd of renderCrds()) expect(parse(crd.yaml)).to.deep.equal(buildCrd(crd.kind));
  });

  for (const kind of KINDS) {
    it(`${kind}: structural schema with a type and no combinators on every node, a description on every field`, () => {
      walk(schemaOf(kind), '', (node, path) => {
        if (path === 'metadata') return;
        expect(node.type, `${path} has no type`).to.be.a('string');
        for (const key of ['$ref', 'anyOf', 'oneOf', 'allOf', 'not', 'nullable', 'const']) expect(node, path).not.to.have.property(key);
        expect(node.additionalProperties, path).not.to.equal(false);
        expect(node.description, `${path || '<root>'} has no description`).to.be.a('string').and.not.equal('');
      });
    });

    it(`${kind}: status subresource, short name, category mdev-operator`, () => {
      const spec = buildCrd(kind).spec as { names: { shortNames: string[]; categories: string[] } };
      expect(versionOf(kind).subresources).to.deep.equal({ status: {} });
      expect(spec.names.categories).to.deep.equal(['mdev-operator']);
      expect(spec.names.shortNames).to.have.length(1);
    });

    it(`${kind}: bounds every string with a CEL rule and every list, so CEL cost estimation passes`, () => {
      walk(schemaOf(kind), '', (node, path) => {
        if (node.type === 'array') expect(node.maxItems, `${path} needs maxItems`).to.be.a('number');
        if (node.type === 'string' && rulesAt(node).length > 0) expect(node.maxLength, `${path} needs maxLength`).to.be.a('number');
      });
    });

    it(`${kind}: the self == oldSelf rules are exactly IMMUTABLE_FIELDS`, () => {
      const found: string[] = [];
      walk(schemaOf(kind), '', (node, path) => {
        if (rulesAt(node).some((r) => r.rule === 'self == oldSelf')) found.push(path);
      });
      expect(found.sort()).to.deep.equal([...IMMUTABLE_FIELDS[kind]].sort());
    });
  }

  it('shows the printer columns issue #3 asks for', () => {
    const names = (kind: KindName) =>
      (versionOf(kind).additionalPrinterColumns as { name: string; priority?: number }[])
        .filter((c) => !c.priority)
        .map((c) => c.name.toUpperCase());
    expect(names('MdevDevice')).to.deep.equal(['NODE', 'TYPE', 'VERSION-HASH', 'MIGRATABLE', 'CONSUMER', 'AGE']);
    expect(names('MdevMigration')).to.deep.equal(['VMI', 'PHASE', 'SOURCE', 'TARGET', 'AGE']);
  });

  it('declares the MdevMigration defaults and deadline bounds', () => {
    const spec = (schemaOf('MdevMigration').properties as Record<string, JsonSchema>).spec!.properties as Record<string, JsonSchema>;
    expect(spec.deadlineSeconds).to.include({ default: 900, minimum: 30, maximum: 86400 });
    expect(spec.dryRun).to.include({ default: false });
    expect(spec.allowCreateTarget).to.include({ default: false });
  });

  it('puts the printable-ASCII rule on every version string', () => {
    const at = (kind: KindName, path: string) => {
      let node: JsonSchema | undefined;
      walk(schemaOf(kind), '', (n, p) => {
        if (p === path) node = n;
      });
      return node;
    };
    for (const [kind, path] of [
      ['MdevDevice', 'status.migrationVersion'],
      ['MdevProbe', 'spec.sourceVersion'],
      ['MdevNode', 'spec.capacity[].migrationVersion'],
    ] as const) {
      const node = at(kind, path);
      expect(node, `${kind} ${path}`).to.include({ minLength: 1, maxLength: 4095 });
      expect(rulesAt(node!).map((r) => r.rule)).to.include("self.matches(r'^[\\x20-\\x7E]+$')");
    }
  });

  it('refuses zod shapes a structural schema cannot express, naming the path', () => {
    expect(() => toStructuralSchema(z.object({ a: z.union([z.string(), z.number()]).describe('a') }), 'X')).to.throw(/X\.a: "anyOf"/);
    expect(() => toStructuralSchema(z.object({ a: z.string() }), 'X')).to.throw(/X\.a: add \.describe\(\)/);
  });
});
