import { expect } from 'chai';
import { agentLeaseStaleness, registerAgentLeaseSource } from '../../../src/controller/metrics.ts';
import { metricsRegistry } from '../../../src/observability/metrics.ts';
import { lease, NOW } from './fixtures.ts';

describe('controller: mdev_operator_agent_lease_stale{node}', () => {
  it('is 1 for a node whose lease is past its duration, 0 for a fresh one; stale wins across sources', () => {
    const m = agentLeaseStaleness([lease('fresh', 1_000), lease('stale', 41_000), lease('both', 1_000), lease('both', 90_000)], NOW);
    expect(Object.fromEntries(m)).to.deep.equal({ fresh: 0, stale: 1, both: 1 });
  });

  it('is computed at scrape time from the registered caches and disappears with them', async () => {
    const now = Date.now();
    const unregister = registerAgentLeaseSource(() => [
      { name: 'mdev-agent.metric-a', nodeName: 'metric-a', holderIdentity: 'metric-a', leaseDurationSeconds: 40, renewTime: new Date(now - 3_600_000).toISOString() },
      { name: 'mdev-agent.metric-b', nodeName: 'metric-b', holderIdentity: 'metric-b', leaseDurationSeconds: 40, renewTime: new Date(now + 3_600_000).toISOString() }, // fresh however long the scrape takes
    ]);
    const text = await metricsRegistry.metrics();
    expect(text).to.include('mdev_operator_agent_lease_stale{node="metric-a"} 1');
    expect(text).to.include('mdev_operator_agent_lease_stale{node="metric-b"} 0');
    unregister();
    expect(await metricsRegistry.metrics()).not.to.include('node="metric-a"');
  });
});
