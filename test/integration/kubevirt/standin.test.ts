// KubeVirt STAND-IN tests on the real local kube-apiserver: the stand-in CRDs, the VMI factory and
// the simulator that plays virt-api admission, virt-controller, kube-scheduler, the device plugin
// and virt-handler for VirtualMachineInstanceMigrations, as strict as KubeVirt v1.9.
import { expect } from 'chai';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { mergePatch } from '../../../src/kube/apply.ts';
import { apiStatus } from '../../../src/kube/errors.ts';
import { listObjectEvents } from '../../../src/kube/object-events.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { createVmim, getVmi, getVmim, listVmims } from '../../../src/kubevirt/client.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import { LABEL_NODE_NAME, VMI_RESOURCE, VMIM_RESOURCE, type Vmim } from '../../../src/kubevirt/types.ts';
import { LABEL_VMI_NAME, VMIM_FINALIZER } from '../../../dev/sim/kubevirt/admission.ts';
import { listLauncherPods } from '../../../dev/sim/kubevirt/core-objects.ts';
import { ANNOTATION_FAIL_AT, parseAllocatedDevices } from '../../../dev/sim/kubevirt/launcher-pod.ts';
import { FINISHED_VMIMS_KEPT, startKubevirtSimulator, type KubevirtSimulator } from '../../../dev/sim/kubevirt/simulator.ts';
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

/** A final VMIM once the simulator settled it: migrationState copied, finalizer gone. */
function waitSettled(kc: KubeConfig, ns: string, name: string): Promise<Vmim> {
  return waitFor(`VMIM ${ns}/${name} to be settled`, async () => {
    const v = await getVmim(kc, ns, name);
    const finalizers = (v?.metadata as { finalizers?: string[] } | undefined)?.finalizers ?? [];
    return v && ['Succeeded', 'Failed'].includes(v.status?.phase ?? '') && !finalizers.includes(VMIM_FINALIZER) ? v : undefined;
  });
}

/** KubeVirt-labelled nodes (virt-handler's schedulable label) unless `labels` says otherwise. */
async function createNode(kc: KubeConfig, name: string, labels: Record<string, string>, unschedulable = false): Promise<void> {
  await kubeRequest(kc, {
    method: 'POST',
    path: '/api/v1/nodes',
    body: { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubevirt.io/schedulable': 'true', ...labels } }, spec: { unschedulable } },
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

/** The API server's refusal of a create, with its HTTP status. */
async function refusal(create: () => Promise<unknown>): Promise<{ code?: number; message?: string }> {
  try {
    await create();
  } catch (err) {
    return apiStatus(err);
  }
  throw new Error('the create was admitted');
}

describe('KubeVirt stand-in (CRDs + simulator standing in for virt-api, virt-controller, the scheduler and virt-handler)', function () {
  this.timeout(90_000);
  const kc = testKubeConfig();
  const ns = uniqueName('kv');
  const group = uniqueName('grp');
  const node = (s: string): string => `${group}-${s}`;
  // d is cordoned; e has no kubevirt.io/schedulable label (no virt-handler there).
  const nodes = ['a', 'b', 'c', 'd', 'e'].map(node);
  const allocations: { vmi: string; node: string }[] = [];
  let sim: KubevirtSimulator;

  before(async () => {
    await installKubevirtStandins(kc);
    await createNamespace(kc, ns);
    for (const n of nodes) await createNode(kc, n, { 'sim.test/group': group, ...(n === node('e') ? { 'kubevirt.io/schedulable': 'false' } : {}) }, n === node('d'));
    sim = await startKubevirtSimulator({
      kc,
      namespace: ns,
      stepDelayMs: 10,
      pollIntervalMs: 50,
      unschedulableTimeoutMs: 1_500,
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

  function runningVmi(name: string, extra: { liveMigratable?: boolean; nodeSelector?: Record<string, string> } = {}) {
    return createRunningVmi(kc, {
      namespace: ns,
      name,
      nodeName: node('a'),
      gpus: [GPU],
      deviceIds: [SOURCE_DEVICE],
      nodeSelector: { 'sim.test/group': group, ...extra.nodeSelector },
      ...(extra.liveMigratable === false ? { liveMigratable: false } : {}),
    });
  }

  it('installs CRDs that are Established with KubeVirt real group, version and kinds (idempotently); the VMI has no status subresource', async () => {
    await installKubevirtStandins(kc);
    const expected: [string, string, boolean][] = [
      ['virtualmachineinstances.kubevirt.io', 'VirtualMachineInstance', false],
      ['virtualmachineinstancemigrations.kubevirt.io', 'VirtualMachineInstanceMigration', true],
      ['kubevirts.kubevirt.io', 'KubeVirt', true],
    ];
    for (const [name, kind, status] of expected) {
      const r = await kubectl(['get', 'crd', name, '-o', 'json']);
      expect(r.code, r.stderr).to.equal(0);
      const crd = JSON.parse(r.stdout) as { spec: { group: string; names: { kind: string }; scope: string; versions: { name: string; subresources?: unknown }[] }; status: { conditions: { type: string; status: string }[] } };
      expect(crd.spec.group).to.equal('kubevirt.io');
      expect(crd.spec.names.kind).to.equal(kind);
      expect(crd.spec.scope).to.equal('Namespaced');
      expect(crd.spec.versions.map((v) => v.name)).to.deep.equal(['v1']);
      expect(crd.spec.versions[0]?.subresources !== undefined, name).to.equal(status);
      expect(crd.status.conditions.find((c) => c.type === 'Established')?.status).to.equal('True');
    }
  });

  it('serves kubectl get vmi,vmim with the stand-in printer columns; a VMI\'s status is written with the object (no /status)', async () => {
    await runningVmi('vm-kubectl');
    const r = await kubectl(['get', 'vmi,vmim', '-n', ns]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/NODENAME/);
    expect(r.stdout).to.match(new RegExp(`vm-kubectl\\s+\\S+\\s+Running\\s+(?:\\S+\\s+)?${node('a')}\\s+True`));
    const short = await kubectl(['get', 'vmis', 'vm-kubectl', '-n', ns, '-o', 'jsonpath={.status.nodeName}']);
    expect(short.stdout).to.equal(node('a'));
    const status = await refusal(() => kubeRequest(kc, { method: 'GET', path: resourcePath(VMI_RESOURCE, { namespace: ns, name: 'vm-kubectl', subresource: 'status' }) }));
    expect(status.code).to.equal(404);
  });

  it('creates a running VMI whose virt-launcher pod carries the allocated devices', async () => {
    const { vmi, podName } = await runningVmi('vm-factory');
    expect(vmi.status?.phase).to.equal('Running');
    expect(vmi.metadata.labels?.[LABEL_NODE_NAME]).to.equal(node('a'));
    const pods = await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid });
    expect(pods.map((p) => [p.metadata.name, p.spec.nodeName])).to.deep.equal([[podName, node('a')]]);
    expect(parseAllocatedDevices(pods[0]?.metadata.annotations)).to.deep.equal([SOURCE_DEVICE]);
  });

  it('moves the VMI to the node pinned by addedNodeSelector; VMIM status.migrationState appears only once final', async () => {
    const { vmi, podName } = await runningVmi('vm-pinned');
    const seen: string[] = [];
    const created = await createVmim(kc, { namespace: ns, name: 'mig-pinned', vmiName: 'vm-pinned', addedNodeSelector: { 'kubernetes.io/hostname': node('b') } });
    // KubeVirt's mutating webhook labels the VMIM with its VMI and adds its finalizer.
    expect(created.metadata.labels?.[LABEL_VMI_NAME]).to.equal('vm-pinned');
    expect((created.metadata as { finalizers?: string[] }).finalizers).to.include(VMIM_FINALIZER);
    const watcher = waitFor('progress', async () => {
      const v = await getVmim(kc, ns, 'mig-pinned');
      if (v && !['Succeeded', 'Failed'].includes(v.status?.phase ?? '')) seen.push(v.status?.migrationState ? 'state-before-final' : 'no-state');
      return v && ['Succeeded', 'Failed'].includes(v.status?.phase ?? '') ? v : undefined;
    });
    await watcher;
    const done = await waitSettled(kc, ns, 'mig-pinned');
    expect(done.status?.phase, JSON.stringify(done.status)).to.equal('Succeeded');
    expect(seen).to.not.include('state-before-final');
    expect(done.status?.phaseTransitionTimestamps?.map((t) => t.phase)).to.deep.equal(['Pending', 'Scheduling', 'Scheduled', 'PreparingTarget', 'TargetReady', 'Running', 'Succeeded']);
    expect(done.status?.migrationState).to.include({ sourceNode: node('a'), targetNode: node('b'), completed: true, migrationUid: done.metadata.uid });

    const moved = await getVmi(kc, ns, 'vm-pinned');
    expect(moved?.status?.nodeName).to.equal(node('b'));
    expect(moved?.metadata.labels?.[LABEL_NODE_NAME]).to.equal(node('b'));
    expect(moved?.status?.migrationState?.startTimestamp).to.be.a('string');
    expect(moved?.status?.migrationState?.endTimestamp).to.be.a('string');

    const pods = await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid });
    expect(pods).to.have.length(1);
    expect(pods[0]?.metadata.name).to.not.equal(podName);
    expect(pods[0]?.metadata.name).to.match(/^virt-launcher-vm-pinned-[a-z0-9]{5}$/);
    expect(pods[0]?.spec.nodeName).to.equal(node('b'));
    // KubeVirt's selectors for the target pod: schedulable, the VMI's own, the pin.
    expect(pods[0]?.spec.nodeSelector).to.deep.equal({ 'kubernetes.io/hostname': node('b'), 'kubevirt.io/schedulable': 'true', 'sim.test/group': group });
    expect(parseAllocatedDevices(pods[0]?.metadata.annotations)).to.deep.equal([TARGET_DEVICE]);
    expect(allocations).to.deep.include({ vmi: 'vm-pinned', node: node('b') });

    const table = await kubectl(['get', 'vmims', 'mig-pinned', '-n', ns, '--no-headers']);
    expect(table.stdout.trim().split(/\s+/)).to.deep.equal(['mig-pinned', 'Succeeded', 'vm-pinned']);
  });

  it('refuses, with HTTP 400 from the API server, a VMIM for a VMI that is not live-migratable or already migrating', async () => {
    await runningVmi('vm-stuck', { liveMigratable: false });
    const stuck = await refusal(() => createVmim(kc, { namespace: ns, name: 'mig-stuck', vmiName: 'vm-stuck' }));
    expect(stuck.code).to.equal(400);
    expect(stuck.message).to.include('admission webhook "migration-create-validator.kubevirt.io" denied the request');
    expect(stuck.message).to.include('Cannot migrate VMI, Reason: HostDeviceNotLiveMigratable, Message:');

    await runningVmi('vm-busy');
    // Pinned where it cannot be scheduled: it stays in flight while the second one is created.
    await createVmim(kc, { namespace: ns, name: 'mig-busy-1', vmiName: 'vm-busy', addedNodeSelector: { 'kubernetes.io/hostname': node('e') } });
    const busy = await refusal(() => createVmim(kc, { namespace: ns, name: 'mig-busy-2', vmiName: 'vm-busy' }));
    expect(busy.code).to.equal(400);
    expect(busy.message).to.match(/in-flight migration detected\. Active migration job \(\S+\) is currently already in progress for VMI vm-busy\./);
    expect(stuck.message).to.include('VMI specifies too many GPUs');
    const ghost = await refusal(() => createVmim(kc, { namespace: ns, name: 'mig-ghost', vmiName: 'vm-ghost' }));
    expect(ghost).to.deep.include({ code: 400 });
    expect(ghost.message).to.include(`the VMI "${ns}/vm-ghost" does not exist`);
    await waitFinal(kc, ns, 'mig-busy-1');
  });

  it('keeps a VMIM spec immutable after create (addedNodeSelector included)', async () => {
    await runningVmi('vm-immutable');
    await createVmim(kc, { namespace: ns, name: 'mig-immutable', vmiName: 'vm-immutable', addedNodeSelector: { 'kubernetes.io/hostname': node('c') } });
    const change = await refusal(() => mergePatch(kc, VMIM_RESOURCE, { namespace: ns, name: 'mig-immutable' }, { spec: { addedNodeSelector: { 'kubernetes.io/hostname': node('b') } } }));
    expect(change.code).to.equal(400);
    expect(change.message).to.include("update of Migration object's spec is restricted");
    await waitFinal(kc, ns, 'mig-immutable');
  });

  it('leaves an unschedulable target Pending with Events only, then fails the migration with no failureReason', async () => {
    const { vmi, podName } = await runningVmi('vm-nowhere');
    // e carries no kubevirt.io/schedulable=true: KubeVirt's selector keeps the target off it.
    await createVmim(kc, { namespace: ns, name: 'mig-nowhere', vmiName: 'vm-nowhere', addedNodeSelector: { 'kubernetes.io/hostname': node('e') } });
    const pending = await waitFor('the target pod to be marked unschedulable', async () => {
      const pods = await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid });
      const target = pods.find((p) => p.metadata.name !== podName);
      return target?.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False') ? target : undefined;
    });
    expect(pending.spec.nodeName).to.equal(undefined);
    expect(pending.status?.phase).to.equal('Pending');
    const midway = await getVmim(kc, ns, 'mig-nowhere');
    expect(midway?.status?.phase).to.equal('Scheduling');
    const done = await waitSettled(kc, ns, 'mig-nowhere');
    expect(done.status?.phase).to.equal('Failed');
    expect(done.status?.migrationState?.failureReason).to.equal(undefined);
    const events = await listObjectEvents(kc, ns, done.metadata.uid);
    const reasons = events.map((e) => e.reason);
    expect(reasons).to.include.members(['migrationTargetPodUnschedulable', 'SuccessfulDelete', 'FailedMigration']);
    // Newest first, also within one second: the stand-in names Events as client-go does (<object>.<UnixNano hex>).
    expect(reasons.indexOf('FailedMigration')).to.be.lessThan(reasons.indexOf('migrationTargetPodUnschedulable'));
    expect(events.find((e) => e.reason === 'FailedMigration')?.message).to.equal('Migration target pod was removed during active migration.');
    expect((await getVmi(kc, ns, 'vm-nowhere'))?.status?.nodeName).to.equal(node('a'));
    expect((await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid })).map((p) => p.metadata.name)).to.deep.equal([podName]);
  });

  it("gives the VMI's own nodeSelector precedence over a colliding addedNodeSelector key", async () => {
    const { vmi } = await runningVmi('vm-collide', { nodeSelector: { 'kubernetes.io/hostname': node('c') } });
    await createVmim(kc, { namespace: ns, name: 'mig-collide', vmiName: 'vm-collide', addedNodeSelector: { 'kubernetes.io/hostname': node('b') } });
    const done = await waitSettled(kc, ns, 'mig-collide');
    expect(done.status?.phase).to.equal('Succeeded');
    expect(done.status?.migrationState?.targetNode).to.equal(node('c'));
    const pods = await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid });
    expect(pods.map((p) => p.spec.nodeSelector?.['kubernetes.io/hostname'])).to.deep.equal([node('c')]);
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
    const done = await waitSettled(kc, ns, 'mig-injected');
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
    const done = await waitSettled(kc, ns, 'mig-typo');
    expect(done.status?.migrationState?.failureReason).to.contain('names no migration phase').and.to.contain('PreparingTarget');
  });

  it(`keeps only the ${FINISHED_VMIMS_KEPT} newest finished VMIMs of a VMI`, async () => {
    await runningVmi('vm-gc');
    const names: string[] = [];
    for (let i = 1; i <= FINISHED_VMIMS_KEPT + 2; i++) {
      const name = `mig-gc-${i}`;
      names.push(name);
      // Each one fails at once, so the next create is not refused as in flight.
      await kubectl(['apply', '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name, namespace: ns, annotations: { [ANNOTATION_FAIL_AT]: 'Pending' } }, spec: { vmiName: 'vm-gc' } }),
      });
      await waitSettled(kc, ns, name);
    }
    const left = await waitFor('the oldest finished VMIMs to be collected', async () => {
      const list = (await listVmims(kc, { namespace: ns })).filter((v) => v.spec.vmiName === 'vm-gc').map((v) => v.metadata.name).sort();
      return list.length === FINISHED_VMIMS_KEPT ? list : undefined;
    });
    expect(left).to.deep.equal(names.slice(2).sort());
  });

  it('deletes a stand-in VMI together with its launcher pods', async () => {
    const { vmi } = await runningVmi('vm-delete');
    await deleteRunningVmi(kc, ns, 'vm-delete');
    expect(await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid })).to.deep.equal([]);
    expect(await getVmi(kc, ns, 'vm-delete')).to.equal(undefined);
  });
});

describe('KubeVirt stand-in simulator: scheduling without a pin, decentralized phases and restarts', function () {
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
    sims.push(await startKubevirtSimulator({ kc, namespace: ns, stepDelayMs: 0, pollIntervalMs: 50 }));
    await runningVmi('vm-one');
    await createVmim(kc, { namespace: ns, name: 'mig-one', vmiName: 'vm-one' });
    const first = await waitSettled(kc, ns, 'mig-one');
    expect(first.status?.phase, JSON.stringify(first.status)).to.equal('Succeeded');
    expect(first.status?.migrationState?.targetNode).to.equal(node('c'));

    // c now runs one launcher pod, d none: the next plain migration spreads to d.
    await runningVmi('vm-two');
    await createVmim(kc, { namespace: ns, name: 'mig-two', vmiName: 'vm-two' });
    const second = await waitSettled(kc, ns, 'mig-two');
    expect(second.status?.migrationState?.targetNode).to.equal(node('d'));
    expect((await getVmi(kc, ns, 'vm-two'))?.status?.nodeName).to.equal(node('d'));
  });

  it('refuses a decentralized VMIM unless the DecentralizedLiveMigration gate is on, and passes WaitingForSync when it is', async () => {
    for (const s of sims.splice(0)) await s.stop();
    await runningVmi('vm-sync');
    sims.push(await startKubevirtSimulator({ kc, namespace: ns, stepDelayMs: 0, pollIntervalMs: 50 }));
    const body = (name: string) => ({ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name, namespace: ns }, spec: { vmiName: 'vm-sync', receive: { migrationID: 'm-1' } } });
    const off = await refusal(() => kubeRequest(kc, { method: 'POST', path: resourcePath(VMIM_RESOURCE, { namespace: ns }), body: body('mig-sync-off') }));
    expect(off).to.deep.include({ code: 400 });
    expect(off.message).to.include('DecentralizedLiveMigration feature gate is not enabled');
    for (const s of sims.splice(0)) await s.stop();
    sims.push(await startKubevirtSimulator({ kc, namespace: ns, stepDelayMs: 0, pollIntervalMs: 50, decentralized: true }));
    await kubeRequest(kc, { method: 'POST', path: resourcePath(VMIM_RESOURCE, { namespace: ns }), body: body('mig-sync') });
    const done = await waitSettled(kc, ns, 'mig-sync');
    expect(done.status?.phaseTransitionTimestamps?.map((t) => t.phase).slice(0, 2)).to.deep.equal(['WaitingForSync', 'Pending']);
  });

  it('cancels a VMIM deleted before it finished, then lets it go (finalizer removed)', async () => {
    for (const s of sims.splice(0)) await s.stop();
    sims.push(await startKubevirtSimulator({ kc, namespace: ns, stepDelayMs: 0, pollIntervalMs: 50 }));
    // b is cordoned: the target stays Pending (KubeVirt's own timeout is 5 minutes).
    const { vmi, podName } = await runningVmi('vm-cancel');
    await createVmim(kc, { namespace: ns, name: 'mig-cancel', vmiName: 'vm-cancel', addedNodeSelector: { 'kubernetes.io/hostname': node('b') } });
    await waitFor('the target pod to exist', async () => ((await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid })).length === 2 ? true : undefined));
    const uid = (await getVmim(kc, ns, 'mig-cancel'))?.metadata.uid as string;
    await kubeRequest(kc, { method: 'DELETE', path: resourcePath(VMIM_RESOURCE, { namespace: ns, name: 'mig-cancel' }) });
    await waitFor('the cancelled VMIM to be gone', async () => ((await getVmim(kc, ns, 'mig-cancel')) ? undefined : true));
    const events = await listObjectEvents(kc, ns, uid);
    expect(events.map((e) => e.message)).to.include('Migration failed due to being canceled');
    expect((await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid })).map((p) => p.metadata.name)).to.deep.equal([podName]);
  });

  it('continues a migration after a simulator restart without a duplicate target pod', async () => {
    for (const s of sims.splice(0)) await s.stop();
    const { vmi } = await runningVmi('vm-restart');
    let reachedScheduled: () => void = () => undefined;
    const scheduled = new Promise<void>((r) => (reachedScheduled = r));
    let allocationsBefore = 0;
    const first = await startKubevirtSimulator({
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
    const targetPod = (await getVmi(kc, ns, 'vm-restart'))?.status?.migrationState?.targetPod;

    let allocationsAfter = 0;
    sims.push(await startKubevirtSimulator({ kc, namespace: ns, stepDelayMs: 0, pollIntervalMs: 50, allocateDevices: () => { allocationsAfter += 1; return []; } }));
    const done = await waitSettled(kc, ns, 'mig-restart');
    expect(done.status?.phase).to.equal('Succeeded');
    expect(done.status?.migrationState?.targetPod).to.equal(targetPod);
    const pods = await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid });
    expect(pods.map((p) => [p.metadata.name, p.spec.nodeName])).to.deep.equal([[targetPod, node('c')]]);
    expect(parseAllocatedDevices(pods[0]?.metadata.annotations)).to.deep.equal([TARGET_DEVICE]);
    expect([allocationsBefore, allocationsAfter]).to.deep.equal([1, 0]);
  });

  it('fails through the failWhen option just before Succeeded and marks the VMI migration failed', async () => {
    for (const s of sims.splice(0)) await s.stop();
    const { vmi, podName } = await runningVmi('vm-late');
    sims.push(await startKubevirtSimulator({
      kc,
      namespace: ns,
      stepDelayMs: 0,
      pollIntervalMs: 50,
      failWhen: (vmim, next) => (vmim.metadata.name === 'mig-late' && next === 'Succeeded' ? 'target domain crashed (simulated)' : undefined),
    }));
    await createVmim(kc, { namespace: ns, name: 'mig-late', vmiName: 'vm-late', addedNodeSelector: { 'kubernetes.io/hostname': node('d') } });
    const done = await waitSettled(kc, ns, 'mig-late');
    expect(done.status?.phaseTransitionTimestamps?.map((t) => t.phase).slice(-2)).to.deep.equal(['Running', 'Failed']);
    expect(done.status?.migrationState?.failureReason).to.equal('target domain crashed (simulated)');
    const after = await getVmi(kc, ns, 'vm-late');
    expect(after?.status?.nodeName).to.equal(node('a'));
    expect(after?.status?.migrationState).to.include({ migrationUid: done.metadata.uid, failed: true, completed: false });
    const pods = await listLauncherPods(kc, { namespace: ns, vmiUid: vmi.metadata.uid });
    expect(pods.map((p) => p.metadata.name)).to.deep.equal([podName]);
  });
});
