import { expect } from 'chai';
import { LeaderElector } from '../../../src/kube/leader-election.ts';
import { agentLeaseName } from '../../../src/api/v1alpha1/names.ts';
import { LeaseHeartbeat, isLeaseFresh } from '../../../src/kube/lease-heartbeat.ts';
import { apiLeaseStore } from '../../../src/kube/lease-store.ts';
import { kubectl, testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { waitFor } from './wait.ts';

// Short but proportionate timings (client-go ratios) so failover happens within a few seconds.
const TIMING = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };

describe('Leases against the API server', function () {
  this.timeout(60_000);
  let ns: string;

  before(async () => {
    ns = uniqueName('kube-lease');
    const r = await kubectl(['create', 'namespace', ns]);
    expect(r.code, r.stderr).to.equal(0);
  });

  after(async () => {
    await kubectl(['delete', 'namespace', ns, '--wait=false']);
  });

  it('two electors on one Lease: exactly one leads; the other takes over when it stops', async () => {
    const store = apiLeaseStore(testKubeConfig(), ns);
    const leaseName = uniqueName('election');
    const leading = new Set<string>();
    let maxConcurrentLeaders = 0;
    const elector = (identity: string): LeaderElector =>
      new LeaderElector({
        ...TIMING, store, leaseName, identity,
        onStartedLeading: (signal) => {
          leading.add(identity);
          maxConcurrentLeaders = Math.max(maxConcurrentLeaders, leading.size);
          signal.addEventListener('abort', () => leading.delete(identity));
        },
      });
    const a = elector('replica-a');
    const b = elector('replica-b');
    const runs = [a.run(), b.run()];
    await waitFor('a leader', () => leading.size === 1);
    // Several renew rounds, counted on the Lease itself: each renewal is a new renewTime.
    const renewals = new Set<number>();
    await waitFor('three renewals of the Lease', async () => {
      const renewTime = (await store.get(leaseName))?.record.renewTime;
      if (renewTime !== undefined) renewals.add(renewTime);
      return renewals.size >= 4;
    });
    expect(leading.size).to.equal(1);
    expect(maxConcurrentLeaders, 'never two leaders at once').to.equal(1);
    const [first, second] = a.isLeader() ? [a, b] : [b, a];
    const firstId = first === a ? 'replica-a' : 'replica-b';
    const secondId = first === a ? 'replica-b' : 'replica-a';
    expect(second.observedLeader()).to.equal(firstId);

    await first.stop();
    const released = await store.get(leaseName);
    expect(released?.record.holderIdentity, 'released on stop').to.equal('');
    await waitFor('the other elector to take over', () => second.isLeader());
    expect((await store.get(leaseName))?.record.holderIdentity).to.equal(secondId);
    expect(maxConcurrentLeaders).to.equal(1);
    await second.stop();
    await Promise.all(runs);
  });

  it('the agent heartbeat creates and renews mdev-agent.<node>', async () => {
    const store = apiLeaseStore(testKubeConfig(), ns);
    const node = uniqueName('node');
    const hb = new LeaseHeartbeat({ store, leaseName: agentLeaseName(node), holderIdentity: node, renewIntervalMs: 300, leaseDurationSeconds: 5 });
    hb.start();
    await waitFor('the first renewal', () => hb.lastRenewedAt() !== undefined);
    const first = (await store.get(`mdev-agent.${node}`))?.record.renewTime as number;
    await waitFor('a later renewal', async () => ((await store.get(`mdev-agent.${node}`))?.record.renewTime ?? 0) > first);
    await hb.stop();

    const r = await kubectl(['get', 'lease', '-n', ns, `mdev-agent.${node}`, '-o', 'json']);
    expect(r.code, r.stderr).to.equal(0);
    const lease = JSON.parse(r.stdout) as { spec: { holderIdentity: string; renewTime: string; leaseDurationSeconds: number } };
    expect(lease.spec.holderIdentity).to.equal(node);
    expect(isLeaseFresh(lease, Date.parse(lease.spec.renewTime) + 4_999)).to.equal(true);
    expect(isLeaseFresh(lease, Date.parse(lease.spec.renewTime) + 5_000)).to.equal(false);
  });
});
