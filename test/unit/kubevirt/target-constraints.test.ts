import { expect } from 'chai';
import { DAEMONSET_TOLERATIONS, kubevirtTargetRequirements } from '../../../src/kubevirt/target-constraints.ts';
import { notLiveMigratable } from '../../../src/kubevirt/live-migratable.ts';
import { vmimFailureCause } from '../../../src/kubevirt/failure-cause.ts';
import { parseKubevirtCluster } from '../../../src/kubevirt/kubevirt-config.ts';
import { parseTargetPod } from '../../../src/kubevirt/launcher-pods.ts';
import { mdevPoolKey } from '../../../src/kubevirt/device-plugin.ts';
import type { Vmi, Vmim } from '../../../src/kubevirt/types.ts';

function vmi(spec: Vmi['spec'] = {}, status: Vmi['status'] = { phase: 'Running', nodeName: 'w1' }): Vmi {
  return { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: 'vm', namespace: 'vms', uid: 'u' }, spec, status };
}

const keys = (r: ReturnType<typeof kubevirtTargetRequirements>) => r.labels.map((l) => `${l.key}=${l.value}`);

describe("KubeVirt's own target constraints (restated from v1.9's template and migration controller)", () => {
  it('every target selects kubevirt.io/schedulable=true, plus arch and the KubeVirt CR nodeSelectors; the VMI\'s own selector wins a collision', () => {
    const r = kubevirtTargetRequirements(vmi({ architecture: 'ARM64', nodeSelector: { pool: 'mine' } }), undefined, { nodeSelectors: { pool: 'cluster', zone: 'z1' } });
    expect(keys(r)).to.deep.equal(['kubernetes.io/arch=arm64', 'kubevirt.io/schedulable=true', 'zone=z1']);
    expect(r.error).to.equal(undefined);
  });

  it('a host-model CPU requires the source\'s model and required features; without them no node can take it', () => {
    const source = { name: 'w1', labels: { 'host-model-cpu.node.kubevirt.io/EPYC-Genoa': 'true', 'host-model-required-features.node.kubevirt.io/avx512f': 'true', 'cpu-vendor.node.kubevirt.io/AMD': 'true' } };
    const r = kubevirtTargetRequirements(vmi({ domain: { cpu: { model: 'host-model' } } }), source, undefined);
    expect(keys(r)).to.deep.equal(['cpu-feature.node.kubevirt.io/avx512f=true', 'cpu-model-migration.node.kubevirt.io/EPYC-Genoa=true', 'cpu-vendor.node.kubevirt.io/AMD=true', 'kubevirt.io/schedulable=true']);
    const bare = kubevirtTargetRequirements(vmi({ domain: { cpu: { model: 'host-model' } } }), { name: 'w1', labels: {} }, undefined);
    expect(bare.error).to.match(/has no host-model-cpu\.node\.kubevirt\.io\/<model> label/);
  });

  it('keeps the CPU vendor only when no vendor key is selected already', () => {
    const source = { name: 'w1', labels: { 'cpu-vendor.node.kubevirt.io/Intel': 'true' } };
    expect(keys(kubevirtTargetRequirements(vmi(), source, undefined))).to.include('cpu-vendor.node.kubevirt.io/Intel=true');
    expect(keys(kubevirtTargetRequirements(vmi({ nodeSelector: { 'cpu-vendor.node.kubevirt.io/AMD': 'true' } }), source, undefined)).some((k) => k.startsWith('cpu-vendor'))).to.equal(false);
  });

  it('reads the KubeVirt CR leniently: nodeSelectors and workloads nodePlacement, unreadable parts left out', () => {
    const cr = {
      metadata: { name: 'kubevirt', namespace: 'kubevirt' },
      spec: {
        configuration: { developerConfiguration: { nodeSelectors: { gpu: 'yes' } } },
        workloads: { nodePlacement: { nodeSelector: { infra: 'kv' }, tolerations: [{ key: 'x', operator: 'Exists' }] } },
      },
    };
    expect(parseKubevirtCluster(cr)?.cluster).to.deep.equal({ nodeSelectors: { gpu: 'yes' }, workloadPlacement: { nodeSelector: { 'kubernetes.io/os': 'linux', infra: 'kv' }, tolerations: [{ key: 'x', operator: 'Exists' }, ...DAEMONSET_TOLERATIONS] } });
    const odd = parseKubevirtCluster({ ...cr, spec: { ...cr.spec, configuration: 'bad' } });
    expect(odd?.cluster.nodeSelectors).to.deep.equal({});
    expect(odd?.unreadable[0]).to.match(/^spec\.configuration/);
  });
});

describe('KubeVirt refusals and failure causes', () => {
  it('names KubeVirt\'s reason when LiveMigratable is False', () => {
    expect(notLiveMigratable(vmi())).to.equal(undefined);
    const stuck = vmi({}, { phase: 'Running', conditions: [{ type: 'LiveMigratable', status: 'False', reason: 'HostDeviceNotLiveMigratable', message: 'VMI specifies too many GPUs' }] });
    expect(notLiveMigratable(stuck)).to.match(/LiveMigratable=False, reason HostDeviceNotLiveMigratable: VMI specifies too many GPUs/);
  });

  it('reads a failure cause from failureReason, the VMI state, then conditions and Warning Events', () => {
    const vmim: Vmim = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: 'm', namespace: 'vms', uid: 'mu' }, spec: { vmiName: 'vm' }, status: { phase: 'Failed' } };
    const events = [
      { type: 'Normal', reason: 'SuccessfulDelete', message: 'unschedulable pod vms/p timeout period exceeded', time: '2026-01-01T00:00:02Z', name: 'm.1' },
      { type: 'Warning', reason: 'FailedMigration', message: 'Migration target pod was removed during active migration.', time: '2026-01-01T00:00:03Z', name: 'm.2' },
    ];
    expect(vmimFailureCause({ ...vmim, status: { phase: 'Failed', migrationState: { failureReason: 'boom' } } }, events)).to.equal('boom');
    expect(vmimFailureCause(vmim, events, { migrationUid: 'mu', failureReason: 'from the VMI' })).to.equal('from the VMI');
    expect(vmimFailureCause(vmim, events, { migrationUid: 'other', failureReason: 'not this one' })).to.equal('FailedMigration: Migration target pod was removed during active migration.');
    const aborted = { ...vmim, status: { phase: 'Failed', conditions: [{ type: 'AbortRequested', status: 'True' }] } };
    expect(vmimFailureCause(aborted, [])).to.equal('condition AbortRequested');
    expect(vmimFailureCause(vmim, [])).to.match(/recorded no reason/);
  });

  it('reads a target pod leniently: Pending with the scheduler\'s reason', () => {
    const pod = parseTargetPod({ metadata: { name: 'p' }, spec: {}, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available' }] } });
    expect(pod).to.deep.equal({ name: 'p', phase: 'Pending', unschedulable: 'Unschedulable: 0/3 nodes are available' });
    expect(parseTargetPod({ metadata: { name: 'q' }, spec: { nodeName: 7 }, status: 'odd' })).to.deep.equal({ name: 'q', phase: '' });
  });

  it('groups devices into KubeVirt device-plugin pools by type name, spaces as "_", else the type id', () => {
    expect(mdevPoolKey({ id: 'nvidia-1012', name: 'GRID H100-4C' })).to.equal('GRID_H100-4C');
    expect(mdevPoolKey({ id: 'mtty-2' })).to.equal('mtty-2');
  });
});
