// KubeVirt STAND-IN tests on the real local kube-apiserver: the stand-in CRDs, the VMI factory and
// the simulator that plays virt-controller/virt-handler for VirtualMachineInstanceMigrations.
import { expect } from 'chai';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest } from '../../../src/kube/request.ts';
import { createVmim, getVmi, getVmim } from '../../../src/kubevirt/client.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import { LABEL_NODE_NAME, type Vmim } from '../../../src/kubevirt/types.ts';
import { listLauncherPods } from '../../../dev/sim/kubevirt/core-objects.ts';
import { ANNOTATION_FAIL_AT, parseAllocatedDevices } from '../../../dev/sim/kubevirt/launcher-pod.ts';
import { startKubevirtSimulator, type KubevirtSimulator } from '../../../dev/sim/kubevirt/simulator.ts';
import { createRunningVmi, deleteRunningVmi } from '../../../dev/sim/kubevirt/vmi-factory.ts';
import { kubectl, testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { poll } from '../../support/poll.ts';

const GPU = { name: 'gpu1', deviceName: 'nvidia.com/NVIDIA_H100-4C' };
const SOURCE_DEVICE = '6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11';
const TARGET_DEVICE = '91ab0000-1b7d-4c55-9a43-2f4c1f0c9e22';

function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  return poll(what, probe, timeoutMs, 50);
}

function waitFinal(kc: KubeConfig, ns: string, name: string): Promise<Vmim> {
  return waitFor(`VMIM ${ns}/${name} to finish`, async () => {
    const v = await getVmim(kc, ns, name);
    return v && ['Succeeded', 'Failed'].includes(v.status?.phase ?? '') ? v : undefined;
  });
}

async function createNode(kc: KubeConfig, name: string, labels: Record<string, string>, unschedulable = false): Promise<void> {
  await kubeRequest(kc, {
    method: 'POST',
    path: '/api/v1/nodes',
    body: { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } }, spec: { unschedulable } },
  });
}

async function createNamespace(kc: KubeConfig, name: string): Promise<void> {
  await kubeRequest(kc, { method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
}

async function deleteQuietly(kc: KubeConfig, path: string): Promise<void> {
  await kubeRequest(kc, { method: 'DELETE', path }).catch(() => undefined);
}

/** Pods bound to a node never finish a graceful deletion without a kubelet: remove them at once. */
async function deleteNamespace(kc: KubeConfig, ns: string): Promise<void> {
  await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${ns}/pods`, query: { gracePeriodSeconds: 0 } }).catch(() => undefined);
  await deleteQuietly(kc, `/api/v1/namespaces/${ns}`);
}

describe('KubeVirt stand-in (CRDs + simulator standing in for virt-controller/virt-handler)', function () {
  this.timeout(60_000);
  const kc = testKubeConfig();
  const ns = uniqueName('kv');
  const group = uniqueName('grp');
  const node = (s: string): string => `${group}-${s}`;
  const nodes = ['a', 'b', 'c', 'd'].map(node);
  const allocations: { vmi: string; node: string }[] = [];
  let sim: KubevirtSimulator;

  before(async () => {
    await installKubevirtStandins(kc);
    await createNamespace(kc, ns);
    for (const n of nodes) await createNode(kc, n, { 'sim.test/group': group }, n === node('d'));
    sim = startKubevirtSimulator({
      kc,
      namespace: ns,
      stepDelayMs: 10,
      pollIntervalMs: 50,
      allocateDevices: (vmi, targetNode) => {
        allocations.push({ vmi: vmi.metadata.name, node: targetNode });
        return [TARGET_DEVICE];
      },
    });
  });

  after(async () => {
    await sim?.stop();
    for (const n of nodes) await deleteQuietly(kc, `/api/v1/nodes/${n}`);
    await deleteNamespace(kc, ns);
  });

  function runningVmi(name: string, nodeName = node('a')) {
    return createRunningVmi(kc, { namespace: ns, name, nodeName, gpus: [GPU], deviceIds: [SOURCE_DEVICE], nodeSelector: { 'sim.test/group': group } });
  }

  it('installs CRDs that are Established with KubeVirt real group, version and kinds (idempotently)', async () => {
    await installKubevirtStandins(kc);
    const expected: [string, string][] = [['virtualmachineinstances.kubevirt.io', 'VirtualMachineInstance'], ['virtualmachineinstancemigrations.kubevirt.io', 'VirtualMachineInstanceMigration']];
    for (const [name, kind] of expected) {
      const r = await kubectl(['get', 'crd', name, '-o', 'json']);
      expect(r.code, r.stderr).to.equal(0);
      const crd = JSON.parse(r.stdout) as { spec: { group: string; names: { kind: string }; scope: string; versions: { name: string }[] }; status: { conditions: { type: string; status: string }[] } };
      expect(crd.spec.group).to.equal('kubevirt.io');
      expect(crd.spec.names.kind).to.equal(kind);
      expect(crd.spec.scope).to.equal('Namespaced');
      expect(crd.spec.versions.map((v) => v.name)).to.deep.equal(['v1']);
      expect(crd.status.conditions.find((c) => c.type === 'Established')?.status).to.equal('True');
    }
  });

  it('serves kubectl get vmi,vmim with the stand-in printer columns', async () => {
    await runningVmi('vm-kubectl');
    const r = await kubectl(['get', 'vmi,vmim', '-n', ns]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/NODENAME/);
    expect(r.stdout).to.match(new RegExp(`vm-kubectl\\s+\\S+\\s+Running\\s+(?:\\S+\\s+)?${node('a')}\\s+True`));
    const short = await kubectl(['get', 'vmis', 'vm-kubectl', '-n', ns, '-o', 'jsonpath={.status.nodeName}']);
    expect(short.stdout).to.equal(node('a'));
  });

  it('creates a running VMI whose virt-launcher pod carries the allocated devices', async () => {
    const { vmi, podName } = await runningVmi('vm-factory');
    expect(vmi.status?.phase).to.equal('Running');
    expect(vmi.metadata.labels?.[LABEL_NODE_NAME]).to.equal(node('a'));
    const pods = await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid });
    expect(pods.map((p) => [p.metadata.name, p.spec.nodeName])).to.deep.equal([[podName, node('a')]]);
    expect(parseAllocatedDevices(pods[0]?.metadata.annotations)).to.deep.equal([SOURCE_DEVICE]);
  });

  it('moves the VMI and its launcher pod to the node pinned by addedNodeSelector', async () => {
    const { vmi, podName } = await runningVmi('vm-pinned');
    await createVmim(kc, { namespace: ns, name: 'mig-pinned', vmiName: 'vm-pinned', addedNodeSelector: { 'kubernetes.io/hostname': node('b') } });
    const done = await waitFinal(kc, ns, 'mig-pinned');
    expect(done.status?.phase, JSON.stringify(done.status)).to.equal('Succeeded');
    expect(done.status?.phaseTransitionTimestamps?.map((t) => t.phase)).to.deep.equal(['Pending', 'Scheduling', 'Scheduled', 'PreparingTarget', 'TargetReady', 'Running', 'Succeeded']);

    const moved = await getVmi(kc, ns, 'vm-pinned');
    expect(moved?.status?.nodeName).to.equal(node('b'));
    expect(moved?.metadata.labels?.[LABEL_NODE_NAME]).to.equal(node('b'));
    expect(moved?.status?.migrationState).to.include({ sourceNode: node('a'), targetNode: node('b'), completed: true, migrationUid: done.metadata.uid });
    expect(moved?.status?.migrationState?.startTimestamp).to.be.a('string');
    expect(moved?.status?.migrationState?.endTimestamp).to.be.a('string');

    const pods = await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid });
    expect(pods).to.have.length(1);
    expect(pods[0]?.metadata.name).to.not.equal(podName);
    expect(pods[0]?.metadata.name).to.match(/^virt-launcher-vm-pinned-[a-z0-9]{5}$/);
    expect(pods[0]?.spec.nodeName).to.equal(node('b'));
    expect(parseAllocatedDevices(pods[0]?.metadata.annotations)).to.deep.equal([TARGET_DEVICE]);
    expect(allocations).to.deep.include({ vmi: 'vm-pinned', node: node('b') });

    const table = await kubectl(['get', 'vmims', 'mig-pinned', '-n', ns, '--no-headers']);
    expect(table.stdout.trim().split(/\s+/)).to.deep.equal(['mig-pinned', 'Succeeded', 'vm-pinned']);
  });

  it('fails a VMIM whose selector no node satisfies, leaving the VMI where it was', async () => {
    const { vmi, podName } = await runningVmi('vm-nowhere');
    await createVmim(kc, { namespace: ns, name: 'mig-nowhere', vmiName: 'vm-nowhere', addedNodeSelector: { 'kubernetes.io/hostname': node('d') } });
    const done = await waitFinal(kc, ns, 'mig-nowhere');
    expect(done.status?.phase).to.equal('Failed');
    expect(done.status?.migrationState?.failureReason).to.contain('0/').and.to.contain('were unschedulable');
    const still = await getVmi(kc, ns, 'vm-nowhere');
    expect(still?.status?.nodeName).to.equal(node('a'));
    const pods = await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid });
    expect(pods.map((p) => p.metadata.name)).to.deep.equal([podName]);
  });

  it('fails at the phase named by the fail-at annotation and removes the target pod', async () => {
    const { vmi, podName } = await runningVmi('vm-injected');
    await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachineInstanceMigration',
        metadata: { name: 'mig-injected', namespace: ns, annotations: { [ANNOTATION_FAIL_AT]: 'TargetReady' } },
        spec: { vmiName: 'vm-injected', addedNodeSelector: { 'kubernetes.io/hostname': node('c') } },
      }),
    });
    const done = await waitFinal(kc, ns, 'mig-injected');
    expect(done.status?.phase).to.equal('Failed');
    expect(done.status?.phaseTransitionTimestamps?.map((t) => t.phase)).to.deep.equal(['Pending', 'Scheduling', 'Scheduled', 'PreparingTarget', 'Failed']);
    expect(done.status?.migrationState?.failureReason).to.contain('injected failure at phase TargetReady');
    expect(done.status?.migrationState?.targetPod, 'a target pod was created before the failure').to.be.a('string');
    expect((await getVmi(kc, ns, 'vm-injected'))?.status?.nodeName).to.equal(node('a'));
    const pods = await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid });
    expect(pods.map((p) => p.metadata.name)).to.deep.equal([podName]);
  });

  it('rejects a fail-at annotation that names no phase, with the valid phases in the reason', async () => {
    await runningVmi('vm-typo');
    await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: 'mig-typo', namespace: ns, annotations: { [ANNOTATION_FAIL_AT]: 'Prepare' } }, spec: { vmiName: 'vm-typo' } }),
    });
    const done = await waitFinal(kc, ns, 'mig-typo');
    expect(done.status?.migrationState?.failureReason).to.contain('names no migration phase').and.to.contain('PreparingTarget');
  });

  it('deletes a stand-in VMI together with its launcher pods', async () => {
    const { vmi } = await runningVmi('vm-delete');
    await deleteRunningVmi(kc, ns, 'vm-delete');
    expect(await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid })).to.deep.equal([]);
    expect(await getVmi(kc, ns, 'vm-delete')).to.equal(undefined);
  });

  it('fails a VMIM for a VMI that does not exist', async () => {
    await createVmim(kc, { namespace: ns, name: 'mig-ghost', vmiName: 'vm-ghost' });
    const done = await waitFinal(kc, ns, 'mig-ghost');
    expect(done.status?.phase).to.equal('Failed');
    expect(done.status?.migrationState?.failureReason).to.contain(`VirtualMachineInstance ${ns}/vm-ghost does not exist`);
  });
});

describe('KubeVirt stand-in simulator: scheduling without a pin and restarts', function () {
  this.timeout(60_000);
  const kc = testKubeConfig();
  const ns = uniqueName('kvp');
  const group = uniqueName('grp');
  const node = (s: string): string => `${group}-${s}`;
  const nodes = ['a', 'b', 'c', 'd'].map(node);
  const sims: KubevirtSimulator[] = [];

  before(async () => {
    await installKubevirtStandins(kc);
    await createNamespace(kc, ns);
    // b is cordoned; c and d are schedulable, so spreading decides between them.
    for (const n of nodes) await createNode(kc, n, { 'sim.test/group': group }, n === node('b'));
  });

  after(async () => {
    for (const s of sims) await s.stop();
    for (const n of nodes) await deleteQuietly(kc, `/api/v1/nodes/${n}`);
    await deleteNamespace(kc, ns);
  });

  function runningVmi(name: string) {
    return createRunningVmi(kc, { namespace: ns, name, nodeName: node('a'), gpus: [GPU], nodeSelector: { 'sim.test/group': group } });
  }

  it('places a plain VMIM on the least-loaded schedulable node, ties broken by name', async () => {
    sims.push(startKubevirtSimulator({ kc, namespace: ns, stepDelayMs: 0, pollIntervalMs: 50 }));
    await runningVmi('vm-one');
    await createVmim(kc, { namespace: ns, name: 'mig-one', vmiName: 'vm-one' });
    const first = await waitFinal(kc, ns, 'mig-one');
    expect(first.status?.phase, first.status?.migrationState?.failureReason).to.equal('Succeeded');
    expect(first.status?.migrationState?.targetNode).to.equal(node('c'));

    // c now runs one launcher pod, d none: the next plain migration spreads to d.
    await runningVmi('vm-two');
    await createVmim(kc, { namespace: ns, name: 'mig-two', vmiName: 'vm-two' });
    const second = await waitFinal(kc, ns, 'mig-two');
    expect(second.status?.migrationState?.targetNode).to.equal(node('d'));
    expect((await getVmi(kc, ns, 'vm-two'))?.status?.nodeName).to.equal(node('d'));
  });

  it('continues a migration after a simulator restart without a duplicate target pod', async () => {
    for (const s of sims.splice(0)) await s.stop();
    const { vmi } = await runningVmi('vm-restart');
    let reachedScheduled: () => void = () => undefined;
    const scheduled = new Promise<void>((r) => (reachedScheduled = r));
    let allocationsBefore = 0;
    const first = startKubevirtSimulator({
      kc,
      namespace: ns,
      stepDelayMs: 200,
      pollIntervalMs: 50,
      allocateDevices: () => {
        allocationsBefore += 1;
        return [TARGET_DEVICE];
      },
      onPhase: (_v, phase) => phase === 'Scheduled' && reachedScheduled(),
    });
    sims.push(first);
    await createVmim(kc, { namespace: ns, name: 'mig-restart', vmiName: 'vm-restart', addedNodeSelector: { 'kubernetes.io/hostname': node('c') } });
    await scheduled;
    await first.stop();
    const paused = await getVmim(kc, ns, 'mig-restart');
    expect(['Scheduled', 'PreparingTarget']).to.include(paused?.status?.phase);

    let allocationsAfter = 0;
    sims.push(startKubevirtSimulator({ kc, namespace: ns, stepDelayMs: 0, pollIntervalMs: 50, allocateDevices: () => { allocationsAfter += 1; return []; } }));
    const done = await waitFinal(kc, ns, 'mig-restart');
    expect(done.status?.phase).to.equal('Succeeded');
    expect(done.status?.migrationState?.targetPod).to.equal(paused?.status?.migrationState?.targetPod);
    const pods = await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid });
    expect(pods.map((p) => [p.metadata.name, p.spec.nodeName])).to.deep.equal([[done.status?.migrationState?.targetPod, node('c')]]);
    expect(parseAllocatedDevices(pods[0]?.metadata.annotations)).to.deep.equal([TARGET_DEVICE]);
    expect([allocationsBefore, allocationsAfter]).to.deep.equal([1, 0]);
  });
  it('fails through the failWhen option just before Succeeded and marks the VMI migration failed', async () => {
    for (const s of sims.splice(0)) await s.stop();
    const { vmi, podName } = await runningVmi('vm-late');
    sims.push(startKubevirtSimulator({
      kc,
      namespace: ns,
      stepDelayMs: 0,
      pollIntervalMs: 50,
      failWhen: (vmim, next) => (vmim.metadata.name === 'mig-late' && next === 'Succeeded' ? 'target domain crashed (simulated)' : undefined),
    }));
    await createVmim(kc, { namespace: ns, name: 'mig-late', vmiName: 'vm-late', addedNodeSelector: { 'kubernetes.io/hostname': node('d') } });
    const done = await waitFinal(kc, ns, 'mig-late');
    expect(done.status?.phaseTransitionTimestamps?.map((t) => t.phase).slice(-2)).to.deep.equal(['Running', 'Failed']);
    expect(done.status?.migrationState?.failureReason).to.equal('target domain crashed (simulated)');
    const after = await getVmi(kc, ns, 'vm-late');
    expect(after?.status?.nodeName).to.equal(node('a'));
    expect(after?.status?.migrationState).to.include({ migrationUid: done.metadata.uid, failed: true, completed: false });
    const pods = await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid });
    expect(pods.map((p) => p.metadata.name)).to.deep.equal([podName]);
  });
});
