import { expect } from 'chai';
import { isOwnedBy, vmimName, vmimTargetNode, VMIM_NAME_MAX } from '../../../src/controller/vmim-driver.ts';
import { duplicateUuid, newerByVersion, versionAtLeast } from '../../../src/controller/migration-reconciler.ts';
import { isUuid } from '../../../src/api/validation.ts';
import type { Vmim } from '../../../src/kubevirt/types.ts';

function vmim(name: string, ownerUid: string, phase: string, node: string, reason?: string): Vmim {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstanceMigration',
    metadata: { name, namespace: 'vms', uid: `u-${name}`, ownerReferences: [{ apiVersion: 'x', kind: 'MdevMigration', name: 'm', uid: ownerUid, controller: true }] },
    spec: { vmiName: 'vm', addedNodeSelector: { 'kubernetes.io/hostname': node } },
    status: { phase, ...(reason ? { migrationState: { failureReason: reason } } : {}) },
  };
}

describe('controller VMIM driver (pure parts)', () => {
  it('names attempt N deterministically, within 63 characters even for long migration names', () => {
    expect(vmimName('move-a', 2)).to.equal('move-a-2');
    const long = 'x'.repeat(250);
    const a = vmimName(long, 1);
    expect(a.length).to.be.at.most(VMIM_NAME_MAX);
    expect(a).to.equal(vmimName(long, 1));
    expect(a).to.not.equal(vmimName(long, 2));
    expect(vmimName(`${'y'.repeat(60)}-z`, 3)).to.match(/^y+-[0-9a-f]{8}-3$/);
  });

  it('tells its own VMIMs by the controller owner reference', () => {
    expect(isOwnedBy(vmim('m-1', 'uid', 'Failed', 'w2', 'boom'), 'uid')).to.equal(true);
    expect(isOwnedBy(vmim('x-1', 'other', 'Failed', 'w4'), 'uid')).to.equal(false);
  });

  it('maps a VMIM back to its target Node: the annotation, else the node whose hostname label is pinned', () => {
    const pinned = vmim('m-1', 'uid', 'Running', 'host-7.example');
    expect(vmimTargetNode(pinned, (v) => (v === 'host-7.example' ? 'worker-7' : undefined))).to.equal('worker-7');
    expect(vmimTargetNode(pinned, () => undefined)).to.equal('host-7.example');
    const annotated = { ...pinned, metadata: { ...pinned.metadata, annotations: { 'mdev-operator.io/target-node': 'worker-8' } } };
    expect(vmimTargetNode(annotated, () => 'worker-7')).to.equal('worker-8');
  });

  it('derives a stable canonical UUID for a duplicate device, and picks the newer object version', () => {
    const u = duplicateUuid('uid', 'w1.dev');
    expect(isUuid(u)).to.equal(true);
    expect(u).to.equal(duplicateUuid('uid', 'w1.dev'));
    expect(u).to.not.equal(duplicateUuid('uid', 'w1.dev2'));
    const a = { metadata: { resourceVersion: '99' } };
    const b = { metadata: { resourceVersion: '100' } };
    expect(newerByVersion(a, b)).to.equal(b);
    expect(newerByVersion(b, a)).to.equal(b);
  });

  it('tells whether a cache has reached the resourceVersion a lost device was seen taken at (numerically, not as text)', () => {
    expect(versionAtLeast('100', '99')).to.equal(true);
    expect(versionAtLeast('100', '100')).to.equal(true);
    expect(versionAtLeast('99', '100'), '"99" > "100" as text').to.equal(false);
    expect(versionAtLeast('18446744073709551616', '18446744073709551615')).to.equal(true);
    expect(versionAtLeast(undefined, '5'), 'nothing to compare: do not block the next plan').to.equal(true);
    expect(versionAtLeast('opaque', '5')).to.equal(true);
  });
});
