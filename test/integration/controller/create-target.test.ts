// allowCreateTarget end to end on the REAL local kube-apiserver, against STAND-IN nodes (the fleet
// simulator: fake sysfs trees with the simulated NVIDIA driver, the real agent code, a kubelet
// stand-in) and the KubeVirt STAND-IN simulator. The target node's only device of the type is
// taken by another VMI, but its parent can still create one more (published as MdevNode capacity):
// with allowCreateTarget the controller has the target's agent create a duplicate mdev in the fake
// sysfs tree and migrates onto it; without, the node is NoCapacity and nothing is created.
// A target whose agent refuses (or fails) to create the duplicate is excluded from that migration's
// later plans: the next candidate is tried at once, and with none left the migration fails at once.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { API_VERSION, LABEL_NODE, parseFromWire, type MdevMigration, type MdevNode, type MdevProbe } from '../../../src/api/v1alpha1/index.ts';
import { startManager, type ManagerHandle } from '../../../src/controller/manager.ts';
import { duplicateUuid } from '../../../src/controller/migration-reconciler.ts';
import { MDEV_DEVICES, MDEV_MIGRATIONS, MDEV_NODES, MDEV_PROBES } from '../../../src/controller/resources.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { getVmi } from '../../../src/kubevirt/client.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import { LABEL_HOSTNAME } from '../../../src/kubevirt/types.ts';
import { loggerFor } from '../../../src/observability/logger.ts';
import { startFleet, type FleetHandle } from '../../../dev/sim/fleet/fleet.ts';
import { gpuAddress, type FleetNodeSpec, type GpuSpec } from '../../../dev/sim/fleet/profile.ts';
import type { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';
import { SUPPORTED_TYPES } from '../../../src/sysfs/layout.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { claimsOf, createNamespace, deleteNamespace, eventsWith, getDevice, getMigration, installCrds, verdictOf, vmimsOf, waitFor, waitForPhase } from './helpers.ts';

const TYPE = 'nvidia-1012';
const ACCEL = 'hisi_acc-qm';
const PARENT = gpuAddress(0);
const log = loggerFor('create-target-test');

const H100 = (extra: Partial<GpuSpec> = {}): GpuSpec => ({
  vendor: 'nvidia',
  board: 'H100-PCIE-80GB',
  hostDriver: '550.54.15',
  vgpuVersion: 0x12,
  vgpuRange: [0x10, 0x13],
  typeId: TYPE,
  devices: 1,
  spare: 0,
  ...extra,
});

/**
 * An accelerator VF (the STAND-IN accel driver) whose devices carry creation parameters equal to the
 * driver's defaults: its devices' migration strings equal the type-level string of a spare slot, so
 * a node with spare capacity accepts the source at probing, and only then its agent refuses to
 * create the duplicate (creation parameters need an mdevctl definition, device-creator.ts).
 */
const ACC = (extra: Partial<GpuSpec> = {}): GpuSpec => H100({ vendor: 'accel', typeId: ACCEL, params: { qp: '64' }, ...extra });

function node(name: string, gpu: GpuSpec): FleetNodeSpec {
  return { name, labels: {}, taints: [], unschedulable: false, agent: true, gpus: [gpu] };
}

async function createMigration(kc: KubeConfig, ns: string, name: string, spec: { vmiName: string; targetNodes: string[]; allowCreateTarget?: boolean; deadlineSeconds?: number }): Promise<void> {
  const body = { apiVersion: API_VERSION, kind: 'MdevMigration', metadata: { name, namespace: ns }, spec };
  await kubeRequest(kc, { method: 'POST', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns }), body });
}

async function probesOf(kc: KubeConfig, nodeName: string): Promise<MdevProbe[]> {
  const res = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_PROBES), query: { labelSelector: `${LABEL_NODE}=${nodeName}` } })) as { items?: unknown[] };
  return (res.items ?? []).flatMap((i) => parseFromWire('MdevProbe', { apiVersion: API_VERSION, kind: 'MdevProbe', ...(i as object) }, log) ?? []);
}

/** The spare instances of `typeId` on PARENT that the node's agent published in its MdevNode. */
async function spareOn(kc: KubeConfig, nodeName: string, typeId = TYPE): Promise<number | undefined> {
  const raw = await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_NODES, { name: nodeName }) });
  const n = parseFromWire('MdevNode', raw, log) as MdevNode | undefined;
  const entry = n?.spec.capacity?.find((c) => c.parent.address === PARENT && c.type.id === typeId);
  return entry ? entry.availableInstances : n ? 0 : undefined;
}

/** Events whose involvedObject is exactly this MdevMigration (kind, name and uid). */
async function eventsOf(kc: KubeConfig, m: MdevMigration): Promise<{ reason: string; message: string }[]> {
  const ns = m.metadata.namespace as string;
  const res = (await kubeRequest(kc, {
    method: 'GET',
    path: `/api/v1/namespaces/${ns}/events`,
    query: { fieldSelector: `involvedObject.kind=MdevMigration,involvedObject.name=${m.metadata.name}` },
  })) as { items?: { reason: string; message: string; count?: number; involvedObject?: { uid?: string } }[] };
  // Each Event is written once with count 1 (events.ts); expand a count anyway, so none hides.
  return (res.items ?? []).filter((e) => e.involvedObject?.uid === m.metadata.uid).flatMap((e) => Array.from({ length: Math.max(1, e.count ?? 1) }, () => e));
}

/** Devices anywhere in the cluster still reserved for the migration of this uid. */

/** MdevDevice names the agent of `nodeName` publishes. */
async function devicesOn(kc: KubeConfig, nodeName: string): Promise<string[]> {
  const res = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_DEVICES), query: { labelSelector: `${LABEL_NODE}=${nodeName}` } })) as { items?: { metadata: { name: string } }[] };
  return (res.items ?? []).map((d) => d.metadata.name).sort();
}

// Every migration lists its own two nodes in spec.targetNodes: other nodes share the API server.
describe('controller: allowCreateTarget creates the target device through the agent (fleet and KubeVirt stand-ins)', function () {
  this.timeout(90_000);
  const kc = testKubeConfig();
  const opNs = uniqueName('mdevop');
  const ns = uniqueName('mkt');
  const p = uniqueName('mkt');
  const [srcA, tgtA, srcB, tgtB] = ['sa', 'ta', 'sb', 'tb'].map((s) => `${p}-${s}`) as [string, string, string, string];
  // Refusal tests. Accel: source, a target needing creation, a target with a free device; source and
  // a target needing creation. NVIDIA: source and two targets needing creation (the first refuses).
  const [accSrcX, accNeedsX, accFreeX, accSrcY, accNeedsY] = ['xs', 'xa', 'xb', 'ys', 'ya'].map((s) => `${p}-${s}`) as [string, string, string, string, string];
  const [srcR, refuseR, createR] = ['rs', 'ra', 'rb'].map((s) => `${p}-${s}`) as [string, string, string];
  let manager: ManagerHandle | undefined;
  let fleet: FleetHandle | undefined;
  const treeOf = (node: string): FakeTree => {
    const tree = fleet?.tree(node);
    if (!tree) throw new Error(`the stand-in fleet has no fake sysfs tree for ${node}`);
    return tree;
  };

  before(async () => {
    await installCrds();
    await installKubevirtStandins(kc);
    await createNamespace(kc, opNs);
    await createNamespace(kc, ns);
    // Target parents: one device (taken below) and room for one more of the same type.
    fleet = await startFleet({
      kc,
      namespace: opNs,
      specs: [
        node(srcA, H100()),
        node(tgtA, H100({ spare: 1 })),
        node(srcB, H100()),
        node(tgtB, H100({ spare: 1 })),
        node(accSrcX, ACC()),
        node(accNeedsX, ACC({ spare: 1 })),
        node(accFreeX, ACC()),
        node(accSrcY, ACC()),
        node(accNeedsY, ACC({ spare: 1 })),
        node(srcR, H100()),
        node(refuseR, H100({ spare: 1 })),
        node(createR, H100({ spare: 1 })),
      ],
      kubevirt: { namespace: ns, stepDelayMs: 20 },
      resyncIntervalMs: 2_000,
    });
    manager = await startManager({ kc, namespace: opNs, leaderElect: false, probeTimeoutMs: 5_000, sweepIntervalMs: 1_000, watchTimeoutSeconds: 30 });
    await manager.waitUntilRunning();
    const holds = [['hold-a', tgtA], ['hold-b', tgtB], ['hold-xa', accNeedsX], ['hold-ya', accNeedsY], ['hold-ra', refuseR], ['hold-rb', createR]] as const;
    for (const [name, on] of holds) await fleet.startVm({ namespace: ns, name, node: on });
    for (const [t, typeId] of [[tgtA, TYPE], [tgtB, TYPE], [accNeedsX, ACCEL], [accNeedsY, ACCEL], [refuseR, TYPE], [createR, TYPE]] as const) {
      await waitFor(`the agent of ${t} to publish one spare ${typeId} on ${PARENT}`, async () => ((await spareOn(kc, t, typeId)) === 1 ? true : undefined), 20_000);
    }
  });

  after(async () => {
    await manager?.stop();
    await fleet?.stop({ deleteNodes: true });
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, opNs);
  });

  it('with allowCreateTarget, the target agent creates a duplicate mdev in sysfs and the VMI moves onto it', async () => {
    const f = fleet as FleetHandle;
    const vm = await f.startVm({ namespace: ns, name: 'vm-a', node: srcA });
    const before = await probesOf(kc, tgtA);
    expect(before.filter((x) => x.spec.create)).to.have.length(0);
    await createMigration(kc, ns, 'grow', { vmiName: 'vm-a', targetNodes: [srcA, tgtA], allowCreateTarget: true });
    const m: MdevMigration = await waitForPhase(kc, ns, 'grow', ['Succeeded', 'Failed'], 45_000);
    expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
    expect(m.status?.targetNode).to.equal(tgtA);
    expect(verdictOf(m, tgtA)?.verdict).to.equal('Compatible');

    // The target is a new device: deterministic UUID, same type, on the target's parent.
    const source = vm.devices[0] as string;
    const uuid = duplicateUuid(m.metadata.uid ?? '', source);
    expect(m.status?.devices).to.have.length(1);
    expect(m.status?.devices?.[0]?.source).to.equal(source);
    const targetName = m.status?.devices?.[0]?.created as string;
    const target = await getDevice(kc, targetName);
    expect(target?.spec.nodeName).to.equal(tgtA);
    expect(target?.spec.id).to.equal(uuid);
    expect(target?.spec.type.id).to.equal((await getDevice(kc, source))?.spec.type.id).and.to.equal(TYPE);
    expect(target?.spec.parent.address).to.equal(PARENT);

    // It was made through the agent: a create probe answered with it, and the sysfs tree holds it.
    const creates = (await probesOf(kc, tgtA)).filter((x) => x.spec.create);
    expect(creates).to.have.length(1);
    expect(creates[0]?.spec.create).to.deep.include({ parent: PARENT, uuid });
    expect(creates[0]?.status?.created).to.deep.equal({ parent: PARENT, uuid, device: targetName });
    expect(treeOf(tgtA).hasMdev(uuid)).to.equal(true);
    expect(treeOf(srcA).hasMdev(uuid)).to.equal(false);
    await waitFor(`the agent of ${tgtA} to publish its spare capacity as used`, async () => ((await spareOn(kc, tgtA)) === 0 ? true : undefined), 20_000);

    // The VMI runs on the target, through the one VMIM pinned there.
    expect((await getVmi(kc, ns, 'vm-a'))?.status?.nodeName).to.equal(tgtA);
    const vmims = await vmimsOf(kc, ns, m);
    expect(vmims).to.have.length(1);
    expect(vmims[0]?.spec.addedNodeSelector).to.deep.equal({ [LABEL_HOSTNAME]: tgtA });
    expect((await eventsWith(kc, ns, 'grow', ['Succeeded'])).map((e) => e.reason)).to.include.members(['Claimed', 'Migrating', 'Succeeded']);

    // The created device was the pool's only free one, so the device plugin stand-in gave the VMI
    // that one; the controller records it and releases the claim.
    const settled = await waitFor('the device the VMI got to be recorded', async () => {
      const cur = await getMigration(kc, ns, 'grow');
      return cur?.status?.devices?.[0]?.target ? cur : undefined;
    });
    expect(settled.status?.devices?.[0]).to.deep.include({ target: targetName, targetAccepted: true });
    expect((await getDevice(kc, targetName))?.status?.consumer?.name).to.equal('vm-a');
    await waitFor('no claim left for the migration', async () => ((await claimsOf(kc, ns, 'grow')).length === 0 ? true : undefined), 20_000);
  });

  it('without allowCreateTarget, the same target is NoCapacity, the migration fails and nothing is created', async () => {
    const f = fleet as FleetHandle;
    const treeBefore = treeOf(tgtB).mdevs().sort();
    expect(treeBefore).to.have.length(1);
    await f.startVm({ namespace: ns, name: 'vm-b', node: srcB });
    await createMigration(kc, ns, 'stay', { vmiName: 'vm-b', targetNodes: [srcB, tgtB] });
    const m = await waitForPhase(kc, ns, 'stay', ['Succeeded', 'Failed'], 45_000);
    expect(m.status?.phase, m.status?.message).to.equal('Failed');
    expect(m.status?.conditions?.find((c) => c.type === 'Ready')?.reason).to.equal('NoCompatibleNode');
    expect(verdictOf(m, tgtB)?.verdict).to.equal('NoCapacity');
    expect(verdictOf(m, tgtB)?.message).to.match(/1 in use/);
    expect(await vmimsOf(kc, ns, m)).to.have.length(0);
    expect((await probesOf(kc, tgtB)).filter((x) => x.spec.create)).to.have.length(0);
    expect(treeOf(tgtB).mdevs().sort()).to.deep.equal(treeBefore);
    expect(await spareOn(kc, tgtB)).to.equal(1);
    expect((await getVmi(kc, ns, 'vm-b'))?.status?.nodeName).to.equal(srcB);
  });

  it('an agent that refuses to create the duplicate gets its node excluded, and the next candidate takes the VMI at once (stand-ins; create attribute removed)', async () => {
    const f = fleet as FleetHandle;
    // Fault injected into the stand-in node: its fake sysfs type loses its `create` attribute, so its
    // agent still publishes the spare instance (the controller plans a creation there) but refuses to
    // create ("has no create attribute", device-creator.ts). The other target creates normally. Both
    // need one creation and score alike, so the name order puts the refusing node first.
    expect(refuseR < createR).to.equal(true);
    const refusingTree = treeOf(refuseR);
    rmSync(join(refusingTree.parentDir(PARENT), SUPPORTED_TYPES, TYPE, 'create'));
    await f.rediscover(refuseR);
    expect(await spareOn(kc, refuseR)).to.equal(1);
    const treeBefore = refusingTree.mdevs().sort();
    const devicesBefore = await devicesOn(kc, refuseR);
    expect(treeBefore).to.have.length(1);

    await f.startVm({ namespace: ns, name: 'vm-r', node: srcR });
    await createMigration(kc, ns, 'refused-next', { vmiName: 'vm-r', targetNodes: [srcR, refuseR, createR], allowCreateTarget: true, deadlineSeconds: 60 });
    // Before the fix, the refusing node was asked again every 2 s until the deadline (60 s): the
    // counts below (one creation asked of it, one TargetCreationFailed event) hold that, not a clock.
    const m = await waitForPhase(kc, ns, 'refused-next', ['Succeeded', 'Failed'], 45_000);
    expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
    expect(m.status?.attempts, 'one VMIM attempt: the refusal cost no attempt').to.equal(1);
    expect(m.status?.targetNode).to.equal(createR);
    expect((await getVmi(kc, ns, 'vm-r'))?.status?.nodeName).to.equal(createR);

    // The refusing node was asked exactly once, refused, and is shown Excluded with the refusal.
    const refusal = `could not create a duplicate of ${m.status?.devices?.[0]?.source} on ${refuseR}: parent ${PARENT} on ${refuseR} refused: type ${TYPE} on ${PARENT} has no create attribute`;
    expect(verdictOf(m, refuseR)).to.deep.equal({ node: refuseR, verdict: 'Excluded', message: refusal });
    expect(verdictOf(m, createR)?.verdict).to.equal('Compatible');
    const asked = (await probesOf(kc, refuseR)).filter((x) => x.spec.create);
    expect(asked).to.have.length(1);
    expect(asked[0]?.status?.created).to.equal(undefined);
    expect(asked[0]?.status?.results?.find((r) => r.parent === PARENT)).to.deep.include({ accepted: false, reason: `type ${TYPE} on ${PARENT} has no create attribute` });
    await waitFor('the Succeeded event', async () => ((await eventsOf(kc, m)).some((e) => e.reason === 'Succeeded') ? true : undefined), 30_000);
    const failures = (await eventsOf(kc, m)).filter((e) => e.reason === 'TargetCreationFailed');
    expect(failures.map((e) => e.message)).to.deep.equal([refusal]);

    // Nothing was created on the refusing node; the duplicate was created on the other one.
    expect(refusingTree.mdevs().sort()).to.deep.equal(treeBefore);
    expect(await devicesOn(kc, refuseR)).to.deep.equal(devicesBefore);
    const uuid = duplicateUuid(m.metadata.uid ?? '', m.status?.devices?.[0]?.source ?? '');
    expect(treeOf(createR).hasMdev(uuid)).to.equal(true);
    expect((await getDevice(kc, m.status?.devices?.[0]?.created ?? ''))?.spec).to.deep.include({ nodeName: createR, id: uuid });
    expect(await vmimsOf(kc, ns, m)).to.have.length(1);
    expect(m.status?.failedTargets).to.deep.equal([{ node: refuseR, reason: refusal }]);
    await waitFor('no claim left for the migration', async () => ((await claimsOf(kc, ns, 'refused-next')).length === 0 ? true : undefined), 20_000);
  });

  it('a refusal on the only candidate (accel stand-in, creation parameters) fails the migration at once with the node Excluded', async () => {
    const f = fleet as FleetHandle;
    const treeBefore = treeOf(accNeedsY).mdevs().sort();
    const devicesBefore = await devicesOn(kc, accNeedsY);
    const vm = await f.startVm({ namespace: ns, name: 'vm-y', node: accSrcY });
    await createMigration(kc, ns, 'refused-only', { vmiName: 'vm-y', targetNodes: [accSrcY, accNeedsY], allowCreateTarget: true, deadlineSeconds: 60 });
    const m = await waitForPhase(kc, ns, 'refused-only', ['Succeeded', 'Failed'], 45_000);
    expect(m.status?.phase, m.status?.message).to.equal('Failed');
    // "At once": it fails for want of a node (not DeadlineExceeded after asking again until the deadline).
    expect(m.status?.conditions?.find((c) => c.type === 'Ready')?.reason).to.equal('NoCompatibleNode');
    const source = vm.devices[0] as string;
    const refusal = `could not create a duplicate of ${source} on ${accNeedsY}: parent ${PARENT} on ${accNeedsY} refused: refused to create on type ${ACCEL} on ${PARENT}: creation parameters need an mdevctl definition on the host, which the agent does not write`;
    expect(verdictOf(m, accNeedsY)).to.deep.equal({ node: accNeedsY, verdict: 'Excluded', message: refusal });
    // The source carries the creation parameters the agent refused to apply.
    expect((await getDevice(kc, source))?.spec.creationParams).to.deep.equal([{ key: 'qp', value: '64' }]);

    // One refusal, one failure: the refused node is not asked a second time (the refusal is kept in
    // status.failedTargets, so a restarted controller would not ask again either).
    await waitFor('the NoCompatibleNode event', async () => ((await eventsOf(kc, m)).some((e) => e.reason === 'NoCompatibleNode') ? true : undefined), 30_000);
    const events = await eventsOf(kc, m);
    expect(events.filter((e) => e.reason === 'TargetCreationFailed').map((e) => e.message)).to.deep.equal([refusal]);
    expect(events.filter((e) => e.reason === 'NoCompatibleNode')).to.have.length(1);
    expect((await probesOf(kc, accNeedsY)).filter((x) => x.spec.create)).to.have.length(1);
    expect(treeOf(accNeedsY).mdevs().sort()).to.deep.equal(treeBefore);
    expect(await devicesOn(kc, accNeedsY)).to.deep.equal(devicesBefore);
    expect(await vmimsOf(kc, ns, m)).to.have.length(0);
    expect(await claimsOf(kc, ns, 'refused-only')).to.deep.equal([]);
    expect(m.status?.failedTargets?.map((t) => t.node)).to.deep.equal([accNeedsY]);
    expect((await getVmi(kc, ns, 'vm-y'))?.status?.nodeName).to.equal(accSrcY);
  });

  it('a node with a free compatible device ranks before one needing creation, so a refusing node is never asked (accel stand-in)', async () => {
    // The same refusing setup as above plus a node with a free device: the engine ranks fewer
    // creations first (ordering.ts), so the free device is taken and no creation is ever asked for.
    const f = fleet as FleetHandle;
    await f.startVm({ namespace: ns, name: 'vm-x', node: accSrcX });
    await createMigration(kc, ns, 'free-first', { vmiName: 'vm-x', targetNodes: [accSrcX, accNeedsX, accFreeX], allowCreateTarget: true, deadlineSeconds: 60 });
    const m = await waitForPhase(kc, ns, 'free-first', ['Succeeded', 'Failed'], 20_000);
    expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
    expect(m.status?.targetNode).to.equal(accFreeX);
    expect(verdictOf(m, accNeedsX)?.verdict).to.equal('Compatible');
    expect(verdictOf(m, accNeedsX)?.message).to.match(/1 to create/);
    await waitFor('the Succeeded event', async () => ((await eventsOf(kc, m)).some((e) => e.reason === 'Succeeded') ? true : undefined), 30_000);
    expect((await eventsOf(kc, m)).filter((e) => e.reason === 'TargetCreationFailed')).to.have.length(0);
    expect((await probesOf(kc, accNeedsX)).filter((x) => x.spec.create)).to.have.length(0);
  });
});
