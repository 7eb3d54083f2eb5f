// Malformed objects written straight into the REAL kube-apiserver, bypassing our code: KubeVirt
// STAND-IN kinds (their CRDs preserve unknown fields, so the API server accepts garbage) and a Lease
// that is not an agent's in the operator namespace: every loop skips those with a logged reason,
// counted in informer_malformed_objects_total per informer, and the test checks each count. A
// launcher Pod bound to no node is not garbage but nothing a kubelet sees: the fleet's kubelet
// stand-in watches bound pods only (spec.nodeName!=), so it neither reads nor counts it. Core kinds are validated by the API server itself, so an
// odd Node or agent Lease cannot be malformed: those are read as they are (checked in the cache, not
// counted as skipped). Every loop — the controller's informers and reconciler, the agent (stand-in
// node, real agent code), the KubeVirt stand-in simulator — keeps working.
import { expect } from 'chai';
import { unreadableFields } from '../../../src/kube/lenient-decode.ts';
import { MDEV_PROBES } from '../../../src/controller/resources.ts';
import { mergePatch } from '../../../src/kube/apply.ts';
import { agentLeaseName } from '../../../src/api/v1alpha1/names.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { VMI_RESOURCE, VMIM_RESOURCE } from '../../../src/kubevirt/types.ts';
import { metricValue } from '../../../src/observability/metrics.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { expectInvariants } from '../../support/faults/invariants.ts';
import { FaultWorld, h100 } from '../../support/faults/world.ts';

describe('faults: malformed objects written straight into the API (stand-in fleet, KubeVirt stand-in)', function () {
  this.timeout(180_000);
  const kc = testKubeConfig();
  let world: FaultWorld;
  const oddNode = uniqueName('fodd-node');

  before(async () => {
    world = await FaultWorld.start({
      kc, prefix: 'fodd', kubevirt: { stepDelayMs: 20 },
      nodes: [{ suffix: 'src', gpus: [h100('550.54.15')] }, { suffix: 'dst', gpus: [h100('550.90.07')] }],
    });
    await world.startController();
  });

  after(async () => {
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/nodes/${oddNode}` }).catch(() => undefined);
    await world?.stop();
  });

  it('reads a garbage VMI without its unreadable fields (named, and a migration of it fails naming them); skips a garbage VMIM and a non-agent Lease, each counted; the kubelet stand-in never sees a node-less launcher Pod; reads odd Nodes and agent Leases as they are; every loop keeps running', async () => {
    const ns = world.ns;
    const count = (resource: string) => metricValue('informer_malformed_objects_total', { resource });
    const malformed = async () => ({
      vmis: await count('controller-vmis'),
      vmims: await count('controller-vmims'),
      leases: await count('controller-agent-leases'),
      nodes: await count('controller-nodes'),
      pods: await count('fleet-kubelet-pods'),
    });
    const before = await malformed();
    const post = (path: string, body: unknown) => kubeRequest(kc, { method: 'POST', path, body });

    // A VMI whose spec and status are garbage of the wrong types.
    await post(resourcePath(VMI_RESOURCE, { namespace: ns }), { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name: 'garbage-vmi', namespace: ns }, spec: { domain: 'not-an-object', nodeSelector: [1, 2] } });
    // KubeVirt's VMI has no status subresource: status is written with the object.
    await mergePatch(kc, VMI_RESOURCE, { namespace: ns, name: 'garbage-vmi' }, { status: { nodeName: 42, phase: ['Running'], conditions: 'yes' } });
    // A VMIM naming no VMI in a usable way, and one with a garbage status phase.
    // (In the operator's namespace: the KubeVirt stand-in's admission, like KubeVirt's, refuses it in
    // the VMs' namespace, and a garbage object must reach the informers to be skipped.)
    await post(resourcePath(VMIM_RESOURCE, { namespace: world.opNs }), { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: 'garbage-vmim', namespace: world.opNs }, spec: { vmiName: { nested: true } } });
    // Agent Leases without a spec, and with a nonsense duration, for a node that does not exist;
    // and a Lease in the operator namespace that is no agent's (skipped by the agent-lease informer).
    const leases = `/apis/coordination.k8s.io/v1/namespaces/${world.opNs}/leases`;
    await post(leases, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: agentLeaseName('no-such-node') } });
    await post(leases, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: agentLeaseName(oddNode) }, spec: { holderIdentity: 'someone-else', leaseDurationSeconds: 2147483647 } });
    await post(leases, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'not-an-agent-lease' }, spec: { holderIdentity: 'x' } });
    // A Node with odd content and no agent, and a launcher Pod for a VMI uid that never existed.
    await post('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: oddNode, labels: { 'mdev-operator.io/node': 'x'.repeat(63) }, annotations: { junk: 'y'.repeat(100_000) } }, spec: { unschedulable: false, taints: [{ key: 'odd', effect: 'NoSchedule', value: '' }] } });
    await post(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'virt-launcher-ghost-abcde', namespace: ns, labels: { 'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': 'no-such-uid' }, annotations: { 'sim.mdev-operator.io/allocated-devices': ',,../../etc,' } },
      spec: { nodeName: oddNode, containers: [{ name: 'compute', image: 'none' }] },
    });
    // A launcher Pod bound to no node (no scheduler runs here): no kubelet could report it.
    await post(`/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'virt-launcher-nowhere-abcde', namespace: ns, labels: { 'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': 'no-such-uid' } },
      spec: { containers: [{ name: 'compute', image: 'none' }] },
    });
    // A migration of the garbage VMI: it must end, with a reason, rather than wedge the queue.
    await world.createMigration('of-garbage', { vmiName: 'garbage-vmi' });

    // Every loop still works: a real migration succeeds end to end, and an agent answers a probe.
    await world.fleet.startVm({ namespace: ns, name: 'vm-ok', node: world.node('src') });
    await world.createMigration('ok', { vmiName: 'vm-ok' });
    const ok = await world.waitForPhase('ok', ['Succeeded', 'Failed'], 60_000);
    expect(ok.status?.phase, ok.status?.message).to.equal('Succeeded');
    const garbage = await world.waitForPhase('of-garbage', ['Succeeded', 'Failed'], 60_000);
    expect(garbage.status?.phase).to.equal('Failed');
    expect(garbage.status?.message, garbage.status?.message).to.match(/garbage-vmi.*(spec\.nodeSelector|status\.(phase|nodeName|conditions))/);
    const version = (await world.devicesOf(world.node('dst')))[0]?.status?.migrationVersion as string;
    const probe = await world.answered(await world.createProbe(world.node('dst'), version, 'nvidia-1012', ';after-garbage'));
    expect(probe.status?.results?.length).to.be.greaterThan(0);

    const after = await malformed();
    // Lenient decoding: the VMI's identity is readable, so it is kept without the fields that are not
    // (named), and a migration of it fails naming them instead of the VMI vanishing from the cache.
    expect(after.vmis - before.vmis, 'the garbage VMI is read without its unreadable fields, not skipped').to.equal(0);
    const garbageVmi = world.managers[0]!.caches().vmis.get(`${ns}/garbage-vmi`);
    expect(garbageVmi && unreadableFields(garbageVmi)).to.include.members(['spec.nodeSelector', 'spec.domain', 'status.phase', 'status.nodeName', 'status.conditions']);
    expect(after.vmims - before.vmims, 'the garbage VMIM was skipped and counted').to.be.at.least(1);
    expect(after.leases - before.leases, 'the Lease that is no agent\'s was skipped and counted').to.be.at.least(1);
    expect(after.pods - before.pods, 'the launcher Pod without a node is outside the kubelet stand-in\'s watch: not read as malformed').to.equal(0);
    expect(after.nodes - before.nodes, 'the odd Node is valid to the API server and read, not skipped').to.equal(0);
    // Read as they are: the odd Node with its taint, the odd agent Leases (no spec: it never binds).
    const caches = world.managers[0]!.caches();
    expect(caches.nodes.get(oddNode)?.taints).to.deep.include({ key: 'odd', effect: 'NoSchedule' });
    expect(caches.leases.get(`${world.opNs}/${agentLeaseName(oddNode)}`)).to.include({ holderIdentity: 'someone-else', leaseDurationSeconds: 2147483647 });
    expect(caches.leases.get(`${world.opNs}/${agentLeaseName('no-such-node')}`)).to.deep.equal({ name: agentLeaseName('no-such-node'), nodeName: 'no-such-node' });
    expect(caches.leases.get(`${world.opNs}/not-an-agent-lease`)).to.equal(undefined);
    // The simulator never acted on the garbage VMIM.
    const vmim = (await kubeRequest(kc, { method: 'GET', path: resourcePath(VMIM_RESOURCE, { namespace: world.opNs, name: 'garbage-vmim' }) })) as { status?: unknown };
    expect(vmim.status ?? {}).to.deep.equal({});
    // The garbage VMI runs nowhere; the invariants are about VMIs that do.
    await kubeRequest(kc, { method: 'DELETE', path: resourcePath(VMI_RESOURCE, { namespace: ns, name: 'garbage-vmi' }) });
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${ns}/pods/virt-launcher-ghost-abcde`, query: { gracePeriodSeconds: 0 } });
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${ns}/pods/virt-launcher-nowhere-abcde`, query: { gracePeriodSeconds: 0 } });
    await kubeRequest(kc, { method: 'DELETE', path: resourcePath(MDEV_PROBES), query: { labelSelector: `mdev-operator.io/node=${oddNode}` } }).catch(() => undefined);
    await expectInvariants(world.scope());
  });
});
