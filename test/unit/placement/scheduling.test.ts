import { expect } from 'chai';
import { affinityMatches, exclusionReason, requirementMatches, tolerates, untoleratedTaint } from '../../../src/placement/index.ts';
import type { Taint } from '../../../src/placement/index.ts';
import { node, vm } from './fixtures.ts';

const maint: Taint = { key: 'gpu', value: 'maintenance', effect: 'NoSchedule' };

describe('placement scheduling rules (Kubernetes semantics)', () => {
  describe('tolerations', () => {
    it('Equal needs key, value and (if given) effect to match', () => {
      expect(tolerates({ key: 'gpu', operator: 'Equal', value: 'maintenance', effect: 'NoSchedule' }, maint)).to.equal(true);
      expect(tolerates({ key: 'gpu', value: 'maintenance' }, maint)).to.equal(true);
      expect(tolerates({ key: 'gpu', value: 'other' }, maint)).to.equal(false);
      expect(tolerates({ key: 'gpu', value: 'maintenance', effect: 'NoExecute' }, maint)).to.equal(false);
      expect(tolerates({ key: 'cpu', value: 'maintenance' }, maint)).to.equal(false);
    });

    it('Exists ignores the value; an empty key with Exists tolerates every taint', () => {
      expect(tolerates({ key: 'gpu', operator: 'Exists' }, maint)).to.equal(true);
      expect(tolerates({ operator: 'Exists' }, maint)).to.equal(true);
      expect(tolerates({ operator: 'Exists', effect: 'NoExecute' }, maint)).to.equal(false);
      expect(tolerates({ key: '', operator: 'Exists', effect: '' }, { key: 'x', effect: 'NoExecute' })).to.equal(true);
    });

    it('Lt and Gt compare decimal integers: Lt tolerates a smaller taint value, Gt a larger one', () => {
      const rate = (value: string): Taint => ({ key: 'failure-rate', value, effect: 'NoSchedule' });
      expect(tolerates({ key: 'failure-rate', operator: 'Lt', value: '50' }, rate('49'))).to.equal(true);
      expect(tolerates({ key: 'failure-rate', operator: 'Lt', value: '50' }, rate('50'))).to.equal(false);
      expect(tolerates({ key: 'failure-rate', operator: 'Gt', value: '50' }, rate('51'))).to.equal(true);
      expect(tolerates({ key: 'failure-rate', operator: 'Gt', value: '50' }, rate('-3'))).to.equal(false);
      expect(tolerates({ key: 'failure-rate', operator: 'Lt', value: '50' }, rate('010'))).to.equal(false); // not canonical
      expect(tolerates({ key: 'failure-rate', operator: 'Lt', value: 'x' }, rate('1'))).to.equal(false);
      expect(tolerates({ key: 'failure-rate', operator: 'Lt', value: '9223372036854775808' }, rate('1'))).to.equal(false); // beyond int64
      expect(tolerates({ key: 'other', operator: 'Lt', value: '50' }, rate('1'))).to.equal(false);
    });

    it('an operator it does not know tolerates nothing; an effect it does not know never blocks', () => {
      expect(tolerates({ key: 'gpu', operator: 'SemverLt', value: '1' }, maint)).to.equal(false);
      expect(untoleratedTaint([{ key: 'a', effect: 'NoFuture' }], [])).to.equal(undefined);
    });

    it('PreferNoSchedule never blocks; NoSchedule and NoExecute do', () => {
      expect(untoleratedTaint([{ key: 'a', effect: 'PreferNoSchedule' }], [])).to.equal(undefined);
      expect(untoleratedTaint([{ key: 'a', effect: 'PreferNoSchedule' }, { key: 'b', effect: 'NoExecute' }], [])).to.deep.equal({ key: 'b', effect: 'NoExecute' });
      expect(untoleratedTaint([maint], [{ key: 'gpu', operator: 'Exists' }])).to.equal(undefined);
    });
  });

  it('excludes a node whose object could not be read, naming why', () => {
    expect(exclusionReason(vm('w0'), node('w1', { unreadable: 'spec.taints (spec.taints: expected array)' }), undefined)).to.equal('the Node object could not be read: spec.taints (spec.taints: expected array)');
  });

  describe('node selector requirements', () => {
    const labels = { zone: 'a', gpus: '8', empty: '' };
    it('In / NotIn / Exists / DoesNotExist', () => {
      expect(requirementMatches({ key: 'zone', operator: 'In', values: ['a', 'b'] }, labels)).to.equal(true);
      expect(requirementMatches({ key: 'zone', operator: 'In', values: ['b'] }, labels)).to.equal(false);
      expect(requirementMatches({ key: 'missing', operator: 'In', values: [''] }, labels)).to.equal(false);
      expect(requirementMatches({ key: 'zone', operator: 'NotIn', values: ['b'] }, labels)).to.equal(true);
      expect(requirementMatches({ key: 'missing', operator: 'NotIn', values: ['b'] }, labels)).to.equal(true);
      expect(requirementMatches({ key: 'zone', operator: 'NotIn', values: ['a'] }, labels)).to.equal(false);
      expect(requirementMatches({ key: 'empty', operator: 'Exists' }, labels)).to.equal(true);
      expect(requirementMatches({ key: 'missing', operator: 'DoesNotExist' }, labels)).to.equal(true);
      expect(requirementMatches({ key: 'zone', operator: 'DoesNotExist' }, labels)).to.equal(false);
    });

    it('Gt / Lt compare integers and match nothing on non-integers', () => {
      expect(requirementMatches({ key: 'gpus', operator: 'Gt', values: ['4'] }, labels)).to.equal(true);
      expect(requirementMatches({ key: 'gpus', operator: 'Gt', values: ['8'] }, labels)).to.equal(false);
      expect(requirementMatches({ key: 'gpus', operator: 'Lt', values: ['9'] }, labels)).to.equal(true);
      expect(requirementMatches({ key: 'gpus', operator: 'Lt', values: ['10', '11'] }, labels)).to.equal(false);
      expect(requirementMatches({ key: 'zone', operator: 'Gt', values: ['1'] }, labels)).to.equal(false);
      expect(requirementMatches({ key: 'missing', operator: 'Lt', values: ['1'] }, labels)).to.equal(false);
      expect(requirementMatches({ key: 'gpus', operator: 'Gt', values: ['9007199254740993'] }, { gpus: '9007199254740994' })).to.equal(true);
    });

    it('terms are ORed, expressions ANDed, an empty term matches nothing, matchFields sees metadata.name', () => {
      const n = node('w1', { labels: { zone: 'a', gpus: '8' } });
      expect(affinityMatches(undefined, n)).to.equal(true);
      expect(affinityMatches([], n)).to.equal(true);
      expect(affinityMatches([{}], n)).to.equal(false);
      expect(affinityMatches([{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, { key: 'gpus', operator: 'Lt', values: ['4'] }] }], n)).to.equal(false);
      expect(
        affinityMatches(
          [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] }, { matchExpressions: [{ key: 'gpus', operator: 'Gt', values: ['4'] }] }],
          n,
        ),
      ).to.equal(true);
      expect(affinityMatches([{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['w1'] }] }], n)).to.equal(true);
      expect(affinityMatches([{ matchFields: [{ key: 'metadata.name', operator: 'NotIn', values: ['w1'] }] }], n)).to.equal(false);
    });
  });

  it('exclusionReason names the first blocking rule', () => {
    const v = vm('w0', { nodeSelector: { zone: 'a' } });
    expect(exclusionReason(v, node('w1', { labels: { zone: 'a' } }), undefined)).to.equal(undefined);
    expect(exclusionReason(v, node('w1', { labels: {} }), undefined)).to.equal('nodeSelector zone=a not matched (label is absent)');
    expect(exclusionReason(v, node('w1', { labels: { zone: 'a' }, unschedulable: true }), undefined)).to.equal('cordoned');
    expect(exclusionReason(v, node('w1', { labels: { zone: 'a' } }), new Set(['w2']))).to.equal('not in spec.targetNodes');
  });
});
