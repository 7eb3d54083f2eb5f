// Seeding a fresh decider's verdict cache from the MdevProbe answers already in the cluster (the
// webhook's and plan-drain's start): a verdict is keyed by the target version that was tested.
import { expect } from 'chai';
import { versionHash, type MdevDevice, type MdevProbe, type ProbeResult } from '../../../src/api/v1alpha1/index.ts';
import { VerdictCache } from '../../../src/placement/index.ts';
import { warmCacheFromProbes } from '../../../src/webhook/live-view.ts';

const SOURCE = 'nvml-vgpu.1.SOURCE';
const CLASS = 'nvml-pgpu.1.GPU.nvidia-1012';
const INSTANCE = 'nvml-vgpu.1.NOW-RUNNING';

function device(name: string, version: string): MdevDevice {
  return {
    apiVersion: 'mdev-operator.io/v1alpha1',
    kind: 'MdevDevice',
    metadata: { name },
    spec: { nodeName: 'w', id: '0000:41:00.4', kind: 'vfio-pci', type: { id: 'nvidia-1012' }, parent: { address: '0000:41:00.0' } },
    status: { migratable: true, migrationVersion: version, backend: 'nvml' },
  };
}

function probe(results: ProbeResult[]): MdevProbe {
  return {
    apiVersion: 'mdev-operator.io/v1alpha1',
    kind: 'MdevProbe',
    metadata: { name: 'w.abc', generation: 1 },
    spec: { nodeName: 'w', typeId: 'nvidia-1012', sourceVersion: SOURCE },
    status: { observedGeneration: 1, results },
  };
}

describe('verdict cache seeded from probe answers', () => {
  it('keys a verdict by the version the device had when tested, found on any device that has it now', () => {
    // w.taken was a free device (CLASS) when tested; a VM started on it since, so it reports INSTANCE now.
    const devices = [device('w.taken', INSTANCE), device('w.free', CLASS)];
    const cache = new VerdictCache();
    const seeded = warmCacheFromProbes(cache, [probe([{ device: 'w.taken', accepted: true, reason: 'LIVE', targetVersionHash: versionHash(CLASS) }])], devices);
    expect(seeded).to.equal(1);
    expect(cache.get('nvidia-1012', SOURCE, CLASS)?.accepted).to.equal(true);
    expect(cache.get('nvidia-1012', SOURCE, INSTANCE)).to.equal(undefined);
  });

  it('skips a digest no device has any more, and uses the current version of answers without one', () => {
    const devices = [device('w.taken', INSTANCE)];
    const cache = new VerdictCache();
    expect(warmCacheFromProbes(cache, [probe([{ device: 'w.taken', accepted: true, reason: 'LIVE', targetVersionHash: versionHash(CLASS) }])], devices)).to.equal(0);
    expect(warmCacheFromProbes(cache, [probe([{ device: 'w.taken', accepted: false, reason: 'EINVAL: x' }])], devices)).to.equal(1);
    expect(cache.get('nvidia-1012', SOURCE, INSTANCE)?.accepted).to.equal(false);
  });
});
