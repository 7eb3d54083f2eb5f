import { expect } from 'chai';
import { agentLeaseFresh, agentState, buildDeviceHalf, buildNodeHalf, buildSnapshot, parseAgentLease, parseNode, toCapacity, toDevice, toSourceVm } from '../../../src/controller/snapshot.ts';
import type { MdevNode } from '../../../src/api/v1alpha1/index.ts';
import { device, lease, mdevNode, NOW, nodeObj, view, vmi } from './fixtures.ts';

describe('controller snapshot adapters', () => {
  it('reads a Node: labels, cordon and taints (a taint effect it does not know is kept)', () => {
    const n = parseNode({
      metadata: { name: 'w1', labels: { a: 'b' } },
      spec: { unschedulable: true, taints: [{ key: 'gpu', value: 'x', effect: 'NoSchedule' }, { key: 'odd', effect: 'Sometimes' }] },
    });
    expect(n).to.deep.equal({ name: 'w1', labels: { a: 'b' }, unschedulable: true, taints: [{ key: 'gpu', value: 'x', effect: 'NoSchedule' }, { key: 'odd', effect: 'Sometimes' }] });
    expect(parseNode({ metadata: {} })).to.equal(undefined);
  });

  it('keeps a Node whose taints cannot be read, naming the field (placement then excludes it)', () => {
    const n = parseNode({ metadata: { name: 'w1', labels: { a: 'b' } }, spec: { taints: 'gpu=x:NoSchedule' } });
    expect(n?.name).to.equal('w1');
    expect(n?.taints).to.deep.equal([]);
    expect(n?.unreadable).to.match(/^spec\.taints \(spec\.taints: .*expected array/);
  });

  it('accepts only mdev-agent.<node> Leases and judges freshness by renewTime + duration', () => {
    expect(parseAgentLease({ metadata: { name: 'other-lease' }, spec: {} })).to.equal(undefined);
    const l = parseAgentLease({ metadata: { name: 'mdev-agent.w1' }, spec: { holderIdentity: 'w1', leaseDurationSeconds: 40, renewTime: new Date(NOW - 39_000).toISOString() } });
    expect(l?.nodeName).to.equal('w1');
    expect(agentLeaseFresh(l, NOW)).to.equal(true);
    expect(agentLeaseFresh(l, NOW + 2_000)).to.equal(false);
    expect(agentLeaseFresh(undefined, NOW)).to.equal(false);
  });

  it('maps an MdevDevice into its pool: the type name with spaces as "_", as KubeVirt\'s device plugin names the resource', () => {
    expect(toDevice(device('w1', 1, 'v1'))).to.include({ name: 'w1.00000000-0000-4000-8000-000000000001', nodeName: 'w1', typeId: 'nvidia-1012', pool: 'nvidia-1012', version: 'v1', migratable: true });
    expect(toDevice(device('w1', 1, 'v1', { typeName: 'GRID H100-4C' })).pool).to.equal('GRID_H100-4C');
    expect(toDevice(device('w1', 2, 'v1', { consumer: 'vm' })).consumerUid).to.equal('uid-vm');
  });

  it('reads the capacity claims of MdevNodes, leaving out lapsed ones, and holds the device half until the first lapses', () => {
    const nodes = [mdevNode('w1', [['m1', 'GRID_H100-4C', 2], ['m2', 'GRID_H100-4C', 1, '2025-12-31T23:59:00Z']]), mdevNode('w2', [['m3', 'x', 1, '2026-01-01T00:10:00Z']])];
    const half = buildDeviceHalf({ devices: [], mdevNodes: nodes }, NOW);
    expect(half.index.claimsByNode.get('w1')).to.deep.equal([{ nodeName: 'w1', pool: 'GRID_H100-4C', migrationUid: 'uid-m1', units: 2 }]);
    expect(half.index.claimsByNode.get('w2')).to.have.length(1);
    expect(half.validUntil).to.equal(Date.parse('2026-01-01T00:10:00Z'));
  });

  it('reports spare capacity minus promised creations, leaving out unmigratable and exhausted entries', () => {
    const n: MdevNode = {
      apiVersion: 'mdev-operator.io/v1alpha1',
      kind: 'MdevNode',
      metadata: { name: 'w1' },
      spec: {
        nodeName: 'w1',
        backend: 'simulated',
        capacity: [
          { parent: { address: '0000:41:00.0' }, type: { id: 't' }, availableInstances: 3, migrationVersion: 'v', migratable: true },
          { parent: { address: '0000:42:00.0' }, type: { id: 't' }, availableInstances: 3, migratable: false },
          { parent: { address: '0000:43:00.0' }, type: { id: 't' }, availableInstances: 1, migrationVersion: 'v', migratable: true },
        ],
      },
    };
    const caps = toCapacity(n, new Map([['0000:43:00.0/t', 1], ['0000:41:00.0/t', 1]]));
    expect(caps).to.deep.equal([{ nodeName: 'w1', parentAddress: '0000:41:00.0', typeId: 't', pool: 't', availableInstances: 2, version: 'v' }]);
  });

  it('maps a VMI: a VMI that is not Running has no node', () => {
    expect(toSourceVm(vmi('vm', 'w1')).nodeName).to.equal('w1');
    expect(toSourceVm(vmi('vm', 'w1', 'Scheduling')).nodeName).to.equal('');
  });

  it('adds KubeVirt\'s target constraints: the hostname pin label, kubevirt.io/schedulable, the source\'s CPU vendor, the KubeVirt CR', () => {
    const source = nodeObj('w1', { labels: { 'kubernetes.io/hostname': 'w1', 'cpu-vendor.node.kubevirt.io/AMD': 'true' } });
    const vm = toSourceVm(vmi('vm', 'w1'), { sourceNode: source, cluster: { nodeSelectors: { pool: 'gpu' }, workloadPlacement: { nodeSelector: { infra: 'kv' }, tolerations: [] } } });
    expect(vm.pinLabel).to.equal('kubernetes.io/hostname');
    expect(vm.kubevirtLabels?.map((r) => `${r.key}=${r.value}`)).to.deep.equal(['cpu-vendor.node.kubevirt.io/AMD=true', 'kubevirt.io/schedulable=true', 'pool=gpu']);
    expect(vm.kubevirtPlacement?.nodeSelector).to.deep.equal({ infra: 'kv' });
  });

  it('builds the fleet: omitted nodes vanish, unresponsive ones lose agent freshness', () => {
    const snap = buildSnapshot(view([nodeObj('w1'), nodeObj('w2'), nodeObj('w3')], [lease('w1'), lease('w2'), lease('w3')], [device('w1', 1, 'v')]), {
      now: NOW,
      omitNodes: new Set(['w3']),
      unresponsive: new Set(['w2']),
    });
    expect(snap.fleet.nodes.map((n) => [n.name, n.agentFresh])).to.deep.equal([['w1', true], ['w2', false]]);
    expect(snap.devices).to.have.length(1);
  });
});

describe('agent state judged against how current the Lease cache is (issue 18)', () => {
  const expired = lease('w1', 45_000); // renewed 45 s ago, 40 s duration: looks expired at NOW
  it('a fresh lease is fresh until it lapses, whatever the cache', () => {
    expect(agentState(lease('w1'), NOW, NOW)).to.deep.equal({ state: 'fresh', until: NOW - 1_000 + 40_000 });
  });

  it('an expired-looking lease is unknown until the cache has been current for one lease duration, then expired', () => {
    const since = NOW - 10_000; // the cache caught up 10 s ago (an API server outage ended)
    const s = agentState(expired, NOW, since);
    expect(s.state).to.equal('unknown');
    expect(s.state === 'unknown' && s.until).to.equal(since + 40_000);
    expect(s.state === 'unknown' && s.message).to.match(/mdev-agent\.w1 looks expired .* waiting until .* for a renewal/);
    expect(agentState(expired, since + 39_999, since).state).to.equal('unknown');
    expect(agentState(expired, since + 40_000, since).state).to.equal('expired');
    expect(agentState(expired, NOW, NOW - 60_000).state, 'current for longer than a lease duration').to.equal('expired');
    expect(agentState(expired, NOW).state, 'a view without currency (built by hand) has no grace').to.equal('expired');
  });

  it('while the cache is behind (+Infinity) nothing but a fresh lease can be judged; a missing lease is expired only in a current cache', () => {
    expect(agentState(expired, NOW, Number.POSITIVE_INFINITY)).to.include({ state: 'unknown', until: Number.POSITIVE_INFINITY });
    expect(agentState(undefined, NOW, Number.POSITIVE_INFINITY).state).to.equal('unknown');
    expect(agentState(undefined, NOW, NOW).state).to.equal('expired');
  });

  it('the node half reports unknown agents, keeps them out of the targets with their own message, and is valid until the grace ends', () => {
    const since = NOW - 10_000;
    const half = buildNodeHalf({ ...view([nodeObj('w1'), nodeObj('w2'), nodeObj('w3')], [expired, lease('w2', 5_000), lease('w3', 60_000)], []), currentSince: since }, { now: NOW });
    expect(half.unknownAgents).to.deep.equal(['w1', 'w3']);
    expect(half.nodes.map((n) => [n.name, n.agentFresh, n.agentUnknown !== undefined])).to.deep.equal([['w1', false, true], ['w2', true, false], ['w3', false, true]]);
    expect(half.validUntil, 'rebuilt when the first grace ends or the fresh lease lapses').to.equal(Math.min(since + 40_000, NOW - 5_000 + 40_000));
    const later = buildNodeHalf({ ...view([nodeObj('w1')], [expired], []), currentSince: since }, { now: since + 40_000 });
    expect(later.unknownAgents).to.deep.equal([]);
    expect(later.nodes[0]?.agentUnknown).to.equal(undefined);
  });
});
