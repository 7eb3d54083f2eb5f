import { expect } from 'chai';
import {
  immutableFieldViolations,
  KINDS,
  validateObject,
  type KindName,
} from '../../../src/api/v1alpha1/index.ts';
import { caseTitle, INVALID_CASES, invalidObject } from './cases.ts';
import { loadExample } from './examples.ts';

/** The rules issue #3 lists, as (kind, field) pairs the invalid cases must exercise. */
const ISSUE_RULES: [KindName, string][] = [
  ['MdevDevice', 'spec.nodeName'], // immutable, and a valid name
  ['MdevDevice', 'status.migrationVersion'],
  ['MdevProbe', 'spec.sourceVersion'],
  ['MdevNode', 'spec.capacity[].migrationVersion'],
  ['MdevDevice', 'spec.id'],
  ['MdevDevice', 'spec.parent.address'],
  ['MdevProbe', 'spec.devices[]'],
  ['MdevDevice', 'spec.kind'],
  ['MdevMigration', 'status.phase'],
  ['MdevMigration', 'status.candidates[].verdict'],
  ['MdevMigration', 'spec.deadlineSeconds'],
  ['MdevMigration', 'spec.vmiName'],
  ['MdevProbe', 'spec.nodeName'],
  ['MdevNode', 'spec.nodeName'],
];

const generic = (field: string) => field.replace(/\[\d+\]/g, '[]');

describe('api/v1alpha1 zod schemas', () => {
  for (const kind of KINDS) {
    it(`accepts the ${kind} example in docs/examples`, () => {
      const result = validateObject(kind, loadExample(kind));
      expect(result.ok ? [] : result.issues).to.deep.equal([]);
    });
  }

  it('applies the MdevMigration defaults the CRD declares', () => {
    const example = loadExample('MdevMigration');
    example.spec = { vmiName: 'vm-a' };
    const result = validateObject('MdevMigration', example);
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    expect(result.value.spec).to.deep.equal({ vmiName: 'vm-a', allowCreateTarget: false, dryRun: false, deadlineSeconds: 900 });
  });

  it('has at least 25 invalid cases, covering every rule of issue #3 and every kind and write', () => {
    expect(INVALID_CASES.length).to.be.at.least(25);
    const covered = new Set(INVALID_CASES.map((k) => `${k.kind} ${generic(k.field)}`));
    const missing = ISSUE_RULES.filter(([kind, field]) => !covered.has(`${kind} ${field}`));
    expect(missing).to.deep.equal([]);
    for (const kind of KINDS) expect(INVALID_CASES.some((k) => k.kind === kind && k.write === 'create')).to.equal(true);
    for (const kind of KINDS) expect(INVALID_CASES.some((k) => k.kind === kind && k.write === 'update'), kind).to.equal(kind !== 'MdevMigration');
    expect(INVALID_CASES.filter((k) => k.write === 'status').map((k) => k.kind)).to.include.members(['MdevDevice', 'MdevMigration', 'MdevProbe']);
  });

  for (const kase of INVALID_CASES) {
    it(`refuses ${caseTitle(kase)}`, () => {
      const example = loadExample(kase.kind);
      const obj = invalidObject(kase, example);
      if (kase.write === 'update') {
        expect(immutableFieldViolations(kase.kind, example, obj)).to.include(kase.field);
        return;
      }
      const result = validateObject(kase.kind, obj);
      expect(result.ok, 'zod accepted the object').to.equal(false);
      if (!result.ok) expect(result.issues.map((i) => i.path)).to.include(kase.field);
    });
  }

  it('finds no immutable-field violation when only mutable fields change', () => {
    const before = loadExample('MdevProbe');
    const after = structuredClone(before);
    (after.spec as { devices: string[] }).devices = ['worker-7.other'];
    expect(immutableFieldViolations('MdevProbe', before, after)).to.deep.equal([]);
  });
});
