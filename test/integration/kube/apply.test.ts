import { expect } from 'chai';
import { jsonPatch, jsonPointerSegment, mergePatch, serverSideApply } from '../../../src/kube/apply.ts';
import { isConflict, isNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { kubectl, testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { waitFor } from './wait.ts';

// A throw-away cluster-scoped CRD with a status subresource, shaped like MdevDevice.
const GROUP = 'kubetest.mdev-operator.io';
const GADGETS = { group: GROUP, version: 'v1', plural: 'gadgets', namespaced: false };
const CONFIGMAPS = { group: '', version: 'v1', plural: 'configmaps', namespaced: true };
const CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `gadgets.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Cluster',
    names: { plural: 'gadgets', singular: 'gadget', kind: 'Gadget', listKind: 'GadgetList' },
    versions: [{
      name: 'v1', served: true, storage: true, subresources: { status: {} },
      schema: { openAPIV3Schema: { type: 'object', properties: {
        spec: { type: 'object', properties: { size: { type: 'integer' } } },
        status: { type: 'object', properties: { phase: { type: 'string' }, count: { type: 'integer' } } },
      } } },
    }],
  },
};

interface Gadget {
  metadata: { name: string; labels?: Record<string, string>; managedFields?: Array<{ manager: string; subresource?: string }> };
  spec?: { size?: number };
  status?: { phase?: string; count?: number };
}

const gadget = (name: string, body: Partial<Gadget>) => ({ apiVersion: `${GROUP}/v1`, kind: 'Gadget', metadata: { name }, ...body });

describe('apply and patch against the API server', function () {
  this.timeout(60_000);
  const kc = () => testKubeConfig();

  before(async () => {
    const r = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(CRD) });
    expect(r.code, r.stderr).to.equal(0);
    const w = await kubectl(['wait', '--for', 'condition=Established', `crd/gadgets.${GROUP}`, '--timeout=30s']);
    expect(w.code, w.stderr).to.equal(0);
    // The resource is served a moment after Established.
    await waitFor('the gadgets endpoint', async () => {
      try {
        await kubeRequest(kc(), { method: 'GET', path: resourcePath(GADGETS) });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    });
  });

  it('applies spec and the status subresource of a CRD object as separate field managers', async () => {
    const name = uniqueName('g');
    await serverSideApply(kc(), GADGETS, gadget(name, { spec: { size: 3 } }), { fieldManager: 'spec-owner' });
    const applied = (await serverSideApply(kc(), GADGETS, gadget(name, { status: { phase: 'Ready', count: 1 } }), {
      fieldManager: 'status-writer',
      subresource: 'status',
    })) as Gadget;
    expect(applied.status).to.deep.equal({ phase: 'Ready', count: 1 });
    expect(applied.spec).to.deep.equal({ size: 3 });
    const statusManager = applied.metadata.managedFields?.find((f) => f.manager === 'status-writer');
    expect(statusManager?.subresource).to.equal('status');

    // Through the main resource, status is ignored: the subresource owns it.
    const viaMain = (await serverSideApply(kc(), GADGETS, gadget(name, { spec: { size: 4 }, status: { phase: 'Hacked' } }), { fieldManager: 'spec-owner' })) as Gadget;
    expect(viaMain.spec?.size).to.equal(4);
    expect(viaMain.status?.phase).to.equal('Ready');
  });

  it('refuses to take over another manager\'s field without force, and takes it with force', async () => {
    const name = uniqueName('g');
    await serverSideApply(kc(), GADGETS, gadget(name, { spec: { size: 1 } }), { fieldManager: 'spec-owner' });
    await serverSideApply(kc(), GADGETS, gadget(name, { status: { phase: 'Ready' } }), { fieldManager: 'agent', subresource: 'status' });
    let conflict: unknown;
    try {
      await serverSideApply(kc(), GADGETS, gadget(name, { status: { phase: 'Failed' } }), { fieldManager: 'intruder', subresource: 'status' });
    } catch (err) {
      conflict = err;
    }
    expect(isConflict(conflict), String(conflict)).to.equal(true);
    const forced = (await serverSideApply(kc(), GADGETS, gadget(name, { status: { phase: 'Failed' } }), { fieldManager: 'intruder', subresource: 'status', force: true })) as Gadget;
    expect(forced.status?.phase).to.equal('Failed');
  });

  it('merge-patches status and JSON-patches labels', async () => {
    const name = uniqueName('g');
    await serverSideApply(kc(), GADGETS, gadget(name, { spec: { size: 1 } }), { fieldManager: 'spec-owner' });
    const merged = (await mergePatch(kc(), GADGETS, { name }, { status: { count: 9 } }, { subresource: 'status' })) as Gadget;
    expect(merged.status?.count).to.equal(9);
    const key = 'mdev-operator.io/reserved-by';
    const patched = (await jsonPatch(kc(), GADGETS, { name }, [
      { op: 'add', path: '/metadata/labels', value: {} },
      { op: 'add', path: `/metadata/labels/${jsonPointerSegment(key)}`, value: 'm1' },
    ])) as Gadget;
    expect(patched.metadata.labels?.[key]).to.equal('m1');
    let failed: unknown;
    try {
      await jsonPatch(kc(), GADGETS, { name }, [{ op: 'test', path: `/metadata/labels/${jsonPointerSegment(key)}`, value: 'other' }, { op: 'remove', path: '/metadata/labels' }]);
    } catch (err) {
      failed = err;
    }
    expect(failed, 'a failed test op rejects the whole patch').to.be.instanceOf(Error);
  });

  it('applies a namespaced object and requires its namespace', async () => {
    const ns = uniqueName('kube-apply');
    expect((await kubectl(['create', 'namespace', ns])).code).to.equal(0);
    try {
      const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: ns }, data: { a: '1' } };
      const out = (await serverSideApply(kc(), CONFIGMAPS, cm, { fieldManager: 'test' })) as { data: Record<string, string> };
      expect(out.data).to.deep.equal({ a: '1' });
      const noNs = { ...cm, metadata: { name: 'c' } };
      let err: unknown;
      try {
        await serverSideApply(kc(), CONFIGMAPS, noNs, { fieldManager: 'test' });
      } catch (e) {
        err = e;
      }
      expect(String(err)).to.match(/metadata\.namespace is required/);
    } finally {
      await kubectl(['delete', 'namespace', ns, '--wait=false']);
    }
  });
});
