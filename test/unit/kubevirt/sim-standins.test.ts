// Pure parts of the KubeVirt STAND-IN: the device-plugin stand-in's seeded random pick and the
// target pod's node selector as KubeVirt v1.9 renders it.
import { expect } from 'chai';
import { allocate, seededRandom } from '../../../dev/sim/kubevirt/device-plugin.ts';
import { targetPodNodeSelector } from '../../../dev/sim/kubevirt/target-pod.ts';
import type { Vmi, Vmim } from '../../../src/kubevirt/types.ts';

describe('KubeVirt stand-in: device plugin and target pod', () => {
  it('picks any free device of each requested resource, reproducibly for a seed, and refuses a short resource', () => {
    const free = new Map([['nvidia.com/A', ['a1', 'a2', 'a3', 'a4']], ['nvidia.com/B', ['b1']]]);
    const requests = new Map([['nvidia.com/A', 2], ['nvidia.com/B', 1]]);
    const one = allocate({ requests, free }, seededRandom(7));
    const two = allocate({ requests, free }, seededRandom(7));
    expect(one).to.deep.equal(two);
    expect(one.ok && one.deviceIds).to.have.length(3);
    expect(one.ok && new Set(one.deviceIds).size).to.equal(3);
    const picks = new Set(Array.from({ length: 20 }, (_, seed) => (allocate({ requests: new Map([['nvidia.com/A', 1]]), free }, seededRandom(seed)) as { deviceIds: string[] }).deviceIds[0]));
    expect(picks.size, 'different seeds reach different devices').to.be.greaterThan(1);
    expect(allocate({ requests: new Map([['nvidia.com/B', 2]]), free }, seededRandom(1))).to.deep.equal({ ok: false, reason: 'UnexpectedAdmissionError: requested 2 of nvidia.com/B, 1 available on the node' });
  });

  it('renders the target selector: the pin, schedulable, the KubeVirt CR, the VMI\'s own selectors winning a collision, host-model and vendor', () => {
    const vmi: Vmi = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: 'vm', namespace: 'vms', uid: 'u' }, spec: { nodeSelector: { 'kubernetes.io/hostname': 'mine' }, domain: { cpu: { model: 'host-model' } } } };
    const vmim: Vmim = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: 'm', namespace: 'vms', uid: 'mu' }, spec: { vmiName: 'vm', addedNodeSelector: { 'kubernetes.io/hostname': 'theirs', rack: 'r1' } } };
    const r = targetPodNodeSelector(vmi, vmim, { 'host-model-cpu.node.kubevirt.io/Skylake': 'true', 'cpu-vendor.node.kubevirt.io/Intel': 'true' }, { pool: 'gpu' });
    expect(r).to.deep.equal({
      ok: true,
      nodeSelector: {
        'kubernetes.io/hostname': 'mine',
        rack: 'r1',
        'kubevirt.io/schedulable': 'true',
        pool: 'gpu',
        'cpu-model-migration.node.kubevirt.io/Skylake': 'true',
        'cpu-vendor.node.kubevirt.io/Intel': 'true',
      },
    });
    expect(targetPodNodeSelector(vmi, vmim, {}).ok).to.equal(false);
  });
});
