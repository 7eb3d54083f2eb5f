import { expect } from 'chai';
import { allow, allowWithPatch, admissionReviewSchema, deny, reviewResponse } from '../../../src/webhook/server.ts';

describe('AdmissionReview responses', () => {
  it('allow() admits with no status, patch or warnings unless warnings are given', () => {
    expect(allow()).to.deep.equal({ allowed: true });
    expect(allow(['mode is warn'])).to.deep.equal({ allowed: true, warnings: ['mode is warn'] });
  });

  it('deny() carries a 403 Forbidden status with the message, overridable', () => {
    expect(deny('no compatible target: node-a (Incompatible)')).to.deep.equal({
      allowed: false,
      status: { code: 403, reason: 'Forbidden', message: 'no compatible target: node-a (Incompatible)' },
    });
    expect(deny('bad', { code: 422, reason: 'Invalid', warnings: ['w'] })).to.deep.equal({
      allowed: false,
      status: { code: 422, reason: 'Invalid', message: 'bad' },
      warnings: ['w'],
    });
  });

  it('allowWithPatch() base64-encodes the JSON patch and names its type', () => {
    const ops = [{ op: 'add' as const, path: '/spec/addedNodeSelector', value: { 'kubernetes.io/hostname': 'worker-7' } }];
    const verdict = allowWithPatch(ops, ['picked worker-7']);
    expect(verdict).to.include({ allowed: true, patchType: 'JSONPatch' });
    expect(JSON.parse(Buffer.from(verdict.patch!, 'base64').toString('utf8'))).to.deep.equal(ops);
    expect(verdict.warnings).to.deep.equal(['picked worker-7']);
  });

  it('allowWithPatch() with no operations is a plain allow (no empty patch sent)', () => {
    expect(allowWithPatch([])).to.deep.equal({ allowed: true });
  });

  it('reviewResponse() wraps a verdict in an admission.k8s.io/v1 AdmissionReview with the request uid', () => {
    expect(reviewResponse('uid-1', deny('x'))).to.deep.equal({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'uid-1', allowed: false, status: { code: 403, reason: 'Forbidden', message: 'x' } },
    });
  });

  it('parses an API-server AdmissionReview and keeps fields it does not model', () => {
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
        kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstanceMigration' },
        resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachineinstancemigrations' },
        requestKind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstanceMigration' },
        operation: 'CREATE',
        namespace: 'vms',
        object: { spec: { vmiName: 'vm-a' } },
        dryRun: false,
        options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
      },
    };
    const parsed = admissionReviewSchema.parse(review);
    expect(parsed.request.operation).to.equal('CREATE');
    expect(parsed.request).to.have.property('requestKind');
    expect(admissionReviewSchema.safeParse({ ...review, apiVersion: 'admission.k8s.io/v1beta1' }).success).to.equal(false);
    expect(admissionReviewSchema.safeParse({ ...review, request: { ...review.request, uid: '' } }).success).to.equal(false);
  });
});
