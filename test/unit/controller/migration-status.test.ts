import { expect } from 'chai';
import { phaseConditionStatuses, phaseStatus, setCondition } from '../../../src/controller/migration-status.ts';
import { parseControllerConfig } from '../../../src/cli/controller-flags.ts';
import { buildEvent } from '../../../src/controller/events.ts';
import { UsageError } from '../../../src/cli/usage-error.ts';
import { buildAdmissionMigration } from '../../../src/webhook/kube-recorder.ts';
import { migration, NOW } from './fixtures.ts';

describe('controller status, config and events (pure parts)', () => {
  it('Ready is True at the goal: Succeeded, or Planned for a dry run', () => {
    expect(phaseConditionStatuses('Succeeded', false)).to.deep.equal({ ready: 'True', progressing: 'False' });
    expect(phaseConditionStatuses('Planned', true)).to.deep.equal({ ready: 'True', progressing: 'False' });
    expect(phaseConditionStatuses('Planned', false)).to.deep.equal({ ready: 'Unknown', progressing: 'True' });
    expect(phaseConditionStatuses('Failed', false)).to.deep.equal({ ready: 'False', progressing: 'False' });
  });

  it('moves lastTransitionTime only when a condition changes status', () => {
    const first = setCondition([], { type: 'Ready', status: 'Unknown', reason: 'Probing', message: 'm' }, NOW);
    const same = setCondition(first, { type: 'Ready', status: 'Unknown', reason: 'Migrating', message: 'n' }, NOW + 5000);
    const flipped = setCondition(same, { type: 'Ready', status: 'True', reason: 'Succeeded', message: 'o' }, NOW + 9000);
    expect(same[0]?.lastTransitionTime).to.equal(first[0]?.lastTransitionTime);
    expect(same[0]?.reason).to.equal('Migrating');
    expect(flipped[0]?.lastTransitionTime).to.equal('2026-01-01T00:00:09Z');
  });

  it('a phase status carries phase, message, both conditions and observedGeneration', () => {
    const s = phaseStatus(migration('m'), { phase: 'Failed', reason: 'NoCompatibleNode', message: 'x'.repeat(2000) }, NOW);
    expect(s.phase).to.equal('Failed');
    expect(s.message?.length).to.equal(1024);
    expect(s.observedGeneration).to.equal(1);
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason, c.observedGeneration])).to.deep.equal([
      ['Progressing', 'False', 'NoCompatibleNode', 1],
      ['Ready', 'False', 'NoCompatibleNode', 1],
    ]);
  });

  it('parses controller flags with defaults and refuses bad values naming the flag', () => {
    const c = parseControllerConfig([], {});
    expect(c).to.include({ namespace: 'mdev-operator-system', leaderElect: true, webhookPort: 9443, metricsPort: 8080, healthPort: 8081, probeTimeoutMs: 10_000 });
    expect(parseControllerConfig(['--leader-elect=false', '--webhook-port', '0', '--probe-timeout', '2s'], { POD_NAMESPACE: 'ops' })).to.include({
      leaderElect: false,
      webhookPort: 0,
      probeTimeoutMs: 2000,
      namespace: 'ops',
    });
    expect(() => parseControllerConfig(['--leader-elect=maybe'], {})).to.throw(UsageError, /--leader-elect/);
    expect(() => parseControllerConfig(['--probe-timeout', 'soon'], {})).to.throw(UsageError, /--probe-timeout/);
    expect(() => parseControllerConfig(['--health-port', '70000'], {})).to.throw(UsageError, /--health-port/);
    expect(() => parseControllerConfig(['--webhook-port', '8081'], {})).to.throw(UsageError, /--webhook-port/);
    expect(() => parseControllerConfig(['--bogus', 'x'], {})).to.throw(UsageError, /bogus/);
  });

  it("parses client-go's leader-election timings and refuses an order in which two replicas could lead at once", () => {
    expect(parseControllerConfig([], {})).to.include({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 });
    const fast = parseControllerConfig(['--leader-elect-lease-duration', '4s', '--leader-elect-renew-deadline', '3s', '--leader-elect-retry-period', '500ms'], {});
    expect(fast).to.include({ leaseDurationMs: 4_000, renewDeadlineMs: 3_000, retryPeriodMs: 500 });
    expect(() => parseControllerConfig(['--leader-elect-lease-duration', '10s', '--leader-elect-renew-deadline', '10s'], {})).to.throw(UsageError, /--leader-elect-lease-duration must exceed --leader-elect-renew-deadline/);
    expect(() => parseControllerConfig(['--leader-elect-retry-period', 'often'], {})).to.throw(UsageError, /--leader-elect-retry-period/);
  });

  it('parses the webhook mode, url host and the release-dependent object names from the environment', () => {
    expect(parseControllerConfig([], {}).webhook).to.deep.equal({ mode: 'enforce', service: 'mdev-operator-webhook', secret: 'mdev-operator-webhook-tls', configuration: 'mdev-operator' });
    const env = { MDEV_WEBHOOK_SERVICE: 'r1-webhook', MDEV_WEBHOOK_SECRET: 'r1-webhook-tls', MDEV_WEBHOOK_CONFIGURATION: 'r1' };
    expect(parseControllerConfig(['--webhook-mode=warn', '--webhook-url-host', '127.0.0.1'], env).webhook).to.deep.equal({
      mode: 'warn',
      urlHost: '127.0.0.1',
      service: 'r1-webhook',
      secret: 'r1-webhook-tls',
      configuration: 'r1',
    });
    expect(() => parseControllerConfig(['--webhook-mode', 'audit'], {})).to.throw(UsageError, /--webhook-mode must be one of enforce, warn, off/);
    // The chart's owner ConfigMap of the leader Lease and the TLS Secret; none unless named.
    expect(parseControllerConfig(['--owner-configmap', 'r1-owner'], {}).ownerConfigMap).to.equal('r1-owner');
    expect(parseControllerConfig([], {})).to.not.have.property('ownerConfigMap');
    expect(() => parseControllerConfig(['--owner-configmap', 'Owner_CM'], {})).to.throw(UsageError, /--owner-configmap must be a ConfigMap name/);
    expect(() => parseControllerConfig(['--webhook-url-host', 'https://x'], {})).to.throw(UsageError, /--webhook-url-host/);
    expect(() => parseControllerConfig([], { MDEV_WEBHOOK_SECRET: 'Bad_Name' })).to.throw(UsageError, /MDEV_WEBHOOK_SECRET/);
  });

  it('builds a core/v1 Event naming the MdevMigration', () => {
    const e = buildEvent(migration('m'), 'Warning', 'NoCompatibleNode', 'why', 'ctrl-1', NOW) as { involvedObject: Record<string, unknown>; reason: string; type: string };
    expect(e.involvedObject).to.include({ kind: 'MdevMigration', name: 'm', namespace: 'vms', uid: 'uid-m' });
    expect(e).to.include({ reason: 'NoCompatibleNode', type: 'Warning' });
  });

  it('parses the lifecycle flags: history limit (default 5) and the TTL of admission records (default 24h)', () => {
    expect(parseControllerConfig([], {})).to.include({ historyLimit: 5, admissionRecordTtlSeconds: 86_400 });
    expect(parseControllerConfig(['--migration-history-limit=0', '--admission-record-ttl=30m'], {})).to.include({ historyLimit: 0, admissionRecordTtlSeconds: 1800 });
    expect(() => parseControllerConfig(['--migration-history-limit=-1'], {})).to.throw(UsageError, /--migration-history-limit/);
    expect(() => parseControllerConfig(['--admission-record-ttl=721h'], {})).to.throw(UsageError, /--admission-record-ttl/);
  });

  it('parses --target-pending-timeout: 120 s by default, below KubeVirt\'s own 5 minutes', () => {
    expect(parseControllerConfig([], {})).to.include({ targetPendingTimeoutMs: 120_000 });
    expect(parseControllerConfig(['--target-pending-timeout=45s'], {})).to.include({ targetPendingTimeoutMs: 45_000 });
    expect(() => parseControllerConfig(['--target-pending-timeout=5m'], {})).to.throw(UsageError, /--target-pending-timeout/);
  });

  it('the webhook’s record carries the configured ttlSecondsAfterFinished, and none when not configured', () => {
    const r = { namespace: 'vms', name: 'vmim-x', vmiName: 'vm', vmimName: 'x' };
    expect((buildAdmissionMigration(r, 3600) as { spec: Record<string, unknown> }).spec.ttlSecondsAfterFinished).to.equal(3600);
    expect((buildAdmissionMigration(r) as { spec: Record<string, unknown> }).spec).to.not.have.property('ttlSecondsAfterFinished');
  });
});
