import { expect } from 'chai';
import {
  isVmimFinal,
  parseVmi,
  parseVmim,
  parseVmimList,
  vmiDeviceRequests,
  vmimFailureReason,
  vmimPinnedNode,
  vmiRequiredNodeTerms,
} from '../../../src/kubevirt/types.ts';
import { capturingLogger } from '../kube/fakes.ts';

const vmi = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachineInstance',
  metadata: { name: 'vm-a', namespace: 'vms', uid: 'u-1', resourceVersion: '7' },
  spec: {
    nodeSelector: { pool: 'gpu' },
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }] } } },
    tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }],
    domain: {
      cpu: { cores: 4 },
      devices: { gpus: [{ name: 'gpu1', deviceName: 'nvidia.com/NVIDIA_H100-4C' }], hostDevices: [{ name: 'qat', deviceName: 'intel.com/qat_vf' }], disks: [] },
    },
  },
  status: { phase: 'Running', nodeName: 'node-a', interfaces: [{ ipAddress: '10.0.0.5' }], conditions: [{ type: 'Ready', status: 'True' }] },
};

const vmim = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachineInstanceMigration',
  metadata: { name: 'mig-1', namespace: 'vms', uid: 'u-2' },
  spec: { vmiName: 'vm-a', addedNodeSelector: { 'kubernetes.io/hostname': 'node-b' } },
  status: { phase: 'Failed', migrationState: { failed: true, failureReason: 'target refused' } },
};

describe('kubevirt types (KubeVirt v1 VMI and VMIM schemas)', () => {
  it('parses a VMI and keeps fields it does not model', () => {
    const parsed = parseVmi(vmi);
    expect(parsed?.metadata.uid).to.equal('u-1');
    expect(parsed?.status?.nodeName).to.equal('node-a');
    expect((parsed?.status as Record<string, unknown>).interfaces).to.deep.equal([{ ipAddress: '10.0.0.5' }]);
    expect((parsed?.spec.domain as Record<string, unknown>).cpu).to.deep.equal({ cores: 4 });
  });

  it('lists the VMI device requests gpus first, then hostDevices', () => {
    const parsed = parseVmi(vmi);
    expect(parsed && vmiDeviceRequests(parsed)).to.deep.equal([
      { kind: 'gpu', name: 'gpu1', deviceName: 'nvidia.com/NVIDIA_H100-4C' },
      { kind: 'hostDevice', name: 'qat', deviceName: 'intel.com/qat_vf' },
    ]);
    expect(parsed && vmiRequiredNodeTerms(parsed)).to.have.length(1);
  });

  it('accepts a VMI phase it does not know (a newer KubeVirt)', () => {
    expect(parseVmi({ ...vmi, status: { phase: 'WaitingForSync' } })?.status?.phase).to.equal('WaitingForSync');
  });

  it('reads the VMIM pin, final phase and failure reason', () => {
    const parsed = parseVmim(vmim);
    expect(parsed && vmimPinnedNode(parsed)).to.equal('node-b');
    expect(parsed && isVmimFinal(parsed)).to.equal(true);
    expect(parsed && vmimFailureReason(parsed)).to.equal('target refused');
    const running = parseVmim({ ...vmim, status: { phase: 'Running' } });
    expect(running && isVmimFinal(running)).to.equal(false);
  });

  it('logs and skips a malformed object instead of throwing', () => {
    const { log, lines } = capturingLogger();
    const bad = { ...vmim, metadata: { name: 'broken', namespace: 'vms', uid: 'u-3' }, spec: { addedNodeSelector: { a: 1 } } };
    const list = parseVmimList([vmim, bad, { kind: 'Pod' }], log);
    expect(list.map((v) => v.metadata.name)).to.deep.equal(['mig-1']);
    expect(lines.join('')).to.contain('vms/broken').and.to.contain('spec.vmiName');
    expect(lines).to.have.length(2);
  });

  it('rejects an object of another kind or group', () => {
    const { log } = capturingLogger();
    expect(parseVmi({ ...vmi, apiVersion: 'kubevirt.io/v1alpha3' }, log)).to.equal(undefined);
    expect(parseVmi(vmim, log)).to.equal(undefined);
  });
});
