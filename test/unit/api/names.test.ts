import { expect } from 'chai';
import fc from 'fast-check';
import { agentLeaseName, deviceObjectName, probeObjectName, versionHash } from '../../../src/api/v1alpha1/index.ts';
import { isObjectName } from '../../../src/api/validation.ts';

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
const nodeName = fc.array(label, { minLength: 1, maxLength: 6 }).map((ls) => ls.join('.').slice(0, 253).replace(/[^a-z0-9]+$/, '')).filter(isObjectName);
const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const uuid = fc.tuple(hex(8), hex(4), hex(4), hex(4), hex(12)).map((p) => p.join('-'));
const pci = fc.tuple(hex(4), hex(2), hex(2), fc.integer({ min: 0, max: 7 })).map(([d, b, s, f]) => `${d}:${b}:${s}.${f}`);

describe('api/v1alpha1 object names', () => {
  it('agentLeaseName names the lease after the node and rejects names that are not valid object names', () => {
    expect(agentLeaseName('worker-7')).to.equal('mdev-agent.worker-7');
    expect(() => agentLeaseName('Worker_7/../x')).to.throw(/valid Lease name/);
  });

  it('deviceObjectName joins node and id, PCI colons become "-"', () => {
    expect(deviceObjectName('worker-1', '6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11')).to.equal('worker-1.6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11');
    expect(deviceObjectName('worker-1', '0000:41:00.4')).to.equal('worker-1.0000-41-00.4');
    expect(deviceObjectName('Worker-1', '0000:41:00.4')).to.equal('worker-1.0000-41-00.4');
  });

  it('deviceObjectName is a valid, deterministic object name for any node and device id', () => {
    fc.assert(
      fc.property(nodeName, fc.oneof(uuid, pci), (node, id) => {
        const name = deviceObjectName(node, id);
        expect(isObjectName(name), name).to.equal(true);
        expect(name.length).to.be.at.most(253);
        expect(deviceObjectName(node, id)).to.equal(name);
      }),
    );
  });

  it('deviceObjectName falls back to <node>.<16 hex> when the joined name would exceed 253 characters', () => {
    const node = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(50)}`;
    const name = deviceObjectName(node, '6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11');
    expect(name).to.match(/\.[0-9a-f]{16}$/);
    expect(isObjectName(name)).to.equal(true);
    expect(name).not.to.equal(deviceObjectName(node, '11111111-1b7d-4c55-9a43-2f4c1f0c9e11'));
  });

  it('versionHash is 32 lowercase hex characters, label-safe, and differs for different strings', () => {
    const a = versionHash('nv1;board=H100;host=550.54.15');
    expect(a).to.match(/^[0-9a-f]{32}$/);
    expect(versionHash('nv1;board=H100;host=550.54.15')).to.equal(a);
    expect(versionHash('nv1;board=H100;host=550.54.16')).not.to.equal(a);
  });

  it('probeObjectName is <node>.<16 hex>, deterministic in (node, type, source string)', () => {
    const name = probeObjectName('worker-7', 'nvidia-1012', 'nv1;x');
    expect(name).to.match(/^worker-7\.[0-9a-f]{16}$/);
    expect(probeObjectName('worker-7', 'nvidia-1012', 'nv1;x')).to.equal(name);
    expect(probeObjectName('worker-7', 'nvidia-1013', 'nv1;x')).not.to.equal(name);
    expect(probeObjectName('worker-7', 'nvidia-1012', 'nv1;y')).not.to.equal(name);
    expect(probeObjectName('worker-8', 'nvidia-1012', 'nv1;x')).not.to.match(/^worker-7/);
  });

  it('probeObjectName stays a valid name for any node, type and version string', () => {
    fc.assert(
      fc.property(nodeName, fc.string({ minLength: 1, maxLength: 40 }), fc.string({ minLength: 1 }), (node, type, version) => {
        const name = probeObjectName(node, type, version);
        expect(isObjectName(name), name).to.equal(true);
      }),
    );
  });
});
