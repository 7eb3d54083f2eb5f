// The controller end to end on the REAL local kube-apiserver, against STAND-IN nodes (the fleet
// simulator: fake sysfs trees with simulated vendor drivers, the real agent code, a kubelet
// stand-in) and the KubeVirt STAND-IN simulator that advances VMIMs.
import { expect } from 'chai';
import { LABEL_HOSTNAME, vmimPinnedHostname } from '../../../src/kubevirt/types.ts';
import { startManager, type ManagerHandle } from '../../../src/controller/manager.ts';
import { startFleet, type FleetHandle } from '../../../dev/sim/fleet/fleet.ts';
import type { FleetNodeSpec, GpuSpec } from '../../../dev/sim/fleet/profile.ts';
import { getVmi } from '../../../src/kubevirt/client.ts';
import { mergePatch } from '../../../src/kube/apply.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { MDEV_MIGRATIONS, NODES } from '../../../src/controller/resources.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import type { FailWhen } from '../../../dev/sim/kubevirt/simulator.ts';
import { listLauncherPods } from '../../../dev/sim/kubevirt/core-objects.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { claimsOf, createMigration, createNamespace, deleteNamespace, eventsWith, getDevice, getMigration, installCrds, verdictOf, vmimsOf, waitFor, waitForPhase } from './helpers.ts';

const H100 = (hostDriver: string, extra: Partial<GpuSpec> = {}): GpuSpec => ({
  vendor: 'nvidia',
  board: 'H100-PCIE-80GB',
  hostDriver,
  vgpuVersion: 0x12,
  vgpuRange: [0x10, 0x13],
  typeId: 'nvidia-1012',
  devices: 2,
  spare: 0,
  ...extra,
});

function node(name: string, gpus: GpuSpec[], extra: Partial<FleetNodeSpec> = {}): FleetNodeSpec {
  return { name, labels: {}, taints: [], unschedulable: false, agent: true, gpus, ...extra };
}

// Every migration lists its fleet's nodes in spec.targetNodes: fleets of other tests share the
// API server, and their nodes must not become candidates here.
describe('controller: MdevMigration reconciler (stand-in fleet running the real agent, KubeVirt stand-in)', function () {
  this.timeout(120_000);
  const kc = testKubeConfig();
  const opNs = uniqueName('mdevop');
  const fleets: FleetHandle[] = [];
  const namespaces: string[] = [opNs];
  let manager: ManagerHandle;

  async function fleet(prefix: string, specs: FleetNodeSpec[], failWhen?: FailWhen, stepDelayMs = 20): Promise<{ f: FleetHandle; ns: string }> {
    const ns = uniqueName(prefix);
    await createNamespace(kc, ns);
    namespaces.push(ns);
    const f = await startFleet({ kc, namespace: opNs, specs, kubevirt: { namespace: ns, stepDelayMs, failWhen }, resyncIntervalMs: 2_000 });
    fleets.push(f);
    return { f, ns };
  }

  before(async () => {
    await installCrds();
    await installKubevirtStandins(kc);
    await createNamespace(kc, opNs);
    manager = await startManager({ kc, namespace: opNs, leaderElect: false, probeTimeoutMs: 5_000, sweepIntervalMs: 1_000, watchTimeoutSeconds: 30 });
    await manager.waitUntilRunning();
  });

  after(async () => {
    await manager?.stop();
    for (const f of fleets) await f.stop({ deleteNodes: true });
    for (const ns of namespaces) await deleteNamespace(kc, ns);
  });

  describe('a 6-node fleet with one accepting node', () => {
    const p = uniqueName('six');
    const n = (i: number): string => `${p}-${i}`;
    let f: FleetHandle;
    let ns: string;

    before(async () => {
      ({ f, ns } = await fleet('six', [
        node(n(1), [H100('550.54.15', { devices: 4 })]),
        node(n(2), [H100('550.90.07')]), // same branch, newer: accepts
        node(n(3), [H100('535.161.08')]), // other branch: EINVAL
        node(n(4), [H100('550.54.15', { board: 'L40S-48GB', typeId: 'nvidia-1013' })]), // other type
        // An older vGPU manager: its own string differs (vgpu=0x11), and 0x12 is out of its range.
        node(n(5), [H100('550.54.15', { vgpuVersion: 0x11, vgpuRange: [0x10, 0x11] })]),
        node(n(6), [{ ...H100('550.54.15'), vendor: 'intel-gvt', typeId: 'i915-GVTg_V5_4' }]),
      ]));
    });

    it('chooses the accepting node, explains every other node and moves the VMI there', async () => {
      const vm = await f.startVm({ namespace: ns, name: 'vm-a', node: n(1) });
      await createMigration(kc, ns, 'move-a', { vmiName: 'vm-a', targetNodes: f.nodeNames });
      const m = await waitForPhase(kc, ns, 'move-a', ['Succeeded', 'Failed']);
      expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
      expect(m.status?.targetNode).to.equal(n(2));
      expect(m.status?.sourceNode).to.equal(n(1));
      expect(verdictOf(m, n(2))?.verdict).to.equal('Compatible');
      expect(verdictOf(m, n(3))?.verdict).to.equal('Incompatible');
      expect(verdictOf(m, n(3))?.message).to.match(/branch/);
      expect(verdictOf(m, n(4))?.verdict).to.equal('TypeMismatch');
      expect(verdictOf(m, n(5))?.verdict).to.equal('Incompatible');
      expect(verdictOf(m, n(5))?.message).to.match(/range/);
      expect(verdictOf(m, n(6))?.verdict).to.equal('TypeMismatch');
      expect(m.status?.probes).to.be.greaterThan(0);
      expect(m.status?.devices).to.have.length(1);
      expect(m.status?.devices?.[0]?.source).to.equal(vm.devices[0]);
      expect(m.status?.conditions?.find((c) => c.type === 'Ready')?.status).to.equal('True');
      const vmims = await vmimsOf(kc, ns, m);
      expect(vmims).to.have.length(1);
      expect(vmims[0]?.spec.addedNodeSelector).to.deep.equal({ [LABEL_HOSTNAME]: n(2) });
      expect((await getVmi(kc, ns, 'vm-a'))?.status?.nodeName).to.equal(n(2));
      expect(m.status?.devices?.[0]?.pool).to.equal('nvidia-1012');
      // The device plugin stand-in picked the device; once the target's agent shows it, the
      // controller records it, checks its class accepted the source, and releases the claim.
      const settled = await waitFor('the device the VMI got to be recorded', async () => {
        const cur = await getMigration(kc, ns, 'move-a');
        return cur?.status?.devices?.[0]?.target ? cur : undefined;
      });
      const got = settled.status?.devices?.[0];
      expect(got?.targetAccepted).to.equal(true);
      expect((await getDevice(kc, got?.target as string))?.status?.consumer?.name).to.equal('vm-a');
      expect(settled.status?.conditions?.find((c) => c.type === 'TargetDeviceVerified')).to.deep.include({ status: 'True', reason: 'InAcceptedClass' });
      expect(await claimsOf(kc, ns, 'move-a')).to.deep.equal([]);
      const reasons = (await eventsWith(kc, ns, 'move-a', ['Succeeded'])).map((e) => e.reason);
      expect(reasons).to.include.members(['Probing', 'Claimed', 'Migrating', 'Succeeded']);
      expect(reasons, 'the expected device needs no Event: the condition says it').not.to.include('UnverifiedTargetDevice');
    });

    it('a dry run stops at Planned with the decision and creates no VMIM and no claim', async () => {
      await f.startVm({ namespace: ns, name: 'vm-dry', node: n(1) });
      await createMigration(kc, ns, 'dry', { vmiName: 'vm-dry', dryRun: true, targetNodes: f.nodeNames });
      const m = await waitForPhase(kc, ns, 'dry', ['Planned', 'Failed']);
      expect(m.status?.phase, m.status?.message).to.equal('Planned');
      expect(m.status?.targetNode).to.equal(n(2));
      expect(m.status?.verdictTotals?.Compatible).to.equal(1);
      expect(m.status?.devices?.map((d) => d.pool)).to.deep.equal(['nvidia-1012']);
      // Nothing follows a Planned dry run: once the controller's cache holds it, a reconcile of it
      // returns without a requeue and writes nothing (waiting a while could only show "not yet").
      const key = `${ns}/dry`;
      await waitFor('the controller cache to hold the Planned dry run', async () => (manager.caches().migrations.get(key)?.status?.phase === 'Planned' ? true : undefined));
      expect(await manager.services()?.reconciler.reconcile(key)).to.equal(undefined);
      const after = await getMigration(kc, ns, 'dry');
      expect(after?.metadata.resourceVersion, 'the reconcile wrote nothing').to.equal(m.metadata.resourceVersion);
      expect(await vmimsOf(kc, ns, m)).to.have.length(0);
      expect(await claimsOf(kc, ns, 'dry')).to.deep.equal([]);
    });

    it('fails with every node\'s reason and no VMIM when no node accepts', async () => {
      await f.startVm({ namespace: ns, name: 'vm-old', node: n(3) });
      await createMigration(kc, ns, 'none', { vmiName: 'vm-old', targetNodes: f.nodeNames });
      const m = await waitForPhase(kc, ns, 'none', ['Succeeded', 'Failed']);
      expect(m.status?.phase).to.equal('Failed');
      expect(m.status?.conditions?.find((c) => c.type === 'Ready')?.reason).to.equal('NoCompatibleNode');
      for (const i of [1, 2, 5]) {
        expect(verdictOf(m, n(i))?.verdict, n(i)).to.equal('Incompatible');
        expect(verdictOf(m, n(i))?.message, n(i)).to.match(/branch/);
      }
      expect(verdictOf(m, n(4))?.verdict).to.equal('TypeMismatch');
      expect(m.status?.verdictTotals?.Compatible ?? 0).to.equal(0);
      expect(await vmimsOf(kc, ns, m)).to.have.length(0);
    });
  });

  it('never chooses a cordoned node or a node whose agent lease expired', async () => {
    const p = uniqueName('excl');
    const { f, ns } = await fleet('excl', [
      node(`${p}-1`, [H100('550.54.15')]),
      node(`${p}-2`, [H100('550.54.15')], { unschedulable: true }),
      node(`${p}-3`, [H100('550.54.15')]),
      node(`${p}-4`, [H100('550.54.15', { devices: 4 })]),
    ]);
    await f.expireLease(`${p}-3`);
    await f.startVm({ namespace: ns, name: 'vm-x', node: `${p}-1` });
    await createMigration(kc, ns, 'excl', { vmiName: 'vm-x', targetNodes: f.nodeNames });
    const m = await waitForPhase(kc, ns, 'excl', ['Succeeded', 'Failed']);
    expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
    expect(m.status?.targetNode).to.equal(`${p}-4`);
    expect(verdictOf(m, `${p}-2`)).to.deep.include({ verdict: 'Excluded', message: 'cordoned' });
    expect(verdictOf(m, `${p}-3`)?.verdict).to.equal('AgentUnavailable');
  });

  it('gives the last free unit of a pool to exactly one of two racing migrations', async () => {
    const p = uniqueName('race');
    const { f, ns } = await fleet('race', [node(`${p}-1`, [H100('550.54.15')]), node(`${p}-2`, [H100('550.54.15', { devices: 1 })])]);
    await f.startVm({ namespace: ns, name: 'vm-1', node: `${p}-1` });
    await f.startVm({ namespace: ns, name: 'vm-2', node: `${p}-1` });
    await Promise.all([createMigration(kc, ns, 'race-1', { vmiName: 'vm-1', targetNodes: f.nodeNames }), createMigration(kc, ns, 'race-2', { vmiName: 'vm-2', targetNodes: f.nodeNames })]);
    const [a, b] = await Promise.all(['race-1', 'race-2'].map((name) => waitForPhase(kc, ns, name, ['Succeeded', 'Failed'])));
    const phases = [a?.status?.phase, b?.status?.phase].sort();
    expect(phases).to.deep.equal(['Failed', 'Succeeded']);
    const loser = a?.status?.phase === 'Failed' ? a : b;
    expect(verdictOf(loser!, `${p}-2`)?.verdict).to.equal('NoCapacity');
    const vmims = [...(await vmimsOf(kc, ns, a!)), ...(await vmimsOf(kc, ns, b!))];
    expect(vmims).to.have.length(1);
  });

  it("waits while the last unit is claimed by a sibling migration instead of failing, and takes it once the sibling's claim is gone", async () => {
    const p = uniqueName('wait');
    const tgt = `${p}-2`;
    const { f, ns } = await fleet('wait', [node(`${p}-1`, [H100('550.54.15')]), node(tgt, [H100('550.54.15', { devices: 1 })])]);
    await f.startVm({ namespace: ns, name: 'vm-1', node: `${p}-1` });
    await f.startVm({ namespace: ns, name: 'vm-2', node: `${p}-1` });
    const vm1Uid = (await getVmi(kc, ns, 'vm-1'))?.metadata.uid as string;
    // The first migration's target pod waits unscheduled (too little memory), so its claim stays.
    await mergePatch(kc, NODES, { name: tgt }, { status: { allocatable: { memory: '512Mi' } } }, { subresource: 'status' });
    await createMigration(kc, ns, 'first', { vmiName: 'vm-1', targetNodes: f.nodeNames });
    const first = await waitForPhase(kc, ns, 'first', ['Migrating', 'Succeeded', 'Failed']);
    expect(first.status?.phase, first.status?.message).to.equal('Migrating');
    await createMigration(kc, ns, 'second', { vmiName: 'vm-2', targetNodes: f.nodeNames });
    const waiting = await waitFor('the second migration to wait for the first one\'s claim', async () => {
      const m = await getMigration(kc, ns, 'second');
      if (m?.status?.phase === 'Failed') throw new Error(`second migration failed: ${m.status.message}`);
      return m?.status?.message?.endsWith(`waiting for other migrations' claims on ${tgt} to be released`) ? m : undefined;
    });
    expect(verdictOf(waiting, tgt)).to.deep.include({ verdict: 'NoCapacity', message: 'needs 1 free nvidia-1012, has 0 (1 claimed by other migrations)' });
    // The sibling ends (deleted: its VMIM is garbage-collected, the sweeper releases its claim) and the node has room again.
    await kubeRequest(kc, { method: 'DELETE', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns, name: 'first' }) });
    // Room comes back only once the cancelled target pod is gone, so it cannot take the device itself.
    await waitFor('the first migration, its VMIM and its target pod to be gone', async () => {
      const left = (await getMigration(kc, ns, 'first')) ?? (await vmimsOf(kc, ns, first))[0] ?? (await listLauncherPods(kc, { namespace: ns, vmiUid: vm1Uid })).find((pod) => !pod.spec.nodeName);
      return left ? undefined : true;
    });
    await mergePatch(kc, NODES, { name: tgt }, { status: { allocatable: { memory: '64Gi' } } }, { subresource: 'status' });
    const done = await waitForPhase(kc, ns, 'second', ['Succeeded', 'Failed'], 90_000);
    expect(done.status?.phase, `${done.status?.message} ${JSON.stringify(done.status?.candidates)}`).to.equal('Succeeded');
    expect(done.status?.targetNode).to.equal(tgt);
    expect(done.status?.attempts).to.equal(1);
  });

  it('after a failed VMIM releases the claim, remembers the node in status and uses the next candidate', async () => {
    const p = uniqueName('retry');
    const first = `${p}-2`;
    const { f, ns } = await fleet('retry', [node(`${p}-1`, [H100('550.54.15')]), node(first, [H100('550.54.15')]), node(`${p}-3`, [H100('550.54.15')])], (vmim, next) =>
      vmimPinnedHostname(vmim) === first && next === 'Scheduled' ? 'injected failure (stand-in): target pod could not start' : undefined,
    );
    await f.startVm({ namespace: ns, name: 'vm-r', node: `${p}-1` });
    await createMigration(kc, ns, 'retry', { vmiName: 'vm-r', targetNodes: f.nodeNames });
    const m = await waitForPhase(kc, ns, 'retry', ['Succeeded', 'Failed']);
    expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
    expect(m.status?.targetNode).to.equal(`${p}-3`);
    expect(m.status?.attempts).to.equal(2);
    expect(verdictOf(m, first)?.verdict).to.equal('Excluded');
    const vmims = await vmimsOf(kc, ns, m);
    expect(vmims.map((v) => [vmimPinnedHostname(v), v.status?.phase]).sort()).to.deep.equal([[first, 'Failed'], [`${p}-3`, 'Succeeded']]);
    expect(m.status?.failedTargets?.map((t) => [t.node, t.migrationName])).to.deep.equal([[first, 'retry-1']]);
    expect(m.status?.failedTargets?.[0]?.reason).to.include('injected failure (stand-in)');
    await waitFor('no claim left by the migration', async () => ((await claimsOf(kc, ns, 'retry')).length === 0 ? true : undefined));
    expect((await eventsWith(kc, ns, 'retry', ['AttemptFailed'])).map((e) => e.reason)).to.include('AttemptFailed');
  });

  it('resumes after the controller is killed mid-migration, without a second VMIM', async () => {
    const p = uniqueName('kill');
    const { f, ns } = await fleet('kill', [node(`${p}-1`, [H100('550.54.15')]), node(`${p}-2`, [H100('550.54.15')])], undefined, 400);
    await f.startVm({ namespace: ns, name: 'vm-k', node: `${p}-1` });
    await createMigration(kc, ns, 'kill', { vmiName: 'vm-k', targetNodes: f.nodeNames });
    await waitForPhase(kc, ns, 'kill', ['Migrating', 'Succeeded', 'Failed']);
    await manager.kill();
    manager = await startManager({ kc, namespace: opNs, leaderElect: false, probeTimeoutMs: 5_000, sweepIntervalMs: 1_000, watchTimeoutSeconds: 30 });
    await manager.waitUntilRunning();
    const m = await waitForPhase(kc, ns, 'kill', ['Succeeded', 'Failed']);
    expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
    expect(m.status?.attempts).to.equal(1);
    expect(await vmimsOf(kc, ns, m)).to.have.length(1);
  });
});
