// The nvml backend end to end on the REAL local kube-apiserver: STAND-IN nodes (the fleet
// simulator: fake sysfs trees, the real agent code) whose agents run `--backend nvml`, i.e. the
// real NVML helper over go-nvml's mock as a STAND-IN NVIDIA driver (a JSON fixture per node that
// follows the VMs on it), the real controller, and the KubeVirt STAND-IN simulator. The target is
// the one node where nvmlGetVgpuCompatibility allows LIVE; every other node says why in NVML's words.
import { expect } from 'chai';
import { API_VERSION, LABEL_NODE, probeObjectName, type MdevProbe } from '../../../src/api/v1alpha1/index.ts';
import { startManager, type ManagerHandle } from '../../../src/controller/manager.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { getVmi } from '../../../src/kubevirt/client.ts';
import { startFleet, type FleetHandle } from '../../../dev/sim/fleet/fleet.ts';
import type { FleetNodeSpec, GpuSpec } from '../../../dev/sim/fleet/profile.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { createMigration, createNamespace, deleteNamespace, getDevice, getMigration, installCrds, verdictOf, waitFor, waitForPhase } from '../controller/helpers.ts';

const TYPE = 'nvidia-1012';

function h100(hostDriver: string, extra: Partial<GpuSpec> = {}): GpuSpec {
  return { vendor: 'nvidia', board: 'H100-PCIE-80GB', hostDriver, vgpuVersion: 0x12, vgpuRange: [0x10, 0x13], typeId: TYPE, typeName: 'GRID H100-4C', devices: 2, spare: 0, ...extra };
}

function node(name: string, gpu: GpuSpec): FleetNodeSpec {
  return { name, labels: {}, taints: [], unschedulable: false, agent: true, gpus: [gpu] };
}

describe('nvml backend end to end: agents run the NVML helper over go-nvml\'s mock (stand-in driver), real controller, KubeVirt stand-in', function () {
  this.timeout(180_000);
  const kc = testKubeConfig();
  const opNs = uniqueName('nvmlop');
  const ns = uniqueName('nvmlvm');
  const p = uniqueName('nv');
  const n = (role: string): string => `${p}-${role}`;
  let manager: ManagerHandle | undefined;
  let fleet: FleetHandle | undefined;

  before(async () => {
    await installCrds();
    await installKubevirtStandins(kc);
    await createNamespace(kc, opNs);
    await createNamespace(kc, ns);
    manager = await startManager({ kc, namespace: opNs, leaderElect: false, probeTimeoutMs: 10_000, sweepIntervalMs: 1_000, watchTimeoutSeconds: 30 });
    await manager.waitUntilRunning();
    fleet = await startFleet({
      kc,
      namespace: opNs,
      nvidiaBackend: 'nvml',
      kubevirt: { namespace: ns, stepDelayMs: 20 },
      resyncIntervalMs: 2_000,
      specs: [
        node(n('src'), h100('550.54.15')),
        node(n('newer'), h100('550.90.07')), // same branch, newer: LIVE
        node(n('older'), h100('550.40.01')), // same branch, older: COLD only
        node(n('branch'), h100('535.161.08')), // another branch
        node(n('range'), h100('550.54.15', { vgpuRange: [0x10, 0x11] })), // guest's vGPU 0x12 out of range
        node(n('nvl'), h100('550.54.15', { board: 'H100-NVL-94GB' })), // same type id, another board
      ],
    });
  });

  after(async () => {
    await manager?.stop();
    await fleet?.stop({ deleteNodes: true });
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, opNs);
  });

  it('publishes the running vGPU as its Instance metadata and free devices as their GPU\'s Class key', async () => {
    const vm = await fleet!.startVm({ namespace: ns, name: 'vm-a', node: n('src') });
    const src = await getDevice(kc, vm.devices[0] as string);
    expect(src?.status).to.deep.include({ backend: 'nvml', migratable: true, versionKind: 'Instance' });
    expect(src?.status?.migrationVersion).to.match(/^nvml-vgpu\.1\.[A-Za-z0-9_-]+$/);
    const free = await waitFor(`a free device of ${n('newer')}`, async () => {
      const res = (await kubeRequest(kc, { method: 'GET', path: '/apis/mdev-operator.io/v1alpha1/mdevdevices', query: { labelSelector: `${LABEL_NODE}=${n('newer')}` } })) as { items: { status?: { versionKind?: string; migrationVersion?: string; backend?: string } }[] };
      return res.items[0];
    });
    expect(free.status).to.deep.include({ backend: 'nvml', versionKind: 'Class' });
    expect(free.status?.migrationVersion).to.match(new RegExp(`^nvml-pgpu\\.1\\.[A-Za-z0-9_-]+\\.${TYPE}$`));
  });

  it('migrates the VMI to the node nvmlGetVgpuCompatibility allows LIVE on, with NVML\'s limiting factor for each other node', async () => {
    await createMigration(kc, ns, 'move-a', { vmiName: 'vm-a', targetNodes: fleet!.nodeNames });
    const m = await waitForPhase(kc, ns, 'move-a', ['Succeeded', 'Failed'], 90_000);
    expect(m.status?.phase, JSON.stringify(m.status?.candidates)).to.equal('Succeeded');
    expect(m.status?.targetNode).to.equal(n('newer'));
    expect(verdictOf(m, n('newer'))?.verdict).to.equal('Compatible');
    const why = (role: string) => verdictOf(m, n(role));
    expect(why('older')).to.deep.include({ verdict: 'Incompatible' });
    expect(why('older')?.message).to.match(/HOST_DRIVER: this host's vGPU Manager 550\.40\.01 does not accept vGPUs from 550\.54\.15.*compatibility COLD only/);
    expect(why('branch')?.message).to.match(/HOST_DRIVER: host driver branch differs \(source host 550\.54\.15, this host 535\.161\.08\)/);
    expect(why('range')?.message).to.match(/GUEST_DRIVER: the VM's guest driver 550\.54\.15 negotiated vGPU version 0x12, outside the range 0x10-0x11/);
    expect(why('nvl')?.message).to.match(/GPU: the GPU at 0000:41:00\.0 is not the GPU model the vGPU runs on/);
    expect((await getVmi(kc, ns, 'vm-a'))?.status?.nodeName).to.equal(n('newer'));

    // The VM runs on the target now: its vGPU there is an instance, carrying the guest it had; the source's device is free again.
    // The device the plugin stand-in handed out is recorded, and verified by name: its string now
    // describes the running vGPU, so only the free devices' class answer from before can vouch for it.
    const settled = await waitFor('the device vm-a got to be recorded', async () => {
      const cur = await getMigration(kc, ns, 'move-a');
      return cur?.status?.devices?.[0]?.target ? cur : undefined;
    });
    const pair = settled.status?.devices?.[0];
    expect(pair?.targetAccepted).to.equal(true);
    expect(settled.status?.conditions?.find((c) => c.type === 'TargetDeviceVerified')).to.deep.include({ status: 'True', reason: 'InAcceptedClass' });
    const target = await waitFor('the target device to show the running vGPU', async () => {
      const d = await getDevice(kc, pair!.target!);
      return d?.status?.versionKind === 'Instance' && d.status.consumer?.name === 'vm-a' ? d : undefined;
    });
    expect(target.status?.migrationVersion).to.match(/^nvml-vgpu\.1\./);
    const source = await waitFor('the source device to be a free class key again', async () => {
      const d = await getDevice(kc, pair!.source);
      return d?.status?.versionKind === 'Class' && !d.status.consumer ? d : undefined;
    });
    expect(source.status?.migrationVersion).to.match(/^nvml-pgpu\.1\./);
  });

  it('refuses a source string that is not NVML metadata in the probe answer, naming why', async () => {
    const garbage = 'nv1;board=H100-PCIE-80GB;type=nvidia-1012;host=550.54.15;vgpu=0x12';
    const name = probeObjectName(n('range'), TYPE, garbage);
    await kubeRequest(kc, {
      method: 'POST',
      path: '/apis/mdev-operator.io/v1alpha1/mdevprobes',
      body: { apiVersion: API_VERSION, kind: 'MdevProbe', metadata: { name, labels: { [LABEL_NODE]: n('range') } }, spec: { nodeName: n('range'), typeId: TYPE, sourceVersion: garbage } },
    });
    const answered = await waitFor(`probe ${name} answered`, async () => {
      const probe = (await kubeRequest(kc, { method: 'GET', path: `/apis/mdev-operator.io/v1alpha1/mdevprobes/${name}` })) as MdevProbe;
      return probe.status?.observedGeneration === probe.metadata.generation && (probe.status?.results?.length ?? 0) > 0 ? probe : undefined;
    });
    for (const r of answered.status?.results ?? []) {
      expect(r).to.deep.include({ accepted: false, errno: 'EINVAL', reason: 'EINVAL: not an NVML vGPU metadata string: it does not start with "nvml-vgpu."' });
    }
  });
});
