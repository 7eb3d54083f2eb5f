// The CRDs in crds/ on the real local kube-apiserver: they install, become Established, explain
// themselves, accept the docs/examples objects and refuse every invalid case of the shared table
// with a message naming the field, and zod agrees with the server on every one of them.
import { expect } from 'chai';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  GROUP,
  immutableFieldViolations,
  KINDS,
  parseFromWire,
  PLURALS,
  validateObject,
  type KindName,
} from '../../../src/api/v1alpha1/index.ts';
import { kubectl, uniqueName } from '../../support/cluster.ts';
import { caseTitle, INVALID_CASES, invalidObject } from '../../unit/api/cases.ts';
import { loadExample, type Obj } from '../../unit/api/examples.ts';

const CRDS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'crds');
const resource = (kind: KindName) => `${PLURALS[kind]}.${GROUP}`;

type Meta = { name: string; namespace?: string };
const meta = (obj: Obj) => obj.metadata as Meta;

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** The server publishes a new CRD's OpenAPI (what kubectl explain reads) shortly after Established. */
async function openApiPublished(): Promise<void> {
  for (let attempt = 0; attempt < 120; attempt++) {
    const results = await Promise.all(KINDS.map((k) => kubectl(['explain', `${resource(k).split('.')[0]}.spec`])));
    if (results.every((r) => r.code === 0)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error('kubectl explain never found the CRDs: the API server did not publish their OpenAPI within 60s');
}

describe('API CRDs on the real API server', function () {
  this.timeout(180_000);
  let namespace: string;

  /** The example of `kind` under a fresh name (and namespace), so every test owns its objects. */
  function freshExample(kind: KindName): Obj {
    const obj = loadExample(kind);
    const m = meta(obj);
    m.name = uniqueName(kind.toLowerCase());
    if (kind === 'MdevMigration') m.namespace = namespace;
    if (kind === 'MdevNode') (obj.spec as { nodeName: string }).nodeName = m.name;
    return obj;
  }

  const nsArgs = (obj: Obj) => (meta(obj).namespace ? ['-n', meta(obj).namespace!] : []);

  async function create(obj: Obj) {
    const { status: _dropped, ...withoutStatus } = obj;
    return kubectl(['create', '-o', 'json', '-f', '-'], { input: JSON.stringify(withoutStatus) });
  }

  async function getStored(kind: KindName, obj: Obj): Promise<Obj> {
    return JSON.parse(await ok(['get', resource(kind), meta(obj).name, '-o', 'json', ...nsArgs(obj)])) as Obj;
  }

  async function replaceStatus(kind: KindName, obj: Obj, status: unknown) {
    const stored = await getStored(kind, obj);
    stored.status = status;
    return kubectl(['replace', '--subresource=status', '-o', 'json', '-f', '-'], { input: JSON.stringify(stored) });
  }

  before(async () => {
    await ok(['apply', '--server-side', '-f', CRDS_DIR]);
    namespace = uniqueName('api');
    await ok(['create', 'namespace', namespace]);
    await ok(['wait', '--for=condition=Established', '--timeout=60s', ...KINDS.map((k) => `crd/${resource(k)}`)]);
    await openApiPublished();
  });

  it('installs all four CRDs from crds/ and each becomes Established', async () => {
    const names = KINDS.map((k) => `crd/${resource(k)}`);
    const r = await kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...names]);
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
    for (const kind of KINDS) expect(r.stdout).to.contain(`${resource(kind)} condition met`);
  });

  it('kubectl explain mdevdevice.spec.type prints the field descriptions', async () => {
    // kubectl wraps long descriptions; compare with whitespace collapsed.
    const out = (await ok(['explain', 'mdevdevice.spec.type'])).replace(/\s+/g, ' ');
    expect(out).to.contain('The mdev type of the device.');
    expect(out).to.contain('The mdev type directory name (nvidia-1012)');
    expect(out).to.contain('deviceApi <string>');
  });

  it('kubectl explain knows the short names and the category mdev-operator lists every kind', async () => {
    expect((await ok(['explain', 'mdevmig.spec.deadlineSeconds'])).replace(/\s+/g, ' ')).to.contain('Seconds from creation after which the migration fails');
    const resources = await ok(['api-resources', '--categories=mdev-operator', '-o', 'name']);
    for (const kind of KINDS) expect(resources).to.contain(resource(kind));
  });

  for (const kind of KINDS) {
    it(`accepts the ${kind} example (spec on create, status through the subresource) and zod parses what is stored`, async () => {
      const example = freshExample(kind);
      expect(validateObject(kind, example).ok, 'zod refused the example').to.equal(true);
      const created = await create(example);
      expect(created.stderr).to.equal('');
      expect(created.code).to.equal(0);
      const written = await replaceStatus(kind, example, example.status);
      expect(written.stderr).to.equal('');
      expect(written.code).to.equal(0);
      const stored = await getStored(kind, example);
      expect(stored.spec).to.deep.equal(example.spec);
      expect(stored.status).to.deep.equal(example.status);
      const warnings: unknown[] = [];
      expect(parseFromWire(kind, stored, { warn: (...a) => warnings.push(a) })?.metadata.name).to.equal(meta(example).name);
      expect(warnings).to.deep.equal([]);
    });
  }

  it('applies the MdevMigration defaults on the server as zod does', async () => {
    const obj = freshExample('MdevMigration');
    obj.spec = { vmiName: 'vm-a' };
    delete obj.status;
    await ok(['create', '-f', '-'], JSON.stringify(obj));
    const stored = await getStored('MdevMigration', obj);
    const parsed = validateObject('MdevMigration', obj);
    expect(parsed.ok).to.equal(true);
    if (parsed.ok) expect(stored.spec).to.deep.equal(parsed.value.spec);
    expect(stored.spec).to.deep.equal({ vmiName: 'vm-a', allowCreateTarget: false, dryRun: false, deadlineSeconds: 900 });
  });

  it('kubectl get mdev (short name) shows NODE, TYPE, VERSION-HASH, MIGRATABLE, CONSUMER and AGE', async () => {
    const obj = freshExample('MdevDevice');
    const node = uniqueName('node');
    (obj.spec as { nodeName: string }).nodeName = node;
    const labels = (obj.metadata as { labels: Record<string, string> }).labels;
    labels['mdev-operator.io/node'] = node;
    await ok(['create', '-f', '-'], JSON.stringify({ ...obj, status: undefined }));
    await replaceStatus('MdevDevice', obj, obj.status);
    const [header, row, ...rest] = (await ok(['get', 'mdev', '-l', `mdev-operator.io/node=${node}`])).trim().split('\n');
    expect(rest).to.deep.equal([]);
    expect(header!.split(/\s+/)).to.deep.equal(['NAME', 'NODE', 'TYPE', 'VERSION-HASH', 'MIGRATABLE', 'CONSUMER', 'AGE']);
    expect(row!.split(/\s+/).slice(0, 6)).to.deep.equal([
      meta(obj).name, node, 'nvidia-1012', labels['mdev-operator.io/version-hash'], 'true', 'vm-a',
    ]);
  });

  it('kubectl get mdevmig shows VMI, PHASE, SOURCE, TARGET and AGE', async () => {
    const obj = freshExample('MdevMigration');
    await ok(['create', '-f', '-'], JSON.stringify({ ...obj, status: undefined }));
    await replaceStatus('MdevMigration', obj, obj.status);
    const [header, row] = (await ok(['get', 'mdevmig', meta(obj).name, '-n', namespace])).trim().split('\n');
    expect(header!.split(/\s+/)).to.deep.equal(['NAME', 'VMI', 'PHASE', 'SOURCE', 'TARGET', 'AGE']);
    expect(row!.split(/\s+/).slice(0, 5)).to.deep.equal([meta(obj).name, 'vm-a', 'Succeeded', 'worker-1', 'worker-7']);
  });

  it('selects MdevProbes by spec.nodeName with a field selector', async () => {
    const obj = freshExample('MdevProbe');
    (obj.spec as { nodeName: string }).nodeName = uniqueName('node');
    await ok(['create', '-f', '-'], JSON.stringify({ ...obj, status: undefined }));
    const out = await ok(['get', 'mdevprobes', '--field-selector', `spec.nodeName=${(obj.spec as { nodeName: string }).nodeName}`, '-o', 'name']);
    expect(out.trim()).to.equal(`mdevprobe.${GROUP}/${meta(obj).name}`);
  });

  for (const kase of INVALID_CASES) {
    it(`refuses ${caseTitle(kase)}, naming the field, and zod agrees`, async () => {
      const example = freshExample(kase.kind);
      const bad = invalidObject(kase, example);
      let result;
      if (kase.write === 'create') {
        result = await create(bad);
        const zod = validateObject(kase.kind, bad);
        expect(zod.ok ? [] : zod.issues.map((i) => i.path), 'zod must refuse at the same field').to.include(kase.field);
      } else {
        const created = await create(example);
        expect(created.code, created.stderr).to.equal(0);
        if (kase.write === 'status') {
          result = await replaceStatus(kase.kind, example, bad.status);
          const zod = validateObject(kase.kind, bad);
          expect(zod.ok ? [] : zod.issues.map((i) => i.path), 'zod must refuse at the same field').to.include(kase.field);
        } else {
          const stored = await getStored(kase.kind, example);
          stored.spec = bad.spec;
          result = await kubectl(['replace', '-o', 'json', '-f', '-'], { input: JSON.stringify(stored) });
          expect(immutableFieldViolations(kase.kind, example, bad), 'the in-process transition check must refuse too').to.include(kase.field);
        }
      }
      expect(result.code, `the API server accepted it: ${result.stdout.slice(0, 200)}`).not.to.equal(0);
      expect(result.stderr).to.contain(kase.field);
      expect(result.stderr).to.match(/is invalid|Invalid value|Unsupported value|Required value|Too many|Too long|must/);
    });
  }
});
