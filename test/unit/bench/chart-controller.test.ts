// The benchmarks start the controller as the chart does: the rendered Deployment's args and
// NODE_OPTIONS, with only the per-cluster flags replaced; and request counting from the audit log
// sorts writes, reads, LISTs and Leases apart.
import { expect } from 'chai';
import { countEvent, emptyCounts } from '../../../bench/audit-count.ts';
import { chartControllerCommand, chartControllerContainer } from '../../../bench/chart-controller.ts';

describe('bench: controller started as the chart starts it', () => {
  it('takes NODE_OPTIONS and the args from the rendered chart, replacing only what binds them to a pod', () => {
    const container = chartControllerContainer();
    expect(container.env.NODE_OPTIONS).to.equal('--max-semi-space-size=8');
    const saved = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = '--max-old-space-size=4096';
    try {
      const { args, env } = chartControllerCommand({ kubeconfig: '/k', namespace: 'ns1', healthPort: 1234 }, container);
      expect(env.NODE_OPTIONS, 'the chart’s, not the caller’s').to.equal('--max-semi-space-size=8');
      expect(args[0]).to.match(/dist\/cli\/main\.js$/);
      expect(args).to.include.members(['controller', '--leader-elect=true', '--migration-history-limit=5', '--target-pending-timeout=120s', '--log-level=info', '--kubeconfig=/k', '--namespace=ns1', '--webhook-port=0', '--health-port=1234']);
      expect(args.filter((a) => a.startsWith('--namespace='))).to.deep.equal(['--namespace=ns1']);
      expect(args.some((a) => a === '--webhook-port=9443')).to.equal(false);
    } finally {
      if (saved === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = saved;
    }
  });

  it('counts audit events: writes, non-watch reads, LISTs, and Leases and KubeVirt CR polls apart', () => {
    const c = emptyCounts();
    countEvent(c, { verb: 'patch', objectRef: { resource: 'mdevmigrations', subresource: 'status' } });
    countEvent(c, { verb: 'create', objectRef: { resource: 'events' } });
    countEvent(c, { verb: 'list', objectRef: { resource: 'mdevdevices' } });
    countEvent(c, { verb: 'get', objectRef: { resource: 'virtualmachineinstancemigrations' } });
    countEvent(c, { verb: 'update', objectRef: { resource: 'leases' } });
    countEvent(c, { verb: 'watch', objectRef: { resource: 'mdevdevices' } });
    countEvent(c, { verb: 'list', objectRef: { resource: 'kubevirts' } });
    expect(c).to.deep.include({ writes: 2, reads: 2, lists: 1, leases: 1, kubevirtPolls: 1 });
    expect(c.byVerb['patch mdevmigrations/status']).to.equal(1);
  });
});
