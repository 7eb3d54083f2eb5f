// A leader that loses its Lease while one of its writes hangs in the API server (as writes do
// while etcd is down) ends that term at once and campaigns again (ADR 0014). On the REAL local
// kube-apiserver, with STAND-IN nodes (the fleet simulator running the real agent code) and the
// KubeVirt STAND-IN. The controller runs in process; its requests pass an interceptor that plays
// the outage: a held request gets no answer until the client itself gives up (its abort signal),
// which is what a client sees from an API server waiting on etcd. Before the term's requests were
// aborted on loss, the held status write kept the lost term alive until the API server's request
// timeout (60 s; forever here), and the replica could not lead again meanwhile.
import { expect } from 'chai';
import type { Dispatcher } from 'undici';
import type { ManagerHandle } from '../../../src/controller/manager.ts';
import { LEADER_LEASE_NAME } from '../../../src/controller/resources.ts';
import { interceptRequests } from '../../../src/kube/transport.ts';
import { testKubeConfig } from '../../support/cluster.ts';
import { expectInvariants } from '../../support/faults/invariants.ts';
import { eventually, FaultWorld, h100 } from '../../support/faults/world.ts';

type Dispatch = Dispatcher.Dispatch;
type Held = { release: () => void };

/**
 * Holds the requests `matches` selects, from the moment it is armed: each is sent on only once its
 * own abort signal fires (undici then fails it with the abort reason), or at `releaseAll`.
 */
class OutageInterceptor {
  matches: (opts: Dispatcher.DispatchOptions) => boolean = () => false;
  readonly held = new Set<Held>();
  aborted: string[] = [];
  #onHeld: Array<(path: string) => void> = [];

  install(kc: Parameters<typeof interceptRequests>[0]): void {
    interceptRequests(kc, (dispatch: Dispatch) => (opts, handler) => {
      if (!this.matches(opts)) return dispatch(opts, handler);
      const path = `${opts.method} ${opts.path}`;
      const entry: Held = {
        release: () => {
          if (!this.held.delete(entry)) return;
          dispatch(opts, handler);
        },
      };
      this.held.add(entry);
      const signal = (opts as { signal?: AbortSignal }).signal;
      signal?.addEventListener('abort', () => {
        this.aborted.push(path);
        entry.release();
      }, { once: true });
      for (const w of this.#onHeld.splice(0)) w(path);
      return true;
    });
  }

  nextHeld(): Promise<string> {
    return new Promise((r) => this.#onHeld.push(r));
  }

  releaseAll(): void {
    for (const h of [...this.held]) h.release();
  }
}

describe('controller: a leader term lost while its write hangs in the API server (stand-in fleet, KubeVirt stand-in, outage played by a request interceptor)', function () {
  this.timeout(120_000);
  let world: FaultWorld;
  let outage: OutageInterceptor;
  before(async () => {
    world = await FaultWorld.start({
      kc: testKubeConfig(), prefix: 'lterm', kubevirt: { stepDelayMs: 20 },
      nodes: [{ suffix: 'src', gpus: [h100('550.54.15', { devices: 2 })] }, { suffix: 'dst', gpus: [h100('550.90.07', { devices: 2 })] }],
    });
  });
  after(async () => {
    outage?.releaseAll();
    await world?.stop();
  });

  it('aborts the lost term\'s held write, leads again without waiting for it, and finishes the migration with one VMIM', async () => {
    const managerKc = testKubeConfig(); // its own connection pool, so only the controller's requests are intercepted
    outage = new OutageInterceptor();
    outage.install(managerKc);
    const controller: ManagerHandle = await world.startController({
      kc: managerKc, identity: 'lterm-leader', leaderElect: true, leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300,
    });
    await controller.waitUntilRunning();
    expect(controller.terms()).to.equal(1);

    await world.fleet.startVm({ namespace: world.ns, name: 'vm-1', node: world.node('src') });
    // The outage begins with the term's first status write of this migration: it is held.
    const statusPath = `/mdevmigrations/vm-1/status`;
    outage.matches = (o) => o.method !== 'GET' && (o.path ?? '').split('?')[0]!.endsWith(statusPath);
    const heldWrite = outage.nextHeld();
    await world.createMigration('vm-1', { vmiName: 'vm-1' });
    const writePath = await heldWrite;

    // ... and spreads to the leader's Lease, so the term is lost while that write is still held.
    const lost = controller.lostLeadership();
    outage.matches = (o) => (o.path ?? '').includes(`/leases/${LEADER_LEASE_NAME}`) || (o.method !== 'GET' && (o.path ?? '').split('?')[0]!.endsWith(statusPath));
    await lost;
    // The API server is back for new requests; what was held stays held until its client gives up.
    outage.matches = () => false;

    await eventually('the replica to lead a second term', async () => (controller.terms() >= 2 && controller.isLeader() ? true : undefined), 30_000);
    expect(outage.aborted, 'the lost term aborted its held status write').to.include(writePath);

    const m = await world.waitForPhase('vm-1', ['Succeeded', 'Failed'], 60_000);
    expect(m.status?.phase, `${m.status?.message}`).to.equal('Succeeded');
    expect(await world.vmimsOf(m), 'one VMIM for the migration').to.have.length(1);
    await expectInvariants(world.scope());
  });
});
