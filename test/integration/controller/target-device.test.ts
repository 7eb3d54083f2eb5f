// The device the VMI actually got, checked after the migration, when the pool changed under it:
// capacity claims bind only the operator's own migrations, so a VM started on the target outside
// the operator can take the compatible device while the target pod waits, and KubeVirt's
// device-plugin STAND-IN then hands the target pod the only free one — incompatible. On the REAL
// local kube-apiserver with STAND-IN nodes (fleet simulator running the real agent) and the strict
// KubeVirt STAND-IN (its scheduler stand-in holds the target pod Pending on Insufficient memory).
import { expect } from 'chai';
import { API_VERSION, LABEL_NODE, parseFromWire, type MdevDevice } from '../../../src/api/v1alpha1/index.ts';
import { startManager, type ManagerHandle } from '../../../src/controller/manager.ts';
import { MDEV_DEVICES, NODES } from '../../../src/controller/resources.ts';
import { mergePatch } from '../../../src/kube/apply.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { loggerFor } from '../../../src/observability/logger.ts';
import { startFleet, type FleetHandle } from '../../../dev/sim/fleet/fleet.ts';
import { gpuAddress, type FleetNodeSpec, type GpuSpec } from '../../../dev/sim/fleet/profile.ts';
import { listLauncherPods } from '../../../dev/sim/kubevirt/core-objects.ts';
import { ANNOTATION_MIGRATION_JOB_NAME } from '../../../dev/sim/kubevirt/launcher-pod.ts';
import { deleteRunningVmi } from '../../../dev/sim/kubevirt/vmi-factory.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { claimsOf, createMigration, createNamespace, deleteNamespace, eventsWith, getMigration, h100, installCrds, waitFor, waitForPhase } from './helpers.ts';

const log = loggerFor('target-device-test');

const H100 = (hostDriver: string): GpuSpec => h100(hostDriver);

function node(name: string, gpus: GpuSpec[]): FleetNodeSpec {
  return { name, labels: {}, taints: [], unschedulable: false, agent: true, gpus };
}

describe('controller records the device the VMI got and flags one outside the accepted classes (stand-in fleet, KubeVirt stand-in)', function () {
  this.timeout(120_000);
  const kc = testKubeConfig();
  const opNs = uniqueName('mdevop');
  const ns = uniqueName('tdev');
  const p = uniqueName('tdev');
  const [src, mixed] = [`${p}-src`, `${p}-mixed`];
  let manager: ManagerHandle;
  let f: FleetHandle;

  async function deviceOn(nodeName: string, parent: string): Promise<MdevDevice | undefined> {
    const res = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_DEVICES), query: { labelSelector: `${LABEL_NODE}=${nodeName}` } })) as { items?: unknown[] };
    return (res.items ?? [])
      .flatMap((i) => parseFromWire('MdevDevice', { apiVersion: API_VERSION, kind: 'MdevDevice', ...(i as object) }, log) ?? [])
      .find((d) => d.spec.parent.address === parent);
  }

  before(async () => {
    await installCrds();
    await installKubevirtStandins(kc);
    await createNamespace(kc, opNs);
    await createNamespace(kc, ns);
    manager = await startManager({ kc, namespace: opNs, leaderElect: false, probeTimeoutMs: 5_000, sweepIntervalMs: 1_000, watchTimeoutSeconds: 30 });
    await manager.waitUntilRunning();
    f = await startFleet({ kc, namespace: opNs, specs: [node(src, [H100('550.54.15')]), node(mixed, [H100('550.90.07'), H100('535.161.08')])], kubevirt: { namespace: ns, stepDelayMs: 20 }, resyncIntervalMs: 2_000 });
  });

  after(async () => {
    await manager?.stop();
    await f?.stop({ deleteNodes: true });
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, opNs);
  });

  it('sets TargetDeviceVerified=False with a Warning Event when the device plugin gave the VMI a device of a class that rejects the source', async () => {
    const compatible = await deviceOn(mixed, gpuAddress(0));
    const incompatible = await deviceOn(mixed, gpuAddress(1));
    await f.startVm({ namespace: ns, name: 'vm', node: src });
    // The incompatible device is in use, so the mixed node's free pool is all compatible.
    await f.startVm({ namespace: ns, name: 'holder', node: mixed, parent: gpuAddress(1) });
    // The target pod will wait: the node's allocatable memory is below the VM's 1Gi request.
    await mergePatch(kc, NODES, { name: mixed }, { status: { allocatable: { memory: '512Mi' } } }, { subresource: 'status' });

    await createMigration(kc, ns, 'move', { vmiName: 'vm', targetNodes: [src, mixed] });
    const migrating = await waitForPhase(kc, ns, 'move', ['Migrating', 'Succeeded', 'Failed']);
    expect(migrating.status?.phase, migrating.status?.message).to.equal('Migrating');
    expect(migrating.status?.targetNode).to.equal(mixed);
    await waitFor('the target pod to wait unscheduled', async () => {
      const pods = await listLauncherPods(kc, { namespace: ns });
      return pods.some((pod) => pod.metadata.annotations?.[ANNOTATION_MIGRATION_JOB_NAME] && !pod.spec.nodeName && pod.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False')) ? true : undefined;
    });

    // Outside the operator: a VM takes the compatible device, the holder goes, freeing the other.
    await f.startVm({ namespace: ns, name: 'squatter', node: mixed, parent: gpuAddress(0) });
    await deleteRunningVmi(kc, ns, 'holder');
    await waitFor('the incompatible device to be free', async () => ((await deviceOn(mixed, gpuAddress(1)))?.status?.consumer === undefined ? true : undefined));
    await mergePatch(kc, NODES, { name: mixed }, { status: { allocatable: { memory: '64Gi' } } }, { subresource: 'status' });

    const done = await waitForPhase(kc, ns, 'move', ['Succeeded', 'Failed']);
    expect(done.status?.phase, done.status?.message).to.equal('Succeeded');
    const settled = await waitFor('the device the VMI got to be checked', async () => {
      const m = await getMigration(kc, ns, 'move');
      return m?.status?.conditions?.some((c) => c.type === 'TargetDeviceVerified') ? m : undefined;
    });
    expect(settled.status?.devices?.[0]).to.deep.include({ target: incompatible?.metadata.name, targetAccepted: false });
    expect(settled.status?.devices?.[0]?.target).to.not.equal(compatible?.metadata.name);
    const condition = settled.status?.conditions?.find((c) => c.type === 'TargetDeviceVerified');
    expect(condition).to.deep.include({ status: 'False', reason: 'OutsideAcceptedClass' });
    expect(condition?.message).to.include(`the device plugin gave VMI vm ${incompatible?.metadata.name} (`);
    const warnings = (await eventsWith(kc, ns, 'move', ['UnverifiedTargetDevice'])).filter((e) => e.type === 'Warning' && e.reason === 'UnverifiedTargetDevice');
    expect(warnings).to.have.length(1);
    expect(await claimsOf(kc, ns, 'move')).to.deep.equal([]);
  });
});
