import { expect } from 'chai';
import fc from 'fast-check';
import { toSchedNode } from '../../../dev/sim/kubevirt/core-objects.ts';
import { chooseTargetNode, matchesNodeSelectorTerms, misfit, parseQuantity, type FitInput, type SchedNode } from '../../../dev/sim/kubevirt/node-fit.ts';

function node(name: string, extra: Partial<SchedNode> = {}): SchedNode {
  return { name, labels: { 'kubernetes.io/hostname': name, ...extra.labels }, unschedulable: false, taints: [], notReady: false, ...extra };
}

function input(extra: Partial<FitInput> = {}): FitInput {
  return { sourceNode: 'node-a', nodeSelector: {}, addedNodeSelector: {}, tolerations: [], launcherPods: new Map(), ...extra };
}

describe('KubeVirt stand-in scheduler: target node choice', () => {
  it('pins the node named by addedNodeSelector', () => {
    const r = chooseTargetNode([node('node-a'), node('node-b'), node('node-c')], input({ addedNodeSelector: { 'kubernetes.io/hostname': 'node-c' } }));
    expect(r).to.deep.equal({ ok: true, node: 'node-c' });
  });

  it('never picks the source, a cordoned or a NotReady node', () => {
    const nodes = [node('node-a'), node('node-b', { unschedulable: true }), node('node-c', { notReady: true }), node('node-d')];
    expect(chooseTargetNode(nodes, input())).to.deep.equal({ ok: true, node: 'node-d' });
  });

  it('ANDs the VMI nodeSelector with addedNodeSelector', () => {
    const nodes = [node('node-a'), node('node-b', { labels: { pool: 'gpu' } }), node('node-c')];
    const pinnedOutsidePool = chooseTargetNode(nodes, input({ nodeSelector: { pool: 'gpu' }, addedNodeSelector: { 'kubernetes.io/hostname': 'node-c' } }));
    expect(pinnedOutsidePool.ok).to.equal(false);
    expect(chooseTargetNode(nodes, input({ nodeSelector: { pool: 'gpu' } }))).to.deep.equal({ ok: true, node: 'node-b' });
  });

  it('treats a key set differently by both selectors as unsatisfiable', () => {
    const nodes = [node('node-a'), node('node-b', { labels: { pool: 'x' } })];
    expect(chooseTargetNode(nodes, input({ nodeSelector: { pool: 'x' }, addedNodeSelector: { pool: 'y' } })).ok).to.equal(false);
  });

  it('honours required node affinity with Kubernetes term semantics', () => {
    const n = node('node-b', { labels: { zone: 'a', gen: '5' } });
    expect(matchesNodeSelectorTerms([{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'gen', operator: 'Gt', values: ['4'] }] }], n)).to.equal(true);
    expect(matchesNodeSelectorTerms([{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['node-b'] }] }], n)).to.equal(true);
    expect(matchesNodeSelectorTerms([{ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }], n)).to.equal(false);
    expect(matchesNodeSelectorTerms([{}], n)).to.equal(false);
  });

  it('blocks untolerated NoSchedule/NoExecute taints but not PreferNoSchedule', () => {
    const tainted = node('node-b', { taints: [{ key: 'maint', value: 'yes', effect: 'NoSchedule' }] });
    const soft = node('node-c', { taints: [{ key: 'x', effect: 'PreferNoSchedule' }] });
    expect(misfit(tainted, input())).to.equal('node(s) had untolerated taint {maint: yes}');
    expect(misfit(tainted, input({ tolerations: [{ key: 'maint', operator: 'Equal', value: 'yes', effect: 'NoSchedule' }] }))).to.equal(undefined);
    expect(misfit(tainted, input({ tolerations: [{ operator: 'Exists' }] }))).to.equal(undefined);
    expect(misfit(tainted, input({ tolerations: [{ key: 'maint', value: 'no' }] }))).to.not.equal(undefined);
    expect(misfit(soft, input())).to.equal(undefined);
  });

  it('spreads to the node with the fewest launcher pods, then by name', () => {
    const nodes = [node('node-a'), node('node-c'), node('node-b'), node('node-d')];
    expect(chooseTargetNode(nodes, input())).to.deep.equal({ ok: true, node: 'node-b' });
    const busy = new Map([['node-b', 2], ['node-c', 1]]);
    expect(chooseTargetNode(nodes, input({ launcherPods: busy }))).to.deep.equal({ ok: true, node: 'node-d' });
  });

  it('summarizes why no node fits, like kube-scheduler', () => {
    const nodes = [node('node-a'), node('node-b', { unschedulable: true }), node('node-c'), node('node-d')];
    const r = chooseTargetNode(nodes, input({ addedNodeSelector: { 'kubernetes.io/hostname': 'nowhere' } }));
    expect(r).to.deep.equal({
      ok: false,
      reason: "0/4 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 1 node(s) were the migration source, 1 node(s) were unschedulable.",
    });
  });

  it('property: a chosen node always fits and is never the source', () => {
    const arbNode = fc.record({
      name: fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5'),
      pool: fc.constantFrom('gpu', 'cpu'),
      unschedulable: fc.boolean(),
      tainted: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.uniqueArray(arbNode, { selector: (n) => n.name, maxLength: 5 }), fc.constantFrom('n1', 'n2'), fc.boolean(), fc.boolean(), (raw, source, wantGpu, tolerate) => {
        const nodes = raw.map((n) => node(n.name, { labels: { pool: n.pool }, unschedulable: n.unschedulable, taints: n.tainted ? [{ key: 't', effect: 'NoExecute' }] : [] }));
        const fit = input({ sourceNode: source, nodeSelector: wantGpu ? { pool: 'gpu' } : {}, tolerations: tolerate ? [{ key: 't', operator: 'Exists' }] : [] });
        const r = chooseTargetNode(nodes, fit);
        const fitting = nodes.filter((n) => misfit(n, fit) === undefined);
        if (r.ok) {
          expect(r.node).to.not.equal(source);
          expect(fitting.map((n) => n.name)).to.include(r.node);
        } else {
          expect(fitting).to.have.length(0);
        }
      }),
    );
  });
});

describe('KubeVirt stand-in scheduler: resource requests', () => {
  it('leaves a pod whose memory request exceeds the allocatable unscheduled, in kube-scheduler\'s words', () => {
    const small = node('node-b', { allocatable: { memory: '512Mi' } });
    expect(misfit(small, input({ requests: { memory: '1Gi' } }))).to.equal('Insufficient memory');
    expect(misfit(small, input({ requests: { memory: '256Mi' } }))).to.equal(undefined);
    expect(chooseTargetNode([node('node-a'), small], input({ requests: { memory: '1Gi' } }))).to.deep.equal({ ok: false, reason: '0/2 nodes are available: 1 Insufficient memory, 1 node(s) were the migration source.' });
  });

  it('does not check a resource the node lists no allocatable for (nodes created as data)', () => {
    expect(misfit(node('node-b'), input({ requests: { memory: '1Gi' } }))).to.equal(undefined);
  });

  it('reads binary and decimal quantities', () => {
    expect([parseQuantity('1Gi'), parseQuantity('512Mi'), parseQuantity('2'), parseQuantity('1.5G'), parseQuantity('4Ki'), parseQuantity('x')]).to.deep.equal([2 ** 30, 512 * 2 ** 20, 2, 1.5e9, 4096, undefined]);
  });

  it('reads allocatable from the Node status', () => {
    const n = toSchedNode({ metadata: { name: 'w3' }, status: { allocatable: { memory: '512Mi', cpu: 4 } } });
    expect(typeof n !== 'string' && n.allocatable).to.deep.equal({ memory: '512Mi', cpu: '4' });
  });
});

describe('KubeVirt stand-in scheduler: Node objects without a kubelet', () => {
  const notReadyTaint = { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' };

  it('ignores the not-ready taint admission adds to a Node that never reported Ready', () => {
    const n = toSchedNode({ metadata: { name: 'w1', labels: { a: 'b' } }, spec: { taints: [notReadyTaint, { key: 'maint', effect: 'NoExecute' }] } });
    expect(n).to.deep.equal({ name: 'w1', labels: { a: 'b' }, unschedulable: false, taints: [{ key: 'maint', value: undefined, effect: 'NoExecute' }], notReady: false, allocatable: {} });
  });

  it('judges a Node whose kubelet reports Ready by its condition and every taint', () => {
    const n = toSchedNode({ metadata: { name: 'w2' }, spec: { unschedulable: true, taints: [notReadyTaint] }, status: { conditions: [{ type: 'Ready', status: 'False' }] } });
    expect(n).to.include({ notReady: true, unschedulable: true });
    expect(typeof n !== 'string' && n.taints.map((t) => t.key)).to.deep.equal(['node.kubernetes.io/not-ready']);
  });

  it('names what is wrong with a malformed Node', () => {
    expect(toSchedNode({ metadata: {} })).to.be.a('string').and.to.contain('metadata.name');
  });
});
