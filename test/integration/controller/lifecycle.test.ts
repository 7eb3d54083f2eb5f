// Finished MdevMigrations are cleaned up by the controller on the REAL kube-apiserver, like Jobs:
// spec.ttlSecondsAfterFinished and a per-VMI history limit. STAND-IN fleet (real agent code on fake
// sysfs, KubeVirt stand-in). Dry runs finish at Planned, so no VMIM is needed to finish one.
import { expect } from 'chai';
import { startFleet, type FleetHandle } from '../../../dev/sim/fleet/fleet.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import { API_VERSION } from '../../../src/api/v1alpha1/index.ts';
import { startManager, type ManagerHandle } from '../../../src/controller/manager.ts';
import { MDEV_MIGRATIONS } from '../../../src/controller/resources.ts';
import { isNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { createMigration, createNamespace, deleteNamespace, eventsWith, getMigration, installCrds, waitFor } from './helpers.ts';

describe('controller: finished MdevMigrations deleted by TTL and per-VMI history limit (stand-in fleet)', function () {
  this.timeout(120_000);
  const kc = testKubeConfig();
  const opNs = uniqueName('lifeop');
  const ns = uniqueName('life');
  const p = uniqueName('lf');
  const nodes = [`${p}-1`, `${p}-2`];
  let fleet: FleetHandle;
  let manager: ManagerHandle;

  const gone = (name: string) =>
    waitFor(`MdevMigration ${ns}/${name} to be deleted by the controller`, async () => {
      try {
        await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns, name }) });
        return undefined;
      } catch (err) {
        if (isNotFound(err)) return true;
        throw err;
      }
    });

  before(async () => {
    await installCrds();
    await installKubevirtStandins(kc);
    for (const n of [opNs, ns]) await createNamespace(kc, n);
    const gpu = { vendor: 'nvidia' as const, board: 'H100-PCIE-80GB', hostDriver: '550.54.15', vgpuVersion: 0x12, vgpuRange: [0x10, 0x13] as [number, number], typeId: 'nvidia-1012', devices: 2, spare: 0 };
    fleet = await startFleet({ kc, namespace: opNs, specs: nodes.map((name) => ({ name, labels: {}, taints: [], unschedulable: false, agent: true, gpus: [gpu] })), kubevirt: { namespace: ns, stepDelayMs: 20 }, resyncIntervalMs: 2_000 });
    await fleet.startVm({ namespace: ns, name: 'vm', node: nodes[0] as string });
    manager = await startManager({ kc, namespace: opNs, leaderElect: false, probeTimeoutMs: 5_000, historyLimit: 2, watchTimeoutSeconds: 30 });
    await manager.waitUntilRunning();
  });

  after(async () => {
    await manager?.stop();
    await fleet?.stop({ deleteNodes: true });
    for (const n of [ns, opNs]) await deleteNamespace(kc, n);
  });

  it('the API server refuses a ttlSecondsAfterFinished outside 0..2592000', async () => {
    for (const ttl of [-1, 2_592_001]) {
      const body = { apiVersion: API_VERSION, kind: 'MdevMigration', metadata: { name: `bad-ttl-${ttl < 0 ? 'neg' : 'big'}`, namespace: ns }, spec: { vmiName: 'vm', dryRun: true, ttlSecondsAfterFinished: ttl } };
      const err = await kubeRequest(kc, { method: 'POST', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns }), body }).then(() => undefined, (e: Error) => e);
      expect(err?.message, `ttl ${ttl}`).to.match(/ttlSecondsAfterFinished/);
    }
  });

  it('deletes a finished dry run once its TTL passed, after stamping completionTime', async () => {
    const body = { apiVersion: API_VERSION, kind: 'MdevMigration', metadata: { name: 'ttl-zero', namespace: ns }, spec: { vmiName: 'vm', dryRun: true, targetNodes: nodes, ttlSecondsAfterFinished: 0 } };
    await kubeRequest(kc, { method: 'POST', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns }), body });
    await gone('ttl-zero');
    // It did finish before it went: the controller's Planned event is what is left of it.
    const reasons = (await eventsWith(kc, ns, 'ttl-zero', ['Planned'])).map((e) => e.reason);
    expect(reasons).to.include('Planned');
  });

  it('keeps only the newest 2 finished records of a VMI and deletes the older ones', async () => {
    for (const name of ['h1', 'h2', 'h3', 'h4']) {
      await createMigration(kc, ns, name, { vmiName: 'vm', dryRun: true, targetNodes: nodes });
      // One after another, so their completion times are ordered.
      await waitFor(`${name} to finish`, async () => {
        const m = await getMigration(kc, ns, name);
        return m?.status?.completionTime ? m : undefined;
      });
    }
    await gone('h1');
    await gone('h2');
    for (const name of ['h3', 'h4']) expect((await getMigration(kc, ns, name))?.status?.phase, name).to.equal('Planned');
  });
});
