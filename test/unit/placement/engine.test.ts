import { expect } from 'chai';
import {
  VerdictCache,
  applyProbeAnswers,
  boundedCandidates,
  buildClasses,
  decide,
  exhaustiveProbeCount,
  filterCandidates,
  indexFleet,
  place,
  planProbes,
  resolveSource,
  targetId,
} from '../../../src/placement/index.ts';
import type { Capacity, Claim, Device, NodeInfo, PlaceOutcome, Request, SourceVm } from '../../../src/placement/index.ts';
import { MIGRATION_UID, VM_UID, capacity, claim, device, node, nv, nvidiaLikeAccepts, request, ruleProber, vm } from './fixtures.ts';

const T = 'nvidia-1012';
const SRC = nv('550.54.15');
const OLD = nv('535.104.05');

function srcDevice(name = 'w0.src', version = SRC, typeId = T): Device {
  return device(name, 'w0', typeId, version, { consumerUid: VM_UID });
}

interface Scenario {
  vm?: SourceVm;
  nodes: NodeInfo[];
  devices: Device[];
  capacity?: Capacity[];
  claims?: Claim[];
  request?: Request;
}

async function run(s: Scenario, cache = new VerdictCache(), rule = nvidiaLikeAccepts) {
  const prober = ruleProber(rule);
  const outcome = await place(
    { vm: s.vm ?? vm('w0'), fleet: indexFleet(s.nodes, s.devices, s.capacity ?? [], s.claims ?? []), request: s.request ?? request() },
    cache,
    prober,
  );
  if (!outcome.ok) throw new Error(`expected a placement, got: ${outcome.reason}`);
  return { ...outcome, sent: prober.sent };
}

function verdictOf(outcome: Extract<PlaceOutcome, { ok: true }>, nodeName: string) {
  const e = outcome.decision.explanations.find((x) => x.node === nodeName);
  if (!e) throw new Error(`no explanation for ${nodeName}`);
  return e;
}

/** Source node w0 plus w1..w6 with two free devices each; only `accepting` runs the source's driver branch. */
function sixNodes(accepting: string[]): Scenario {
  const nodes = ['w0', 'w1', 'w2', 'w3', 'w4', 'w5', 'w6'].map((n) => node(n));
  const devices = [srcDevice()];
  for (const n of nodes.slice(1)) {
    const version = accepting.includes(n.name) ? nv('550.90.07') : OLD;
    devices.push(device(`${n.name}.a`, n.name, T, version), device(`${n.name}.b`, n.name, T, version));
  }
  return { nodes, devices };
}

describe('placement engine: examples', () => {
  describe('resolveSource', () => {
    it('returns the VMI devices sorted by name with their versions per type', () => {
      const r = resolveSource(vm('w0'), [srcDevice('w0.b'), srcDevice('w0.a'), device('w0.c', 'w0', T, SRC)]);
      expect(r.ok).to.equal(true);
      if (!r.ok) return;
      expect(r.source.devices.map((d) => d.name)).to.deep.equal(['w0.a', 'w0.b']);
      expect(r.source.versionsByType.get(T)).to.deep.equal([SRC]);
    });

    it('fails with a reason when the VMI uses no device', () => {
      const r = resolveSource(vm('w0'), [device('w0.c', 'w0', T, SRC)]);
      expect(r).to.deep.include({ ok: false });
      expect(!r.ok && r.reason).to.match(/VMI vms\/vm-a .* uses no MdevDevice/);
    });

    it('fails naming the device when one is not migratable', () => {
      const r = resolveSource(vm('w0'), [srcDevice('w0.a'), device('w0.b', 'w0', T, undefined, { consumerUid: VM_UID })]);
      expect(!r.ok && r.reason).to.match(/MdevDevice w0\.b \(nvidia-1012\) of VMI vms\/vm-a is not migratable/);
    });

    it('refuses a VMI whose placement fields could not be read, naming the field (fail closed)', () => {
      const r = resolveSource(vm('w0', { unreadable: 'spec.tolerations (spec.tolerations: expected array)' }), [srcDevice()]);
      expect(!r.ok && r.reason).to.match(/^VMI vms\/vm-a: spec\.tolerations \(spec\.tolerations: expected array\) could not be read/);
    });

    it('fails when the VMI is not running', () => {
      const r = resolveSource(vm(''), [srcDevice()]);
      expect(!r.ok && r.reason).to.match(/not running on any node/);
    });

    it('fails when a consumed device sits on another node than the VMI', () => {
      const r = resolveSource(vm('w0'), [device('w9.a', 'w9', T, SRC, { consumerUid: VM_UID })]);
      expect(!r.ok && r.reason).to.match(/MdevDevice w9\.a on node w9 .* runs on w0/);
    });
  });

  it('one node of six accepts: it is chosen and the others carry the driver reason', async () => {
    const out = await run(sixNodes(['w4']));
    expect(out.decision.chosen?.node).to.equal('w4');
    expect(out.decision.chosen?.pairs).to.have.length(1);
    expect(out.decision.chosen?.pairs[0]?.target).to.include({ kind: 'device', nodeName: 'w4' });
    for (const n of ['w1', 'w2', 'w3', 'w5', 'w6']) {
      expect(verdictOf(out, n)).to.deep.include({ verdict: 'Incompatible', message: '2 of 2 free nvidia-1012 devices incompatible; EINVAL: host driver branch differs' });
    }
    expect(out.decision.explanations[0]?.node).to.equal('w4');
    expect(out.decision.explanations.map((e) => e.node)).to.not.include('w0');
    expect(out.decision.totals).to.deep.equal({ Compatible: 1, Incompatible: 5, NoCapacity: 0, TypeMismatch: 0, AgentUnavailable: 0, Excluded: 0 });
    // Two version classes among the candidates: two probes, and the winner was probed directly.
    expect(out.plan.classes).to.have.length(2);
    expect(out.probes).to.equal(2);
    expect(out.decision.needsConfirmation).to.equal(false);
    expect(exhaustiveProbeCount(out.source, out.filter)).to.equal(12);
  });

  it('no node accepts: nothing is chosen and the reason sums the verdicts', async () => {
    const out = await run(sixNodes([]));
    expect(out.decision.chosen).to.equal(null);
    expect(out.decision.ranking).to.deep.equal([]);
    expect(out.decision.totals.Incompatible).to.equal(6);
    expect(out.decision.reason).to.match(/no node can take VMI vms\/vm-a: 6 Incompatible/);
    expect(out.decision.confirmationProbes).to.deep.equal([]);
  });

  it('never chooses a cordoned node or one whose agent lease is stale, even when they accept', async () => {
    const s = sixNodes(['w2', 'w3', 'w5']);
    s.nodes = s.nodes.map((n) => (n.name === 'w2' ? { ...n, unschedulable: true } : n.name === 'w3' ? { ...n, agentFresh: false } : n));
    const out = await run(s);
    expect(out.decision.chosen?.node).to.equal('w5');
    expect(verdictOf(out, 'w2')).to.deep.include({ verdict: 'Excluded', message: 'cordoned' });
    expect(verdictOf(out, 'w3')).to.deep.include({ verdict: 'AgentUnavailable', message: 'agent lease mdev-agent.w3 is expired or missing' });
    expect(out.sent.every((p) => p.nodeName !== 'w2' && p.nodeName !== 'w3')).to.equal(true);
  });

  it('excludes nodes whose NoSchedule/NoExecute taints are not tolerated and ignores PreferNoSchedule', async () => {
    const s = sixNodes(['w1', 'w2', 'w3']);
    s.nodes = s.nodes.map((n) => {
      if (n.name === 'w1') return { ...n, taints: [{ key: 'gpu', value: 'maintenance', effect: 'NoSchedule' as const }] };
      if (n.name === 'w2') return { ...n, taints: [{ key: 'flaky', effect: 'NoExecute' as const }] };
      if (n.name === 'w3') return { ...n, taints: [{ key: 'busy', effect: 'PreferNoSchedule' as const }] };
      return n;
    });
    const out = await run(s);
    expect(verdictOf(out, 'w1')).to.deep.include({ verdict: 'Excluded', message: 'taint gpu=maintenance:NoSchedule not tolerated' });
    expect(verdictOf(out, 'w2')).to.deep.include({ verdict: 'Excluded', message: 'taint flaky:NoExecute not tolerated' });
    expect(out.decision.chosen?.node).to.equal('w3');

    const tolerant = await run({ ...s, vm: vm('w0', { tolerations: [{ key: 'gpu', operator: 'Equal', value: 'maintenance', effect: 'NoSchedule' }] }) });
    expect(verdictOf(tolerant, 'w1').verdict).to.equal('Compatible');
    expect(tolerant.decision.chosen?.node).to.equal('w1');
  });

  it('honours nodeSelector, required affinity and spec.targetNodes', async () => {
    const s = sixNodes(['w1', 'w2', 'w3', 'w4']);
    s.nodes = s.nodes.map((n) => ({ ...n, labels: { ...n.labels, zone: n.name === 'w1' ? 'b' : 'a', gpus: n.name === 'w2' ? '2' : '8' } }));
    const out = await run({
      ...s,
      vm: vm('w0', {
        nodeSelector: { zone: 'a' },
        requiredAffinity: [{ matchExpressions: [{ key: 'gpus', operator: 'Gt', values: ['4'] }] }],
      }),
      request: request({ targetNodes: ['w1', 'w2', 'w4', 'w5'] }),
    });
    expect(verdictOf(out, 'w1')).to.deep.include({ verdict: 'Excluded', message: 'nodeSelector zone=a not matched (label is b)' });
    expect(verdictOf(out, 'w2')).to.deep.include({ verdict: 'Excluded', message: 'required node affinity not satisfied (no term matches)' });
    expect(verdictOf(out, 'w3')).to.deep.include({ verdict: 'Excluded', message: 'not in spec.targetNodes' });
    expect(out.decision.chosen?.node).to.equal('w4');
    expect(verdictOf(out, 'w5').verdict).to.equal('Incompatible');
  });

  it('explains a node without the type as TypeMismatch', async () => {
    const out = await run({
      nodes: [node('w0'), node('w1'), node('w2')],
      devices: [srcDevice(), device('w1.a', 'w1', 'nvidia-1013', SRC), device('w2.a', 'w2', T, SRC)],
    });
    expect(verdictOf(out, 'w1')).to.deep.include({ verdict: 'TypeMismatch', message: 'no nvidia-1012 device' });
    expect(out.decision.chosen?.node).to.equal('w2');
  });

  describe('pools: the device plugin picks any free device of the resource', () => {
    it('a node whose free pool is mixed (one accepting, one rejecting device) is Incompatible, and Compatible once the rejecting one is held', async () => {
      const mixed = await run({
        nodes: [node('w0'), node('w1')],
        devices: [srcDevice(), device('w1.a', 'w1', T, nv('550.90.07')), device('w1.b', 'w1', T, OLD)],
      });
      expect(verdictOf(mixed, 'w1')).to.deep.include({ verdict: 'Incompatible', message: '1 of 2 free nvidia-1012 devices incompatible: pool mixed; EINVAL: host driver branch differs' });
      expect(mixed.decision.chosen).to.equal(null);
      const held = await run({
        nodes: [node('w0'), node('w1')],
        devices: [srcDevice(), device('w1.a', 'w1', T, nv('550.90.07')), device('w1.b', 'w1', T, OLD, { consumerUid: 'another-vm' })],
      });
      expect(held.decision.chosen?.node).to.equal('w1');
      expect(held.decision.chosen?.pairs.map((p) => targetId(p.target))).to.deep.equal(['w1.a']);
    });

    it('probes one representative per version class of a pool, however many devices share it', async () => {
      const out = await run({
        nodes: [node('w0'), node('w1')],
        devices: [srcDevice(), ...['a', 'b', 'c'].map((x) => device(`w1.${x}`, 'w1', T, SRC)), device('w1.d', 'w1', T, nv('550.90.07'))],
      });
      expect(out.decision.chosen?.node).to.equal('w1');
      expect(out.sent).to.have.length(1);
      expect(out.sent[0]?.targets.map(targetId)).to.deep.equal(['w1.a', 'w1.d']);
      expect(out.decision.needsConfirmation).to.equal(false);
    });

    it('a free device without a version, or of another type in the same pool, makes the pool unusable before any probe', async () => {
      const out = await run({
        nodes: [node('w0'), node('w1'), node('w2')],
        devices: [
          srcDevice(),
          device('w1.a', 'w1', T, SRC),
          device('w1.b', 'w1', T, undefined),
          device('w2.a', 'w2', T, SRC),
          device('w2.b', 'w2', 'nvidia-1013', SRC, { pool: T }),
        ],
      });
      expect(verdictOf(out, 'w1')).to.deep.include({ verdict: 'Incompatible', message: '1 of 2 free nvidia-1012 devices incompatible: pool mixed (1 not migratable (no migration version))' });
      expect(verdictOf(out, 'w2')).to.deep.include({ verdict: 'Incompatible', message: '1 of 2 free nvidia-1012 devices incompatible: pool mixed (1 of type nvidia-1013)' });
      expect(out.sent).to.deep.equal([]);
    });

    it('counts units claimed by other migrations; its own claim counts as free', async () => {
      const twoSource = [srcDevice('w0.a'), srcDevice('w0.b')];
      const out = await run({
        nodes: [node('w0'), node('w1'), node('w2'), node('w3')],
        devices: [
          ...twoSource,
          device('w1.a', 'w1', T, SRC),
          device('w1.b', 'w1', T, SRC, { consumerUid: 'other-vm' }),
          device('w2.a', 'w2', T, SRC),
          device('w2.b', 'w2', T, SRC),
          device('w3.a', 'w3', T, SRC),
          device('w3.b', 'w3', T, SRC),
        ],
        claims: [claim('w2', T, 'other-migration'), claim('w3', T, MIGRATION_UID, 2)],
      });
      expect(verdictOf(out, 'w1')).to.deep.include({ verdict: 'NoCapacity', message: 'needs 2 free nvidia-1012, has 1 (1 in use)' });
      expect(verdictOf(out, 'w2')).to.deep.include({ verdict: 'NoCapacity', message: 'needs 2 free nvidia-1012, has 1 (1 claimed by other migrations)' });
      // Only w2 may get room when the other migrations end: the planner waits for claim-bound nodes.
      expect(verdictOf(out, 'w1').claimBound).to.equal(undefined);
      expect(verdictOf(out, 'w2').claimBound).to.equal(true);
      expect(out.decision.chosen?.node).to.equal('w3');
      expect(out.decision.chosen?.pairs.map((p) => [p.source, targetId(p.target)])).to.deep.equal([
        ['w0.a', 'w3.a'],
        ['w0.b', 'w3.b'],
      ]);
    });

    it('a VMI with two versions in one pool needs every free class to accept both', async () => {
      // Class "y" accepts both source versions, class "q" only "x": the plugin could hand "q" to "y".
      const rule = (_t: string, s: string, t: string) => t === 'y' || (t === 'q' && s === 'x');
      const both = { nodes: [node('w0'), node('w1'), node('w2')], devices: [srcDevice('w0.s1', 'x'), srcDevice('w0.s2', 'y'), device('w1.p', 'w1', T, 'y'), device('w1.q', 'w1', T, 'q'), device('w2.p', 'w2', T, 'y'), device('w2.r', 'w2', T, 'y')] };
      const out = await run(both, new VerdictCache(), rule);
      expect(verdictOf(out, 'w1').verdict).to.equal('Incompatible');
      expect(verdictOf(out, 'w1').message).to.match(/^1 of 2 free nvidia-1012 devices incompatible: pool mixed/);
      expect(out.decision.chosen?.node).to.equal('w2');
    });

    it('with claims beyond the free devices, creating more cannot rescue the pool', async () => {
      const out = await run({
        nodes: [node('w0'), node('w1')],
        devices: [srcDevice(), device('w1.a', 'w1', T, SRC)],
        capacity: [capacity('w1', '0000:41:00.4', T, 4, SRC)],
        claims: [claim('w1', T, 'other-1'), claim('w1', T, 'other-2')],
        request: request({ allowCreateTarget: true }),
      });
      expect(verdictOf(out, 'w1')).to.deep.include({ verdict: 'NoCapacity', message: 'needs 1 free nvidia-1012, has 1 (2 claimed by other migrations, 1 creatable)', claimBound: true });
    });
  });

  describe('allowCreateTarget', () => {
    const scenario: Scenario = {
      nodes: [node('w0'), node('w1'), node('w2')],
      devices: [srcDevice(), device('w1.a', 'w1', T, SRC, { consumerUid: 'other' })],
      capacity: [capacity('w1', '0000:41:00.4', T, 3, SRC), capacity('w2', '0000:41:00.4', T, 2, OLD)],
    };

    it('does not create a target unless the request allows it, and names spare capacity as the remedy', async () => {
      const out = await run(scenario);
      expect(verdictOf(out, 'w1')).to.deep.include({ verdict: 'NoCapacity', message: 'needs 1 free nvidia-1012, has 0 (1 in use, 1 creatable with allowCreateTarget)' });
      // A parent of the type without a device is short of capacity, not of the wrong type.
      expect(verdictOf(out, 'w2')).to.deep.include({ verdict: 'NoCapacity', message: 'needs 1 free nvidia-1012, has 0 (1 creatable with allowCreateTarget)' });
      expect(out.decision.chosen).to.equal(null);
    });

    it('counts spare slots on a parent of the type and assigns a slot to create', async () => {
      const out = await run({ ...scenario, request: request({ allowCreateTarget: true }) });
      expect(out.decision.chosen?.node).to.equal('w1');
      expect(out.decision.chosen?.pairs[0]?.target).to.deep.equal({ kind: 'slot', nodeName: 'w1', parentAddress: '0000:41:00.4', typeId: T, pool: T, version: SRC });
      expect(out.decision.chosen?.score.creates).to.equal(1);
      expect(verdictOf(out, 'w2').verdict).to.equal('Incompatible');
    });

    it('prefers a node with an existing free device over creating one', async () => {
      const out = await run({
        ...scenario,
        devices: [...scenario.devices, device('w9.a', 'w9', T, SRC)],
        nodes: [...scenario.nodes, node('w9')],
        request: request({ allowCreateTarget: true }),
      });
      expect(out.decision.ranking.map((r) => r.node)).to.deep.equal(['w9', 'w1']);
    });
  });

  it('prefers the tighter fit, then the least loaded node, then the name', async () => {
    const out = await run({
      nodes: ['w0', 'a1', 'b2', 'c3', 'd4'].map((n) => node(n)),
      devices: [
        srcDevice(),
        ...['x', 'y', 'z'].map((s) => device(`a1.${s}`, 'a1', T, SRC)),
        device('b2.x', 'b2', T, SRC),
        device('b2.y', 'b2', T, SRC, { consumerUid: 'o1' }),
        device('b2.z', 'b2', T, SRC, { consumerUid: 'o2' }),
        device('c3.x', 'c3', T, SRC),
        device('c3.y', 'c3', T, SRC, { consumerUid: 'o3' }),
        device('d4.x', 'd4', T, SRC),
        device('d4.y', 'd4', T, SRC, { consumerUid: 'o4' }),
      ],
    });
    expect(out.decision.ranking.map((r) => r.node)).to.deep.equal(['c3', 'd4', 'b2', 'a1']);
    expect(out.decision.ranking[0]?.score).to.deep.equal({ creates: 0, leftover: 0, consumed: 1 });
  });

  describe('verdict cache', () => {
    it('a warm cache needs no class probe, only one confirmation of the chosen device', async () => {
      const cache = new VerdictCache();
      const cold = await run(sixNodes(['w4']), cache);
      expect(cache.size).to.equal(2);
      const warm = await run(sixNodes(['w4']), cache);
      expect(warm.plan.probes).to.deep.equal([]);
      expect(warm.plan.unknownPairs).to.equal(0);
      expect(warm.sent).to.have.length(1);
      expect(warm.sent[0]).to.deep.include({ nodeName: 'w4', sourceVersion: SRC });
      expect(warm.decision.needsConfirmation).to.equal(false);
      expect(warm.decision.chosen).to.deep.equal(cold.decision.chosen);
    });

    it('probes again after the version is invalidated', async () => {
      const cache = new VerdictCache();
      await run(sixNodes(['w4']), cache);
      expect(cache.invalidateVersion(OLD)).to.equal(1);
      const next = await run(sixNodes(['w4']), cache);
      expect(next.plan.probes).to.have.length(1);
      expect(next.plan.probes[0]?.targets.every((t) => t.version === OLD)).to.equal(true);
    });

    it('a stale cached acceptance is overturned by the confirmation probe', async () => {
      const cache = new VerdictCache();
      cache.set(T, SRC, OLD, { accepted: true });
      cache.set(T, SRC, nv('550.90.07'), { accepted: true });
      const out = await run(sixNodes(['w4']), cache);
      expect(out.decision.chosen?.node).to.equal('w4');
      expect(out.confirmationRounds).to.equal(2);
      expect(cache.get(T, SRC, OLD)).to.deep.equal({ accepted: false, reason: 'EINVAL: host driver branch differs' });
    });
  });

  it('asks at most one probe per distinct (type, version) class across 300 nodes', async () => {
    const names = Array.from({ length: 301 }, (_, i) => `n${String(i).padStart(3, '0')}`);
    const devices = [device('n000.src', 'n000', T, nv('510.9'), { consumerUid: VM_UID })];
    names.slice(1).forEach((n, i) => {
      for (let d = 0; d < 4; d++) devices.push(device(`${n}.${d}`, n, T, nv(`${500 + (i % 20)}.${d}`)));
    });
    const out = await run({ vm: vm('n000'), nodes: names.map((n) => node(n)), devices });
    expect(out.plan.classes).to.have.length(80);
    expect(out.plan.probes.length).to.be.at.most(80);
    expect(out.probes).to.be.at.most(81);
    expect(exhaustiveProbeCount(out.source, out.filter)).to.equal(1200);
    expect(out.decision.chosen).to.not.equal(null);
  });

  it('leaves a class unverified when its probe is not answered', async () => {
    const s = sixNodes(['w4']);
    const fleet = indexFleet(s.nodes, s.devices);
    const r = resolveSource(vm('w0'), s.devices);
    if (!r.ok) throw new Error(r.reason);
    const filter = filterCandidates(r.source, fleet, request());
    const plan = planProbes(r.source, buildClasses(filter.candidates), new VerdictCache());
    const decision = decide(r.source, filter, plan.verdicts);
    expect(decision.chosen).to.equal(null);
    expect(decision.explanations.every((e) => /not verified: no verdict for 1 version class \(probe unanswered\)/.test(e.message))).to.equal(true);
  });

  it('rejects a class whose targets answer differently (broken contract)', () => {
    const s = sixNodes(['w4']);
    const r = resolveSource(vm('w0'), s.devices);
    if (!r.ok) throw new Error(r.reason);
    const filter = filterCandidates(r.source, indexFleet(s.nodes, s.devices), request());
    const plan = planProbes(r.source, buildClasses(filter.candidates), new VerdictCache());
    const probe = plan.probes.find((p) => p.nodeName === 'w4');
    if (!probe) throw new Error('expected a probe on w4');
    const w4 = { ...probe, targets: [...probe.targets, { kind: 'device' as const, nodeName: 'w4', name: 'w4.b', typeId: T, pool: T, parentAddress: '0000:41:00.4', version: nv('550.90.07') }] };
    const verdicts = applyProbeAnswers(plan.verdicts, [
      { request: w4, results: [{ target: 'w4.a', accepted: true }, { target: 'w4.b', accepted: false, reason: 'EINVAL' }] },
    ]);
    const decision = decide(r.source, filter, verdicts);
    expect(decision.chosen).to.equal(null);
    expect(decision.explanations.find((e) => e.node === 'w4')?.message).to.match(/answered differently.*EINVAL/);
  });

  it('bounds the candidate list without reordering it', () => {
    const list = Array.from({ length: 120 }, (_, i) => i);
    expect(boundedCandidates(list, 50)).to.deep.equal(list.slice(0, 50));
    expect(boundedCandidates(list.slice(0, 3), 50)).to.deep.equal([0, 1, 2]);
  });
});
