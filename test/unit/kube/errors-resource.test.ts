import { ApiException } from '@kubernetes/client-node';
import { expect } from 'chai';
import { describeApiError, isAlreadyExists, isConflict, isGone, isNotFound } from '../../../src/kube/errors.ts';
import { KubeApiError } from '../../../src/kube/request.ts';
import { objectKey, resourceLabel, resourcePath, splitObjectKey } from '../../../src/kube/resource.ts';

const status = (code: number, reason: string, message = 'm') => JSON.stringify({ kind: 'Status', code, reason, message });

describe('API error classifiers', () => {
  it('read client-node ApiException whose body is raw text', () => {
    expect(isNotFound(new ApiException(404, 'x', status(404, 'NotFound'), {}))).to.equal(true);
    expect(isConflict(new ApiException(409, 'x', status(409, 'Conflict'), {}))).to.equal(true);
    expect(isAlreadyExists(new ApiException(409, 'x', status(409, 'AlreadyExists'), {}))).to.equal(true);
    expect(isConflict(new ApiException(409, 'x', status(409, 'AlreadyExists'), {})), 'AlreadyExists is not a conflict').to.equal(false);
    expect(isGone(new ApiException(410, 'x', status(410, 'Expired'), {}))).to.equal(true);
  });

  it('read our KubeApiError, watch errors with statusCode and watch ERROR Status objects', () => {
    const e = new KubeApiError('PUT', '/api/v1/x', 409, status(409, 'Conflict', 'the object has been modified'));
    expect(isConflict(e)).to.equal(true);
    expect(e.message).to.equal('PUT /api/v1/x failed: 409 Conflict: the object has been modified');
    expect(isGone(Object.assign(new Error('Gone'), { statusCode: 410 }))).to.equal(true);
    expect(isGone({ body: { kind: 'Status', code: 410, reason: 'Expired' } })).to.equal(true);
  });

  it('do not classify non-API errors', () => {
    const net = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect([isNotFound(net), isConflict(net), isAlreadyExists(net), isGone(net)]).to.deep.equal([false, false, false, false]);
    expect(describeApiError(net)).to.equal('connect ECONNREFUSED');
  });
});

describe('resource paths and keys', () => {
  const cms = { group: '', version: 'v1', plural: 'configmaps', namespaced: true };
  const devs = { group: 'mdev-operator.io', version: 'v1alpha1', plural: 'mdevdevices', namespaced: false };
  it('builds core, group, namespaced, cluster-scoped and subresource paths', () => {
    expect(resourcePath(cms)).to.equal('/api/v1/configmaps');
    expect(resourcePath(cms, { namespace: 'ns', name: 'a' })).to.equal('/api/v1/namespaces/ns/configmaps/a');
    expect(resourcePath(devs, { namespace: 'ignored', name: 'd', subresource: 'status' })).to.equal('/apis/mdev-operator.io/v1alpha1/mdevdevices/d/status');
    expect(() => resourcePath(devs, { subresource: 'status' })).to.throw(/needs an object name/);
    expect(resourceLabel(devs)).to.equal('mdevdevices.mdev-operator.io');
  });

  it('keys objects as namespace/name or name and splits them back', () => {
    expect(objectKey('ns', 'a')).to.equal('ns/a');
    expect(objectKey(undefined, 'a')).to.equal('a');
    expect(splitObjectKey('ns/a')).to.deep.equal({ namespace: 'ns', name: 'a' });
    expect(splitObjectKey('a')).to.deep.equal({ name: 'a' });
  });
});
