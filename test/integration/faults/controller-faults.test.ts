// Faults around the controller on the REAL local kube-apiserver, with STAND-IN nodes (fake sysfs,
// simulated vendor drivers, the real agent code) and the KubeVirt STAND-IN simulator: crashes at
// each step of a migration, leader failover, agents that stop answering, and contention for
// scarce devices. The invariant checker runs after every scenario.
import { expect } from 'chai';
import { CONDITION_TARGET_DEVICE_VERIFIED, type MdevDevice, type MdevMigration } from '../../../src/api/v1alpha1/index.ts';
import type { EventSink } from '../../../src/controller/events.ts';
import type { ManagerHandle } from '../../../src/controller/manager.ts';
import { MDEV_MIGRATIONS, MDEV_NODES, MDEV_PROBES } from '../../../src/controller/resources.ts';
import { ownerReferenceTo, vmimName } from '../../../src/controller/vmim-driver.ts';
import { mergePatch } from '../../../src/kube/apply.ts';
import { createVmim } from '../../../src/kubevirt/client.ts';
import { mdevPoolKey } from '../../../src/kubevirt/device-plugin.ts';
import { LABEL_HOSTNAME } from '../../../src/kubevirt/types.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { testKubeConfig } from '../../support/cluster.ts';
import { expectInvariants } from '../../support/faults/invariants.ts';
import { eventually, FaultWorld, h100 } from '../../support/faults/world.ts';

const verdictOf = (m: MdevMigration, node: string) => m.status?.candidates?.find((c) => c.node === node);

/** An event sink that crashes its own manager the moment the reconciler reports `reason`. */
function crashOn(reason: string, seen: string[]): { sink: EventSink; arm: (m: ManagerHandle) => void } {
  let victim: ManagerHandle | undefined;
  return {
    arm: (m) => (victim = m),
    sink: {
      record: (_m, _type, r) => {
        seen.push(r);
        // An event sink cannot wait: kill() marks the manager dead synchronously; were the rest to
        // reject, mocha would report the unhandled rejection as a failure.
        if (r === reason) void victim?.kill();
      },
    },
  };
}

describe('faults: controller crashes, failover and contention (stand-in fleet, KubeVirt stand-in)', function () {
  this.timeout(240_000);
  const kc = testKubeConfig();

  describe('the controller killed mid-migration', () => {
    let world: FaultWorld;
    before(async () => {
      world = await FaultWorld.start({
        kc, prefix: 'fkill', kubevirt: { stepDelayMs: 150 },
        nodes: [{ suffix: 'src', gpus: [h100('550.54.15', { devices: 3 })] }, { suffix: 'dst', gpus: [h100('550.90.07', { devices: 3 })] }],
      });
    });
    after(async () => world?.stop());

    for (const [step, reason] of [['while Probing', 'Probing'], ['right after claiming', 'Claimed'], ['while Migrating', 'Migrating']] as const) {
      it(`${step}: a restarted controller resumes without a duplicate VMIM or a leaked claim`, async () => {
        const vm = `vm-${reason.toLowerCase()}`;
        await world.fleet.startVm({ namespace: world.ns, name: vm, node: world.node('src') });
        const seen: string[] = [];
        const crash = crashOn(reason, seen);
        const doomed = await world.startController({ events: crash.sink });
        crash.arm(doomed);
        await world.createMigration(vm, { vmiName: vm });
        await eventually(`the controller to crash at ${reason}`, async () => (seen.includes(reason) ? true : undefined));
        await doomed.kill();
        world.managers.splice(world.managers.indexOf(doomed), 1);
        expect(seen.at(-1), 'nothing was reported after the crash').to.equal(reason);

        const survivor = await world.startController();
        const m = await world.waitForPhase(vm, ['Succeeded', 'Failed'], 90_000);
        expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
        expect(m.status?.targetNode).to.equal(world.node('dst'));
        expect(m.status?.attempts).to.equal(1);
        expect(await world.vmimsOf(m)).to.have.length(1);
        await expectInvariants(world.scope());
        await survivor.stop();
        world.managers.splice(world.managers.indexOf(survivor), 1);
      });
    }
  });

  describe('a VMIM that finished while no controller could record it (an outage between creating it and writing Migrating)', () => {
    let world: FaultWorld;
    before(async () => {
      world = await FaultWorld.start({
        kc, prefix: 'fdone', kubevirt: { stepDelayMs: 20 },
        nodes: [{ suffix: 'src', gpus: [h100('550.54.15', { devices: 1 })] }, { suffix: 'dst', gpus: [h100('550.90.07', { devices: 1 })] }],
      });
    });
    after(async () => world?.stop());

    it('the controller adopts it and ends Succeeded with the device the VMI got, instead of claiming again a pool its own VMI now holds', async () => {
      const [src, dst] = [world.node('src'), world.node('dst')];
      const { devices: [source] } = await world.fleet.startVm({ namespace: world.ns, name: 'vm-done', node: src });
      const [target] = await world.devicesOf(dst);
      const pool = mdevPoolKey((target as MdevDevice).spec.type);
      // What a leader leaves behind when it loses the API server right after creating the VMIM of
      // attempt 1: status Planned with the devices, the target's pool claimed, the VMIM created.
      const m = await world.createMigration('done', { vmiName: 'vm-done', targetNodes: [dst] });
      const ref = { namespace: world.ns, name: 'done' };
      const status = { phase: 'Planned', targetNode: dst, devices: [{ source, pool }], attempts: 1, message: 'Claimed 1 device of pool for attempt 1' };
      await mergePatch(kc, MDEV_MIGRATIONS, ref, { status }, { subresource: 'status' });
      const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const claim = { migration: { ...ref, uid: m.metadata.uid }, pool, typeId: (target as MdevDevice).spec.type.id, units: 1, claimedAt: at(Date.now()), expiresAt: at(Date.now() + 600_000) };
      await mergePatch(kc, MDEV_NODES, { name: dst }, { status: { claims: [claim] } }, { subresource: 'status' });
      await createVmim(kc, { namespace: world.ns, name: vmimName('done', 1), vmiName: 'vm-done', addedNodeSelector: { [LABEL_HOSTNAME]: dst }, ownerReferences: [ownerReferenceTo(m)] });
      // KubeVirt finishes meanwhile, and the target's agent publishes the VMI as its consumer: the pool has no free unit left.
      await eventually('the VMI to run on the target, its agent publishing it', async () => {
        const d = (await world.devicesOf(dst)).find((x) => x.metadata.name === target?.metadata.name);
        return d?.status?.consumer?.name === 'vm-done' ? d : undefined;
      }, 60_000);

      await world.startController();
      await world.waitForPhase('done', ['Succeeded', 'Failed'], 60_000);
      const done = await eventually('the migration to settle (the device the VMI got recorded)', async () => {
        const x = await world.migration('done');
        return x?.status?.phase !== 'Succeeded' || x.status.conditions?.some((c) => c.type === CONDITION_TARGET_DEVICE_VERIFIED) ? x : undefined;
      }, 90_000);
      expect(done.status?.phase, done.status?.message).to.equal('Succeeded');
      expect(done.status?.devices?.map((d) => [d.source, d.pool, d.target]), 'the Planned device, and the one the VMI got').to.deep.equal([[source, pool, target?.metadata.name]]);
      expect(done.status?.targetNode).to.equal(dst);
      expect((await world.vmimsOf(done)).map((v) => v.metadata.name)).to.deep.equal([vmimName('done', 1)]);
      expect(await world.claimsOn(dst), 'the claim is released once settled').to.deep.equal([]);
      await expectInvariants(world.scope());
    });
  });

  describe('leader failover between two controller replicas', () => {
    let world: FaultWorld;
    before(async () => {
      world = await FaultWorld.start({
        kc, prefix: 'fleader', kubevirt: { stepDelayMs: 100 },
        nodes: [{ suffix: 'src', gpus: [h100('550.54.15', { devices: 4 })] }, { suffix: 'dst', gpus: [h100('550.90.07', { devices: 4 })] }],
      });
    });
    after(async () => world?.stop());

    it('the standby takes over after the leader crashes: every migration completes once, none twice', async () => {
      const election = { leaderElect: true, leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300 };
      const a = await world.startController({ ...election, identity: 'replica-a' });
      await a.waitUntilRunning();
      const b = await world.startController({ ...election, identity: 'replica-b' });
      expect(a.isLeader()).to.equal(true);
      expect(b.isLeader()).to.equal(false);
      const vms = ['vm-1', 'vm-2', 'vm-3', 'vm-4'];
      for (const vm of vms) await world.fleet.startVm({ namespace: world.ns, name: vm, node: world.node('src') });
      for (const vm of vms) await world.createMigration(vm, { vmiName: vm });
      await eventually('some migration to be under way', async () => {
        const phases = await Promise.all(vms.map(async (vm) => (await world.migration(vm))?.status?.phase));
        return phases.some((p) => p === 'Migrating' || p === 'Planned') ? true : undefined;
      });
      await a.kill();
      world.managers.splice(world.managers.indexOf(a), 1);
      await b.waitUntilRunning();
      expect(b.isLeader()).to.equal(true);
      for (const vm of vms) {
        const m = await world.waitForPhase(vm, ['Succeeded', 'Failed'], 90_000);
        expect(m.status?.phase, `${vm}: ${m.status?.message} ${JSON.stringify(m.status?.candidates)}`).to.equal('Succeeded');
        expect(await world.vmimsOf(m), vm).to.have.length(1);
        expect(m.status?.attempts, vm).to.equal(1);
      }
      await expectInvariants(world.scope());
    });
  });

  describe('agents that stop answering', () => {
    let world: FaultWorld;
    before(async () => {
      world = await FaultWorld.start({
        kc, prefix: 'flease', kubevirt: { stepDelayMs: 20 },
        nodes: [
          { suffix: 'src', gpus: [h100('550.54.15', { devices: 1 })] },
          // Two further version classes, both compatible with the source: the silent node has more
          // free devices (it would win the scoring), the expired one is another class again.
          { suffix: 'silent', gpus: [h100('550.90.07', { devices: 4 })] },
          { suffix: 'expired', gpus: [h100('550.100.01', { devices: 4 })] },
          { suffix: 'ok', gpus: [h100('550.54.16', { devices: 1 })] },
        ],
      });
    });
    after(async () => world?.stop());

    it('a dead agent with a fresh lease times out as AgentUnavailable, an expired lease is excluded unprobed, and the migration moves on', async () => {
      await world.startController({ probeTimeoutMs: 3_000 });
      await world.fleet.startVm({ namespace: world.ns, name: 'vm-l', node: world.node('src') });
      await world.fleet.stopAgent(world.node('silent')); // its lease stays fresh for 40 s
      await world.fleet.expireLease(world.node('expired'));
      await world.createMigration('lease', { vmiName: 'vm-l' });
      const m = await world.waitForPhase('lease', ['Succeeded', 'Failed'], 90_000);
      expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
      expect(m.status?.targetNode).to.equal(world.node('ok'));
      expect(verdictOf(m, world.node('silent'))?.verdict).to.equal('AgentUnavailable');
      expect(verdictOf(m, world.node('silent'))?.message).to.match(/time/i);
      expect(verdictOf(m, world.node('expired'))?.verdict).to.equal('AgentUnavailable');
      const probesOn = async (node: string) =>
        ((await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_PROBES), query: { labelSelector: `mdev-operator.io/node=${node}` } })) as { items: Array<{ status?: unknown }> }).items;
      expect(await probesOn(world.node('expired')), 'a node with an expired lease is never probed').to.have.length(0);
      expect((await probesOn(world.node('silent'))).every((p) => p.status === undefined), 'the silent node answered nothing').to.equal(true);
      for (const node of ['silent', 'expired']) {
        expect(await world.claimsOn(world.node(node)), node).to.deep.equal([]);
      }
      await expectInvariants({ ...world.scope(), expectedDevices: (n) => (n === world.node('ok') || n === world.node('src') ? world.scope().expectedDevices?.(n) : undefined) });
    });
  });

  describe('20 concurrent migrations competing for 5 free compatible devices', () => {
    let world: FaultWorld;
    before(async () => {
      world = await FaultWorld.start({
        kc, prefix: 'fcap', kubevirt: { stepDelayMs: 20 },
        nodes: [
          { suffix: 'src1', gpus: [h100('550.54.15', { devices: 10 })] },
          { suffix: 'src2', gpus: [h100('550.54.15', { devices: 10 })] },
          { suffix: 'dst', gpus: [h100('550.90.07', { devices: 5 })] },
        ],
      });
    });
    after(async () => world?.stop());

    it('exactly 5 proceed and 15 fail with a NoCapacity reason', async () => {
      await world.startController({ workers: 8 });
      const vms = Array.from({ length: 20 }, (_, i) => `vm-${i}`);
      for (const [i, vm] of vms.entries()) await world.fleet.startVm({ namespace: world.ns, name: vm, node: world.node(i < 10 ? 'src1' : 'src2') });
      const dst = world.node('dst');
      await Promise.all(vms.map((vm) => world.createMigration(vm, { vmiName: vm, targetNodes: [dst] })));
      const done = await Promise.all(vms.map((vm) => world.waitForPhase(vm, ['Succeeded', 'Failed'], 150_000)));
      const won = done.filter((m) => m.status?.phase === 'Succeeded');
      const lost = done.filter((m) => m.status?.phase === 'Failed');
      expect(won, won.map((m) => m.metadata.name).join(',')).to.have.length(5);
      expect(lost).to.have.length(15);
      for (const m of lost) {
        expect(verdictOf(m, dst)?.verdict, `${m.metadata.name}: ${m.status?.message}`).to.equal('NoCapacity');
        expect(await world.vmimsOf(m), m.metadata.name).to.have.length(0);
      }
      for (const m of won) expect(await world.vmimsOf(m), m.metadata.name).to.have.length(1);
      await expectInvariants(world.scope(), 60_000);
    });
  });
});
