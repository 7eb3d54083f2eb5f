// The decision service over an in-memory cluster view and a simulated prober (no server): probes
// go out only for unknown classes, a node whose agent does not answer becomes AgentUnavailable
// with the timeout named and its class is probed on another node, excluded nodes are explained.
import { expect } from 'chai';
import { DecisionService, firstCandidates, versionStillPublished, type ProbeSender } from '../../../src/controller/decision.ts';
import { LIMITS, type MdevDevice } from '../../../src/api/v1alpha1/index.ts';
import type { Informer, InformerHandlers } from '../../../src/kube/informer.ts';
import { decisionStatus } from '../../../src/controller/migration-status.ts';
import type { ProbeRound } from '../../../src/controller/probe-client.ts';
import { loggerFor } from '../../../src/observability/logger.ts';
import { targetId, VerdictCache, type ProbeRequest } from '../../../src/placement/index.ts';
import type { ClusterView } from '../../../src/controller/snapshot.ts';
import { device, lease, mdevNode, NOW, nodeObj, view, vmi } from './fixtures.ts';

const log = loggerFor('test');

/** Accepts when source and target strings share the part before ';' (a "branch"). */
function simulatedProber(silent: Set<string> = new Set()): ProbeSender & { sent: ProbeRequest[] } {
  const sent: ProbeRequest[] = [];
  return {
    sent,
    async run(requests): Promise<ProbeRound> {
      sent.push(...requests);
      const round: ProbeRound = { answers: [], timedOut: [], sent: requests.length };
      for (const req of requests) {
        if (silent.has(req.nodeName)) {
          round.timedOut.push(req.nodeName);
          continue;
        }
        round.answers.push({
          request: req,
          results: req.targets.map((t) => {
            const ok = t.version.split(';')[0] === req.sourceVersion.split(';')[0];
            return { target: targetId(t), accepted: ok, reason: ok ? 'accepted' : 'EINVAL: branch differs' };
          }),
        });
      }
      return round;
    },
  };
}

function fleet() {
  const devices = [
    device('src', 1, 'b550;a', { consumer: 'vm' }),
    device('old', 2, 'b535;a'),
    device('new1', 3, 'b550;b'),
    device('new2', 4, 'b550;b'),
    device('gone', 5, 'b550;a'),
  ];
  const nodes = ['src', 'old', 'new1', 'new2', 'gone'].map((n) => nodeObj(n));
  const leases = ['src', 'old', 'new1', 'new2'].map((n) => lease(n));
  return view(nodes, leases, devices);
}

describe('controller decision service (simulated prober, no server)', () => {
  it('chooses an accepting node with one probe per unknown class and explains the rest', async () => {
    const prober = simulatedProber();
    const svc = new DecisionService({ view: fleet, cache: new VerdictCache(), prober, probeTimeoutMs: 1000, log, now: () => NOW });
    const d = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m', allowCreateTarget: false }, probe: true });
    expect(d.chosen?.node).to.equal('new1');
    expect(d.needsConfirmation).to.equal(false);
    const verdicts = Object.fromEntries(d.candidates.explanations.map((e) => [e.node, e.verdict]));
    expect(verdicts).to.deep.equal({ new1: 'Compatible', new2: 'Compatible', old: 'Incompatible', gone: 'AgentUnavailable' });
    expect(d.probes).to.equal(2); // two classes (b535;a and b550;b), one probe each
    const status = decisionStatus(d);
    expect(status.verdictTotals).to.deep.equal({ Compatible: 2, Incompatible: 1, AgentUnavailable: 1 });
    expect(status.sourceNode).to.equal('src');
  });

  it('answers a warm decision from the cache without probing the classes again', async () => {
    const prober = simulatedProber();
    const cache = new VerdictCache();
    const svc = new DecisionService({ view: fleet, cache, prober, probeTimeoutMs: 1000, log, now: () => NOW });
    await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m', allowCreateTarget: false }, probe: true });
    const before = prober.sent.length;
    const d = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m2', allowCreateTarget: false }, probe: false });
    expect(prober.sent.length).to.equal(before);
    expect(d.chosen?.node).to.equal('new1');
    expect(d.needsConfirmation).to.equal(true); // cache only: the chosen device itself was probed, but not in this decision
  });

  it('turns a silent agent into AgentUnavailable ("probe timed out") and probes its class elsewhere', async () => {
    const prober = simulatedProber(new Set(['new1']));
    const svc = new DecisionService({ view: fleet, cache: new VerdictCache(), prober, probeTimeoutMs: 500, log, now: () => NOW });
    const d = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m', allowCreateTarget: false }, probe: true });
    expect(d.chosen?.node).to.equal('new2');
    const new1 = d.candidates.explanations.find((e) => e.node === 'new1');
    expect(new1?.verdict).to.equal('AgentUnavailable');
    expect(new1?.message).to.match(/probe timed out after 0\.5s/);
    expect(prober.sent.some((r) => r.nodeName === 'new2')).to.equal(true);
  });

  it('leaves excluded nodes out with their reason, and fails with every reason when nothing accepts', async () => {
    const svc = new DecisionService({ view: fleet, cache: new VerdictCache(), prober: simulatedProber(), probeTimeoutMs: 1000, log, now: () => NOW });
    const exclude = new Map([['new1', 'attempt m-1 failed'], ['new2', 'attempt m-2 failed']]);
    const d = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m', allowCreateTarget: false }, probe: true, exclude });
    expect(d.chosen).to.equal(undefined);
    expect(d.candidates.explanations.find((e) => e.node === 'new1')).to.deep.equal({ node: 'new1', verdict: 'Excluded', message: 'attempt m-1 failed' });
    expect(d.candidates.totals.Excluded).to.equal(2);
    expect(d.reason).to.match(/no node can take VMI vms\/vm: 1 Incompatible, 1 AgentUnavailable, 2 Excluded/);
  });

  it('reports a source problem (VMI not running) without probing', async () => {
    const prober = simulatedProber();
    const svc = new DecisionService({ view: fleet, cache: new VerdictCache(), prober, probeTimeoutMs: 1000, log, now: () => NOW });
    const d = await svc.decide({ vmi: vmi('vm', 'src', 'Pending'), request: { migrationUid: 'uid-m', allowCreateTarget: false }, probe: true });
    expect(d.source).to.equal(undefined);
    expect(d.reason).to.match(/not running/);
    expect(prober.sent).to.have.length(0);
  });
  it('shares one snapshot between decisions while the view revision is unchanged, and rebuilds when it changes', async () => {
    let views = 0;
    let revision = 'r1';
    const counted = () => {
      views++;
      return fleet();
    };
    const svc = new DecisionService({ view: counted, viewRevision: () => ({ nodes: 'n1', devices: revision }), cache: new VerdictCache(), prober: simulatedProber(), probeTimeoutMs: 1000, log, now: () => NOW });
    const request = { migrationUid: 'uid-m', allowCreateTarget: false };
    await svc.decide({ vmi: vmi('vm', 'src'), request, probe: true });
    await svc.decide({ vmi: vmi('vm', 'src'), request, probe: true });
    expect(views).to.equal(1);
    revision = 'r2';
    const d = await svc.decide({ vmi: vmi('vm', 'src'), request, probe: true });
    expect(views).to.equal(2);
    expect(d.chosen?.node).to.equal('new1');
    // Excluding a node is a different snapshot, not the shared one with the node in it.
    const excluded = await svc.decide({ vmi: vmi('vm', 'src'), request, probe: true, exclude: new Map([['new1', 'attempt failed']]) });
    expect(views).to.equal(3);
    expect(excluded.chosen?.node).to.equal('new2');
  });

  it('re-indexes devices only when they change: a Lease renewal rebuilds the node half alone', async () => {
    const base = fleet();
    let deviceReads = 0;
    let nodesRevision = 'n1';
    const counted = (): ClusterView => ({
      ...base,
      get devices() {
        deviceReads++;
        return base.devices;
      },
    });
    const svc = new DecisionService({ view: counted, viewRevision: () => ({ nodes: nodesRevision, devices: 'd1' }), cache: new VerdictCache(), prober: simulatedProber(), probeTimeoutMs: 1000, log, now: () => NOW });
    const request = { migrationUid: 'uid-m', allowCreateTarget: false };
    await svc.decide({ vmi: vmi('vm', 'src'), request, probe: true });
    expect(deviceReads).to.equal(1);
    nodesRevision = 'n2';
    const d = await svc.decide({ vmi: vmi('vm', 'src'), request, probe: true });
    expect(deviceReads).to.equal(1);
    expect(d.chosen?.node).to.equal('new1');
  });

  it('sees a lease lapse and a capacity claim expire at their time, with no event from the caches', async () => {
    const devices = [device('src', 1, 'b550;a', { consumer: 'vm' }), device('new1', 3, 'b550;b'), device('new2', 4, 'b550;b')];
    const claims = [mdevNode('new1', [['other', 'nvidia-1012', 1, new Date(NOW + 5_000).toISOString()]])];
    const nodes = ['src', 'new1', 'new2'].map((n) => nodeObj(n));
    // new2's lease (40 s) was renewed 30 s ago: it lapses 10 s from now.
    const leases = [lease('src'), lease('new1'), lease('new2', 30_000)];
    let now = NOW;
    const svc = new DecisionService({ view: () => view(nodes, leases, devices, claims), viewRevision: () => ({ nodes: 'same', devices: 'same' }), cache: new VerdictCache(), prober: simulatedProber(), probeTimeoutMs: 1000, log, now: () => now });
    const request = { migrationUid: 'uid-m', allowCreateTarget: false };
    const verdictOf = (d: { candidates: { explanations: { node: string; verdict: string }[] } }, node: string) => d.candidates.explanations.find((e) => e.node === node)?.verdict;
    const first = await svc.decide({ vmi: vmi('vm', 'src'), request, probe: true });
    expect(first.chosen?.node).to.equal('new2');
    expect(verdictOf(first, 'new1')).to.equal('NoCapacity');
    now = NOW + 5_000; // the claim on new1 has expired
    const second = await svc.decide({ vmi: vmi('vm', 'src'), request, probe: true });
    expect(second.chosen?.node).to.equal('new1');
    now = NOW + 10_000; // new2's lease has lapsed
    const third = await svc.decide({ vmi: vmi('vm', 'src'), request, probe: true });
    expect(verdictOf(third, 'new2')).to.equal('AgentUnavailable');
  });

  it('signals onProbing only when the prober has to wait for an agent', async () => {
    const waiting: ProbeSender = {
      async run(requests, timeout, onWait) {
        onWait?.();
        return simulatedProber().run(requests, timeout);
      },
    };
    let calls = 0;
    const onProbing = () => calls++;
    const svc = new DecisionService({ view: fleet, cache: new VerdictCache(), prober: waiting, probeTimeoutMs: 1000, log, now: () => NOW });
    await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m', allowCreateTarget: false }, probe: true, onProbing });
    expect(calls, 'once per decision, however many probe rounds').to.equal(1);
    const answered = new DecisionService({ view: fleet, cache: new VerdictCache(), prober: simulatedProber(), probeTimeoutMs: 1000, log, now: () => NOW });
    await answered.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m', allowCreateTarget: false }, probe: true, onProbing });
    expect(calls, 'a prober that never waits never signals').to.equal(1);
  });

  it('counts the exhaustive baseline only when asked (it walks every candidate device)', async () => {
    const svc = new DecisionService({ view: fleet, cache: new VerdictCache(), prober: simulatedProber(), probeTimeoutMs: 1000, log, now: () => NOW });
    const request = { migrationUid: 'uid-m', allowCreateTarget: false };
    expect((await svc.decide({ vmi: vmi('vm', 'src'), request, probe: true })).exhaustiveProbes).to.equal(0);
    expect((await svc.decide({ vmi: vmi('vm', 'src'), request, probe: true, countExhaustive: true })).exhaustiveProbes).to.equal(3);
  });

  it('drops verdicts about a changed device\'s old string only once no other device reports it (nvml class keys)', () => {
    let handlers: InformerHandlers<MdevDevice> = {};
    let current: MdevDevice[] = [];
    const informer = { addHandlers: (h: InformerHandlers<MdevDevice>) => void (handlers = h), list: () => current } as unknown as Informer<MdevDevice>;
    const forgotten: string[] = [];
    const prober: ProbeSender = { run: simulatedProber().run, forgetNode: async (n) => void forgotten.push(n) };
    const cache = new VerdictCache();
    const svc = new DecisionService({ view: fleet, cache, prober, probeTimeoutMs: 1000, log, now: () => NOW });
    svc.watchDevices(informer);
    cache.set('nvidia-1012', 'src', 'class', { accepted: true });
    const free1 = device('t', 1, 'class');
    const free2 = device('t', 2, 'class');
    // A VM starts on free1: its string becomes its running vGPU's; free2 still reports the class key.
    const taken1 = device('t', 1, 'instance-1', { consumer: 'vm' });
    current = [taken1, free2];
    handlers.update?.(free1, taken1);
    expect(cache.get('nvidia-1012', 'src', 'class')?.accepted).to.equal(true);
    expect(forgotten).to.deep.equal([]);
    // Then on free2: nobody reports the class key any more.
    const taken2 = device('t', 2, 'instance-2', { consumer: 'vm2' });
    current = [taken1, taken2];
    handlers.update?.(free2, taken2);
    expect(cache.get('nvidia-1012', 'src', 'class')).to.equal(undefined);
    expect(forgotten).to.deep.equal(['t']);
    expect(versionStillPublished('instance-1', current, taken1.metadata.name)).to.equal(false);
    expect(versionStillPublished('instance-1', current, taken2.metadata.name)).to.equal(true);
  });
});

describe('decision service and cache currency (issue 18)', () => {
  it('decides nothing while a cache may be behind the API server, and says which', async () => {
    const prober = simulatedProber();
    let behind: string[] = ['controller-agent-leases', 'apiserver'];
    const svc = new DecisionService({ view: fleet, cache: new VerdictCache(), prober, probeTimeoutMs: 1000, log, now: () => NOW, currency: () => ({ behind, leasesSince: behind.length ? undefined : NOW - 60_000 }) });
    const d = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m', allowCreateTarget: false }, probe: true });
    expect(d.behind).to.deep.equal(['controller-agent-leases', 'apiserver']);
    expect(d.chosen).to.equal(undefined);
    expect(d.reason).to.match(/behind the API server \(controller-agent-leases, apiserver catching up/);
    expect(prober.sent, 'no probe from a stale view').to.have.length(0);
    behind = [];
    const after = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m', allowCreateTarget: false }, probe: true });
    expect(after.behind).to.equal(undefined);
    expect(after.chosen?.node).to.equal('new1');
  });

  it('names agents of unknown state (expired-looking leases right after the caches caught up) so the caller can wait', async () => {
    const v = (): ClusterView => ({ ...fleet(), leases: ['src', 'old', 'new2'].map((n) => lease(n)).concat([lease('new1', 50_000)]), currentSince: NOW - 5_000 });
    const svc = new DecisionService({ view: v, cache: new VerdictCache(), prober: simulatedProber(), probeTimeoutMs: 1000, log, now: () => NOW });
    const d = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m', allowCreateTarget: false }, probe: true });
    expect(d.unknownAgents, 'gone has no lease at all: missing in a current cache is a verdict').to.deep.equal(['new1']);
    expect(d.candidates.explanations.find((e) => e.node === 'new1')).to.deep.include({ verdict: 'AgentUnavailable' });
    expect(d.candidates.explanations.find((e) => e.node === 'new1')?.message).to.match(/looks expired/);
  });

  it('forgets probe timeouts noted before the caches last caught up (an agent cut off by an outage was not unresponsive)', async () => {
    let now = NOW;
    let leasesSince = NOW - 60_000;
    const silent = new Set(['new1']);
    const svc = new DecisionService({ view: fleet, cache: new VerdictCache(), prober: simulatedProber(silent), probeTimeoutMs: 1000, log, now: () => now, currency: () => ({ behind: [], leasesSince }) });
    const first = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m', allowCreateTarget: false }, probe: true });
    expect(first.candidates.explanations.find((e) => e.node === 'new1')?.message).to.match(/probe timed out/);
    silent.clear();
    now += 1_000;
    const stillSkipped = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m2', allowCreateTarget: false }, probe: true });
    expect(stillSkipped.candidates.explanations.find((e) => e.node === 'new1')?.message, 'skipped for its TTL in normal times').to.match(/probe timed out/);
    leasesSince = now; // an outage ended after the timeout was noted
    const retried = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m3', allowCreateTarget: false }, probe: true });
    expect(retried.candidates.explanations.find((e) => e.node === 'new1')?.verdict).to.equal('Compatible');
  });
});

describe('decision service: the status reads only the candidates it writes', () => {
  it('writes the first LIMITS.candidates explanations exactly as the full list has them, a remembered timeout included', async () => {
    let now = NOW;
    // 30 nodes: branch b550 (accepts the source) on the odd ones, b535 on the even ones; w07 goes silent.
    const names = Array.from({ length: 30 }, (_, i) => `w${String(i + 1).padStart(2, '0')}`);
    const v = (): ClusterView =>
      view(
        ['src', ...names].map((n) => nodeObj(n)),
        ['src', ...names].map((n) => lease(n)),
        [device('src', 1, 'b550;a', { consumer: 'vm' }), ...names.map((n, i) => device(n, 1, i % 2 === 0 ? 'b550;a' : 'b535;a'))],
      );
    const svc = new DecisionService({ view: v, cache: new VerdictCache(), prober: simulatedProber(new Set(['w01'])), probeTimeoutMs: 1000, log, now: () => now });
    await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m', allowCreateTarget: false }, probe: true });
    now += 1_000;
    // The next decision skips w01 (remembered as unresponsive): no timeout and no exclusion of its own, so the lazy path.
    for (const probe of [true, false]) {
      const d = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: `uid-${probe}`, allowCreateTarget: false }, probe });
      const status = decisionStatus(d);
      const full = d.candidates.explanations;
      expect(status.candidates).to.have.length(LIMITS.candidates);
      expect(status.candidates).to.deep.equal(full.slice(0, LIMITS.candidates).map((e) => ({ node: e.node, verdict: e.verdict, message: e.message })));
      expect(full.find((e) => e.node === 'w01')?.message).to.match(/probe timed out/);
      expect(status.verdictTotals).to.deep.equal({ Compatible: 14, Incompatible: 15, AgentUnavailable: 1 });
    }
    // A tiny limit still agrees with the full list (the remembered node is among the rejections at its end).
    const d = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-last', allowCreateTarget: false }, probe: false });
    expect(firstCandidates(d.candidates, 3)).to.deep.equal(d.candidates.explanations.slice(0, 3));
    expect(firstCandidates(d.candidates, 31).at(-1)).to.deep.include({ node: 'w01', verdict: 'AgentUnavailable' });
  });
});

describe('decision service: a probe timeout is forgotten once that agent answers again', () => {
  it('asks a node that timed out again as soon as its agent answered any probe since', async () => {
    let now = NOW;
    const silent = new Set(['new1']);
    const answered = new Map<string, number>();
    const prober = { ...simulatedProber(silent), answeredSince: (node: string, since: number) => (answered.get(node) ?? -Infinity) >= since };
    const svc = new DecisionService({ view: fleet, cache: new VerdictCache(), prober, probeTimeoutMs: 1000, log, now: () => now });
    const first = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m', allowCreateTarget: false }, probe: true });
    expect(first.candidates.explanations.find((e) => e.node === 'new1')?.message).to.match(/probe timed out/);
    silent.clear();
    now += 1_000;
    const skipped = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m2', allowCreateTarget: false }, probe: true });
    expect(skipped.candidates.explanations.find((e) => e.node === 'new1')?.message, 'still skipped: nothing heard from it').to.match(/probe timed out/);
    answered.set('new1', now); // its late answer arrived
    const asked = await svc.decide({ vmi: vmi('vm', 'src'), request: { migrationUid: 'uid-m3', allowCreateTarget: false }, probe: true });
    expect(asked.candidates.explanations.find((e) => e.node === 'new1')?.verdict).to.equal('Compatible');
  });
});
