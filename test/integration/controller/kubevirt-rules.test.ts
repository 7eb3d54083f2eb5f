// The controller under KubeVirt v1.9's rules, end to end on the REAL local kube-apiserver: STAND-IN
// nodes (the fleet simulator: fake sysfs trees with simulated vendor drivers, the real agent code, a
// kubelet stand-in), and the strict KubeVirt STAND-IN: its VMIM admission webhooks on the API server
// refuse with 400 as virt-api does, its scheduler stand-in leaves an unfitting target pod Pending,
// and its device-plugin stand-in hands the target pod ANY free device of the resource (seeded
// random). A KubeVirt CR STAND-IN adds cluster-wide node selectors and a virt-handler placement.
import { expect } from 'chai';
import { API_VERSION, LABEL_NODE, parseFromWire, type MdevDevice } from '../../../src/api/v1alpha1/index.ts';
import { startManager, type ManagerHandle } from '../../../src/controller/manager.ts';
import { MDEV_DEVICES, NODES } from '../../../src/controller/resources.ts';
import { mergePatch } from '../../../src/kube/apply.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { getVmi, getVmim } from '../../../src/kubevirt/client.ts';
import { KUBEVIRT_CR_RESOURCE } from '../../../src/kubevirt/kubevirt-config.ts';
import { LABEL_SCHEDULABLE } from '../../../src/kubevirt/target-constraints.ts';
import { KUBEVIRT_API_VERSION, LABEL_HOSTNAME, VMIM_RESOURCE } from '../../../src/kubevirt/types.ts';
import { loggerFor } from '../../../src/observability/logger.ts';
import { liveDecider } from '../../../src/webhook/live-decider.ts';
import { loadLiveState } from '../../../src/webhook/live-view.ts';
import { startFleet, type FleetHandle } from '../../../dev/sim/fleet/fleet.ts';
import { gpuAddress, type FleetNodeSpec, type GpuSpec } from '../../../dev/sim/fleet/profile.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { claimsOf, createMigration, createNamespace, deleteNamespace, eventsWith, getMigration, h100, installCrds, verdictOf, vmimsOf, waitFor, waitForPhase } from './helpers.ts';

const log = loggerFor('kubevirt-rules-test');

const H100 = (hostDriver: string, devices = 1): GpuSpec => h100(hostDriver, { devices });

// Every migration lists its fleet's nodes in spec.targetNodes: fleets of other tests share the
// API server, and their nodes must not become candidates here.
describe('controller under KubeVirt v1.9 rules (stand-in fleet running the real agent, strict KubeVirt stand-in, KubeVirt CR stand-in)', function () {
  this.timeout(180_000);
  const kc = testKubeConfig();
  const opNs = uniqueName('mdevop');
  const id = uniqueName('kvr');
  // The KubeVirt CR stand-in: every virt-launcher pod selects CR_LABEL; virt-handler runs where HANDLER_LABEL is.
  const CR_LABEL = `cr.kv-test.mdev-operator.io/${id}`;
  const HANDLER_LABEL = `handler.kv-test.mdev-operator.io/${id}`;
  const INTEL = 'cpu-vendor.node.kubevirt.io/Intel';
  // A numeric taint the VMs tolerate with Lt; virt-handler (nodePlacement) tolerates it outright.
  const GEN = `gen.kv-test.mdev-operator.io/${id}`;
  const fleets: FleetHandle[] = [];
  const namespaces: string[] = [opNs];
  let manager: ManagerHandle;

  /** A node as KubeVirt (per the CR stand-in) would run VMIs on it; `without` drops default labels. */
  function node(name: string, gpus: GpuSpec[], extra: { labels?: Record<string, string>; without?: string[]; taints?: FleetNodeSpec['taints'] } = {}): FleetNodeSpec {
    const labels: Record<string, string> = { [CR_LABEL]: 'yes', [HANDLER_LABEL]: 'yes', [INTEL]: 'true', ...extra.labels };
    for (const k of extra.without ?? []) delete labels[k];
    return { name, labels, taints: extra.taints ?? [], unschedulable: false, agent: true, gpus };
  }

  async function fleet(prefix: string, specs: FleetNodeSpec[], unschedulableTimeoutMs?: number): Promise<{ f: FleetHandle; ns: string }> {
    const ns = uniqueName(prefix);
    await createNamespace(kc, ns);
    namespaces.push(ns);
    const f = await startFleet({ kc, namespace: opNs, specs, kubevirt: { namespace: ns, stepDelayMs: 20, unschedulableTimeoutMs }, resyncIntervalMs: 2_000 });
    fleets.push(f);
    return { f, ns };
  }

  async function devicesOf(nodeName: string): Promise<MdevDevice[]> {
    const res = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_DEVICES), query: { labelSelector: `${LABEL_NODE}=${nodeName}` } })) as { items?: unknown[] };
    return (res.items ?? []).flatMap((i) => parseFromWire('MdevDevice', { apiVersion: API_VERSION, kind: 'MdevDevice', ...(i as object) }, log) ?? []);
  }

  before(async () => {
    await installCrds();
    await installKubevirtStandins(kc);
    await createNamespace(kc, opNs);
    // The CR exists before the controller starts, so its first read sees it.
    await kubeRequest(kc, {
      method: 'POST',
      path: resourcePath(KUBEVIRT_CR_RESOURCE, { namespace: opNs }),
      body: {
        apiVersion: KUBEVIRT_API_VERSION,
        kind: 'KubeVirt',
        metadata: { name: 'kubevirt', namespace: opNs },
        spec: { configuration: { developerConfiguration: { nodeSelectors: { [CR_LABEL]: 'yes' } } }, workloads: { nodePlacement: { nodeSelector: { [HANDLER_LABEL]: 'yes' }, tolerations: [{ key: GEN, operator: 'Exists' }] } } },
      },
    });
    manager = await startManager({ kc, namespace: opNs, leaderElect: false, probeTimeoutMs: 5_000, sweepIntervalMs: 1_000, watchTimeoutSeconds: 30, targetPendingTimeoutMs: 2_000 });
    await manager.waitUntilRunning();
  });

  after(async () => {
    await manager?.stop();
    for (const f of fleets) await f.stop({ deleteNodes: true });
    await kubeRequest(kc, { method: 'DELETE', path: resourcePath(KUBEVIRT_CR_RESOURCE, { namespace: opNs, name: 'kubevirt' }) }).catch(() => undefined);
    for (const ns of namespaces) await deleteNamespace(kc, ns);
  });

  describe('a node whose free pool is mixed (one free device accepts the source, one does not)', () => {
    const p = uniqueName('mix');
    const [src, mixed, good] = [`${p}-src`, `${p}-mixed`, `${p}-good`];
    let f: FleetHandle;
    let ns: string;

    before(async () => {
      ({ f, ns } = await fleet('mix', [
        node(src, [H100('550.54.15', 2)]),
        // Same type name on both GPUs, so KubeVirt's device plugin offers both as one resource.
        node(mixed, [H100('550.90.07'), H100('535.161.08')]),
        node(good, [H100('550.90.07')]),
      ]));
    });

    it('is not chosen, since the device plugin may hand out the incompatible device; status and explain say "pool mixed"', async () => {
      await f.startVm({ namespace: ns, name: 'vm-a', node: src });
      await f.startVm({ namespace: ns, name: 'vm-b', node: src });
      await createMigration(kc, ns, 'mix-a', { vmiName: 'vm-a', targetNodes: [src, mixed, good] });
      const m = await waitForPhase(kc, ns, 'mix-a', ['Succeeded', 'Failed']);
      expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
      expect(m.status?.targetNode).to.equal(good);
      expect(verdictOf(m, mixed)).to.deep.include({ verdict: 'Incompatible' });
      expect(verdictOf(m, mixed)?.message).to.match(/^1 of 2 free nvidia-1012 devices incompatible: pool mixed/);

      // `mdev-operator explain` (the same live decider): vm-b's view of the mixed node.
      const state = await loadLiveState(kc, opNs, log);
      const vmi = state.vmis.find((v) => v.metadata.namespace === ns && v.metadata.name === 'vm-b');
      expect(vmi, 'vm-b in the live state').to.not.equal(undefined);
      const live = await liveDecider({ kc, state, probe: true, log });
      try {
        const d = await live.decider.decide({ vmi: vmi!, budgetMs: 20_000, probe: true });
        const e = d.explanations.find((x) => x.node === mixed);
        expect(e?.verdict).to.equal('Incompatible');
        expect(e?.message).to.match(/1 of 2 free nvidia-1012 devices incompatible: pool mixed/);
      } finally {
        await live.stop();
      }
    });

    it('is chosen once a VM holds the incompatible device, and the device the VMI got is recorded and verified', async () => {
      await f.startVm({ namespace: ns, name: 'holder', node: mixed, parent: gpuAddress(1) });
      const compatible = (await devicesOf(mixed)).find((d) => d.spec.parent.address === gpuAddress(0));
      await createMigration(kc, ns, 'mix-b', { vmiName: 'vm-b', targetNodes: [src, mixed] });
      const m = await waitForPhase(kc, ns, 'mix-b', ['Succeeded', 'Failed']);
      expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
      expect(m.status?.targetNode).to.equal(mixed);
      const settled = await waitFor('the device vm-b got to be recorded', async () => {
        const cur = await getMigration(kc, ns, 'mix-b');
        return cur?.status?.devices?.[0]?.target ? cur : undefined;
      });
      expect(settled.status?.devices?.[0]).to.deep.include({ target: compatible?.metadata.name, targetAccepted: true });
      expect(settled.status?.conditions?.find((c) => c.type === 'TargetDeviceVerified')).to.deep.include({ status: 'True', reason: 'InAcceptedClass' });
      expect((await eventsWith(kc, ns, 'mix-b', ['Succeeded'])).map((e) => e.reason)).not.to.include('UnverifiedTargetDevice');
      expect(await claimsOf(kc, ns, 'mix-b'), 'the claim is released once the device is recorded').to.deep.equal([]);
    });
  });

  it('places a VMI with a DRA GPU (claimName/requestName, no deviceName) and an Lt toleration', async () => {
    const p = uniqueName('dra');
    const [src, hi, lo] = [`${p}-src`, `${p}-hi`, `${p}-lo`];
    const { f, ns } = await fleet('dra', [
      node(src, [H100('550.54.15')]),
      node(hi, [H100('550.54.15')], { taints: [{ key: GEN, value: '10', effect: 'NoSchedule' }] }),
      node(lo, [H100('550.54.15')], { taints: [{ key: GEN, value: '5', effect: 'NoSchedule' }] }),
    ]);
    // Lt tolerates a taint whose value is less than the toleration's (k8s toleration.go): 5 yes, 10 no.
    const vm = await f.startVm({ namespace: ns, name: 'vm-dra', node: src, dra: true, tolerations: [{ key: GEN, operator: 'Lt', value: '8', effect: 'NoSchedule' }] });
    const gpu = (await getVmi(kc, ns, 'vm-dra'))?.spec.domain?.devices?.gpus?.[0];
    expect(gpu).to.deep.include({ claimName: 'vgpu', requestName: 'gpu0' });
    expect(gpu?.deviceName).to.equal(undefined);
    await createMigration(kc, ns, 'dra', { vmiName: 'vm-dra', targetNodes: [src, hi, lo] });
    const m = await waitForPhase(kc, ns, 'dra', ['Succeeded', 'Failed']);
    expect(m.status?.phase, JSON.stringify(m.status?.candidates)).to.equal('Succeeded');
    expect(m.status?.targetNode).to.equal(lo);
    expect(m.status?.devices?.[0]?.source).to.equal(vm.devices[0]);
    expect(verdictOf(m, hi)).to.deep.equal({ node: hi, verdict: 'Excluded', message: `taint ${GEN}=10:NoSchedule not tolerated` });
    expect(verdictOf(m, lo)?.verdict).to.equal('Compatible');
  });

  describe('KubeVirt refusals', () => {
    const p = uniqueName('refuse');
    const [src, dst] = [`${p}-src`, `${p}-dst`];
    let f: FleetHandle;
    let ns: string;

    before(async () => {
      ({ f, ns } = await fleet('refuse', [node(src, [H100('550.54.15', 2)]), node(dst, [H100('550.54.15', 2)])]));
    });

    it('fails a VMI KubeVirt reports not LiveMigratable at once with KubeVirt\'s reason: no probe, no claim, no VMIM', async () => {
      await f.startVm({ namespace: ns, name: 'vm-stuck', node: src, liveMigratable: false });
      await createMigration(kc, ns, 'stuck', { vmiName: 'vm-stuck', targetNodes: [src, dst] });
      const m = await waitForPhase(kc, ns, 'stuck', ['Succeeded', 'Failed', 'Planned']);
      expect(m.status?.phase).to.equal('Failed');
      expect(m.status?.conditions?.find((c) => c.type === 'Ready')?.reason).to.equal('NotLiveMigratable');
      expect(m.status?.message).to.include('reason HostDeviceNotLiveMigratable: VMI specifies too many GPUs');
      expect(m.status?.probes ?? 0).to.equal(0);
      expect(m.status?.attempts ?? 0).to.equal(0);
      expect(await vmimsOf(kc, ns, m)).to.deep.equal([]);
      expect(await claimsOf(kc, ns, 'stuck')).to.deep.equal([]);
    });

    it('ends the migration at once when KubeVirt\'s admission refuses the VMIM create with 400, carrying KubeVirt\'s message', async () => {
      await f.startVm({ namespace: ns, name: 'vm-busy', node: src });
      // Someone else's migration of the VMI is in flight (pinned nowhere, so it stays Pending).
      await kubeRequest(kc, {
        method: 'POST',
        path: resourcePath(VMIM_RESOURCE, { namespace: ns }),
        body: { apiVersion: KUBEVIRT_API_VERSION, kind: 'VirtualMachineInstanceMigration', metadata: { name: 'manual-busy' }, spec: { vmiName: 'vm-busy', addedNodeSelector: { [LABEL_HOSTNAME]: `${p}-nowhere` } } },
      });
      const manual = await getVmim(kc, ns, 'manual-busy');
      await createMigration(kc, ns, 'busy', { vmiName: 'vm-busy', targetNodes: [src, dst], deadlineSeconds: 600 });
      const m = await waitForPhase(kc, ns, 'busy', ['Succeeded', 'Failed']);
      expect(m.status?.conditions?.find((c) => c.type === 'Ready')?.reason).to.equal('MigrationRefused');
      expect(m.status?.message).to.equal(
        // The API server names the webhook that denied the request: the refusal really came through it.
        `KubeVirt refused VirtualMachineInstanceMigration ${ns}/${m.metadata.name}-1: admission webhook "migration-create-validator.kubevirt.io" denied the request: in-flight migration detected. Active migration job (${manual?.metadata.uid}) is currently already in progress for VMI vm-busy.`,
      );
      expect(m.status?.attempts).to.equal(1);
      expect(await vmimsOf(kc, ns, m)).to.deep.equal([]);
      expect(await claimsOf(kc, ns, 'busy')).to.deep.equal([]);
      const events = await eventsWith(kc, ns, 'busy', ['MigrationRefused']);
      expect(events.filter((e) => e.reason === 'MigrationRefused')).to.have.length(1);
      expect(events.map((e) => e.reason)).to.not.include('AttemptFailed');
      await kubeRequest(kc, { method: 'DELETE', path: resourcePath(VMIM_RESOURCE, { namespace: ns, name: 'manual-busy' }) });
    });
  });

  it('pins the target by its kubernetes.io/hostname label value when that differs from the node name', async () => {
    const p = uniqueName('host');
    const [src, named, hostname] = [`${p}-src`, `${p}-named`, `${p}-other-hostname`];
    const { f, ns } = await fleet('host', [node(src, [H100('550.54.15')]), node(named, [H100('550.54.15')], { labels: { [LABEL_HOSTNAME]: hostname } })]);
    await f.startVm({ namespace: ns, name: 'vm-h', node: src });
    await createMigration(kc, ns, 'host', { vmiName: 'vm-h', targetNodes: [src, named] });
    const m = await waitForPhase(kc, ns, 'host', ['Succeeded', 'Failed']);
    expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
    expect(m.status?.targetNode).to.equal(named);
    const [vmim] = await vmimsOf(kc, ns, m);
    expect(vmim?.spec.addedNodeSelector).to.deep.equal({ [LABEL_HOSTNAME]: hostname });
    expect((await getVmi(kc, ns, 'vm-h'))?.status?.nodeName).to.equal(named);
    expect((await eventsWith(kc, ns, 'host', ['Migrating'])).map((e) => e.message)).to.include(`Created VirtualMachineInstanceMigration ${m.metadata.name}-1 to ${named} (kubernetes.io/hostname=${hostname})`);
  });

  it('gives up a target whose pod stays Pending past --target-pending-timeout (2 s here) and migrates to the next candidate', async () => {
    const p = uniqueName('pend');
    // Equal nodes rank by name: `-a` first. Its allocatable memory cannot hold the VM's 1Gi request,
    // which the operator does not model: KubeVirt's scheduler leaves the target pod Pending.
    const [src, small, roomy] = [`${p}-src`, `${p}-a`, `${p}-b`];
    const { f, ns } = await fleet('pend', [node(src, [H100('550.54.15')]), node(small, [H100('550.54.15')]), node(roomy, [H100('550.54.15')])]);
    await mergePatch(kc, NODES, { name: small }, { status: { allocatable: { memory: '512Mi' } } }, { subresource: 'status' });
    await f.startVm({ namespace: ns, name: 'vm-p', node: src });
    await createMigration(kc, ns, 'pend', { vmiName: 'vm-p', targetNodes: [src, small, roomy] });
    const m = await waitForPhase(kc, ns, 'pend', ['Succeeded', 'Failed'], 90_000);
    expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
    expect(m.status?.targetNode).to.equal(roomy);
    expect(m.status?.attempts).to.equal(2);
    expect(m.status?.failedTargets).to.have.length(1);
    expect(m.status?.failedTargets?.[0]).to.deep.include({ node: small, migrationName: `${m.metadata.name}-1` });
    expect(m.status?.failedTargets?.[0]?.reason).to.match(
      /^its target pod virt-launcher-vm-p-\w+ stayed Pending for \d+s \(Unschedulable: 0\/\d+ nodes are available: 1 Insufficient memory, .*\); the operator gave it up before KubeVirt's own 5-minute timeout$/,
    );
    const reasons = (await eventsWith(kc, ns, 'pend', ['Succeeded'])).map((e) => e.reason);
    expect(reasons).to.include.members(['TargetPending', 'AttemptFailed', 'Succeeded']);
    // The cancelled VMIM ended (or is gone): KubeVirt never ran two migrations of the VMI at once.
    const first = await getVmim(kc, ns, `${m.metadata.name}-1`);
    expect(first === undefined || first.status?.phase === 'Failed', `first VMIM phase ${first?.status?.phase}`).to.equal(true);
    expect((await getVmi(kc, ns, 'vm-p'))?.status?.nodeName).to.equal(roomy);
  });

  it('reads why KubeVirt failed a VMIM from its Events when the VMIM carries no failureReason, and tries the next candidate', async () => {
    const p = uniqueName('evt');
    const [src, small, roomy] = [`${p}-src`, `${p}-a`, `${p}-b`];
    // The stand-in gives up an unschedulable target pod after 300 ms, before the controller's 2 s
    // bound: it deletes the pod and fails the VMIM with Events only, as KubeVirt does after 5 minutes.
    const { f, ns } = await fleet('evt', [node(src, [H100('550.54.15')]), node(small, [H100('550.54.15')]), node(roomy, [H100('550.54.15')])], 300);
    await mergePatch(kc, NODES, { name: small }, { status: { allocatable: { memory: '512Mi' } } }, { subresource: 'status' });
    await f.startVm({ namespace: ns, name: 'vm-e', node: src });
    await createMigration(kc, ns, 'evt', { vmiName: 'vm-e', targetNodes: [src, small, roomy] });
    const m = await waitForPhase(kc, ns, 'evt', ['Succeeded', 'Failed'], 90_000);
    expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
    expect(m.status?.targetNode).to.equal(roomy);
    const failedVmim = await getVmim(kc, ns, `${m.metadata.name}-1`);
    expect(failedVmim?.status?.migrationState?.failureReason, 'KubeVirt wrote no failureReason').to.equal(undefined);
    expect(m.status?.failedTargets?.[0]).to.deep.include({
      node: small,
      migrationName: `${m.metadata.name}-1`,
      // Newest first: KubeVirt's last word (the pod removed) before the first (unschedulable).
      reason: `FailedMigration: Migration target pod was removed during active migration.; migrationTargetPodUnschedulable: Migration target pod for VMI [${ns}/vm-e] is currently unschedulable.`,
    });
  });

  it('excludes, with the reason, nodes KubeVirt itself would never run the target on', async () => {
    const p = uniqueName('kvx');
    const [src, unsched, noCr, noHandler, amd, ok] = [`${p}-src`, `${p}-unsched`, `${p}-nocr`, `${p}-nohandler`, `${p}-amd`, `${p}-ok`];
    const { f, ns } = await fleet('kvx', [
      node(src, [H100('550.54.15')]),
      node(unsched, [H100('550.54.15')], { labels: { [LABEL_SCHEDULABLE]: 'false' } }),
      node(noCr, [H100('550.54.15')], { without: [CR_LABEL] }),
      node(noHandler, [H100('550.54.15')], { without: [HANDLER_LABEL] }),
      node(amd, [H100('550.54.15')], { without: [INTEL], labels: { 'cpu-vendor.node.kubevirt.io/AMD': 'true' } }),
      node(ok, [H100('550.54.15')]),
    ]);
    await f.startVm({ namespace: ns, name: 'vm-x', node: src });
    await createMigration(kc, ns, 'kvx', { vmiName: 'vm-x', dryRun: true, targetNodes: [src, unsched, noCr, noHandler, amd, ok] });
    const m = await waitForPhase(kc, ns, 'kvx', ['Planned', 'Failed']);
    expect(m.status?.phase, m.status?.message).to.equal('Planned');
    expect(m.status?.targetNode).to.equal(ok);
    expect(verdictOf(m, unsched)).to.deep.include({
      verdict: 'Excluded',
      message: 'KubeVirt requires kubevirt.io/schedulable=true on the target (label is false): KubeVirt runs VMIs only where virt-handler is ready and labels the node so',
    });
    expect(verdictOf(m, noCr)).to.deep.include({
      verdict: 'Excluded',
      message: `KubeVirt requires ${CR_LABEL}=yes on the target (label is absent): the KubeVirt CR's spec.configuration.developerConfiguration.nodeSelectors`,
    });
    expect(verdictOf(m, noHandler)).to.deep.include({
      verdict: 'Excluded',
      message: `outside the KubeVirt CR's spec.workloads.nodePlacement (nodeSelector ${HANDLER_LABEL}=yes not met): virt-handler does not run there`,
    });
    expect(verdictOf(m, amd)).to.deep.include({
      verdict: 'Excluded',
      message: `KubeVirt requires ${INTEL}=true on the target (label is absent): migrations stay within the source node's CPU vendor (Intel)`,
    });
  });
});
