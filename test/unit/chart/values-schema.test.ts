// values.schema.json refuses unknown keys everywhere and describes every key of values.yaml.
// (Helm enforces it; test/integration/chart/helm.test.ts proves refusals with the real helm.)
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../../../dev/localcluster/paths.ts';

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  oneOf?: Schema[];
  $comment?: string;
}

const chart = join(REPO_ROOT, 'charts', 'mdev-operator');
const schema = JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')) as Schema;
const values = parse(readFileSync(join(chart, 'values.yaml'), 'utf8')) as Record<string, unknown>;

/** Every object node of the schema with its JSON path. */
function objectNodes(s: Schema, path = '$'): Array<[string, Schema]> {
  const here: Array<[string, Schema]> = s.type === 'object' ? [[path, s]] : [];
  const props = Object.entries(s.properties ?? {}).flatMap(([k, v]) => objectNodes(v, `${path}.${k}`));
  const items = s.items ? objectNodes(s.items, `${path}[]`) : [];
  const extra = typeof s.additionalProperties === 'object' ? objectNodes(s.additionalProperties, `${path}.*`) : [];
  const alts = (s.oneOf ?? []).flatMap((v, i) => objectNodes(v, `${path}|${i}`));
  return [...here, ...props, ...items, ...extra, ...alts];
}

/** Paths of values.yaml keys that the schema does not name (maps with typed values accept any key). */
function undescribed(value: unknown, s: Schema | undefined, path: string): string[] {
  if (!s) return [path];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const sub = s.properties?.[k] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : undefined);
    return undescribed(v, sub, `${path}.${k}`);
  });
}

describe('chart values.schema.json', () => {
  it('declares additionalProperties on every object, false unless it is a typed map or a Kubernetes pass-through', () => {
    const nodes = objectNodes(schema);
    expect(nodes.length).to.be.greaterThan(20);
    for (const [path, node] of nodes) {
      expect(node.additionalProperties, `${path} must declare additionalProperties`).to.not.equal(undefined);
      if (node.additionalProperties === true) {
        expect(node.$comment ?? '', `${path} allows any key: only Kubernetes pass-through types may`).to.match(/^pass-through/);
        expect(path, `${path}: pass-through is reserved for affinity`).to.match(/\.affinity\.\w+$/);
      }
      if (node.properties) expect(node.additionalProperties, `${path} has named properties, so unknown keys are refused`).to.equal(false);
    }
  });

  it('names every key of values.yaml', () => {
    expect(undescribed(values, schema, '$')).to.deep.equal([]);
  });

  it('names no key that values.yaml leaves out (defaults live in one place)', () => {
    const missing: string[] = [];
    const walk = (s: Schema, v: unknown, path: string) => {
      for (const [k, sub] of Object.entries(s.properties ?? {})) {
        const child = (v as Record<string, unknown> | undefined)?.[k];
        if (child === undefined) missing.push(`${path}.${k}`);
        else walk(sub, child, `${path}.${k}`);
      }
    };
    walk(schema, values, '$');
    // Optional affinity terms and resource names are the only keys without a default.
    const optional = /\.affinity\.\w+$|\.resources\.(requests|limits)\.[\w-]+$/;
    expect(missing.filter((p) => !optional.test(p))).to.deep.equal([]);
  });
});
