import { expect } from 'chai';
import type { MdevMigration } from '../../../src/api/v1alpha1/index.ts';
import { admittedStep, admittedVmimNames, isAdmissionRecord, isAdmittedVmimOf } from '../../../src/controller/admitted-migration.ts';
import type { Vmim } from '../../../src/kubevirt/types.ts';
import { migration, NOW } from './fixtures.ts';

const CREATED = new Date(NOW - 10_000).toISOString();

function record(extra: { owner?: { name: string; uid: string }; vmimAnnotation?: string; migrationName?: string } = {}): MdevMigration {
  const m = migration('vmim-drain-1', 'Migrating', ['w2.dev']);
  return {
    ...m,
    metadata: {
      ...m.metadata,
      creationTimestamp: CREATED,
      labels: { 'mdev-operator.io/origin': 'admission' },
      annotations: { 'mdev-operator.io/vmim': extra.vmimAnnotation ?? 'drain-1' },
      ...(extra.owner ? { ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', name: extra.owner.name, uid: extra.owner.uid, controller: true }] } : {}),
    },
    status: { ...m.status, targetNode: 'w2', ...(extra.migrationName ? { migrationName: extra.migrationName } : {}) },
  };
}

function vmim(name: string, uid: string, phase?: string, annotations: Record<string, string> = { 'mdev-operator.io/migration': 'vmim-drain-1' }, failureReason?: string): Vmim {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstanceMigration',
    metadata: { name, namespace: 'vms', uid, annotations },
    spec: { vmiName: 'vm', addedNodeSelector: { 'kubernetes.io/hostname': 'w2' } },
    ...(phase ? { status: { phase, ...(failureReason ? { migrationState: { failureReason } } : {}) } } : {}),
  } as Vmim;
}

const step = (m: MdevMigration, v: Vmim | undefined, now = NOW) => admittedStep({ record: m, vmim: v, now, graceMs: 60_000, resyncMs: 30_000 });

describe('controller: MdevMigrations recorded by the admission webhook', () => {
  it('recognises admission records and the names their VMIM may have', () => {
    expect(isAdmissionRecord(record())).to.equal(true);
    expect(isAdmissionRecord(migration('plain', 'Pending'))).to.equal(false);
    expect(admittedVmimNames(record({ owner: { name: 'drain-1', uid: 'u1' }, migrationName: 'drain-1' }))).to.deep.equal(['drain-1']);
    expect(admittedVmimNames(record({ vmimAnnotation: '' }))).to.deep.equal([]);
  });

  it('an unlinked record follows the VMIM whose annotation names it; a linked one only the VMIM of its owner uid', () => {
    expect(isAdmittedVmimOf(vmim('drain-1', 'u1'), record())).to.equal(true);
    expect(isAdmittedVmimOf(vmim('drain-1', 'u1', undefined, {}), record())).to.equal(false);
    const linked = record({ owner: { name: 'drain-1', uid: 'u1' } });
    expect(isAdmittedVmimOf(vmim('drain-1', 'u1', undefined, {}), linked)).to.equal(true);
    // Deleted and re-created under the same name: not the VMIM this record was admitted for.
    expect(isAdmittedVmimOf(vmim('drain-1', 'u2'), linked)).to.equal(false);
  });

  it('ends Succeeded or Failed with the VMIM, without a retry, and waits while it runs', () => {
    expect(step(record(), vmim('drain-1', 'u1', 'Succeeded'))).to.deep.include({ kind: 'succeeded' });
    const failed = step(record(), vmim('drain-1', 'u1', 'Failed', undefined, 'target pod could not start'));
    expect(failed).to.deep.include({ kind: 'failed', reason: 'MigrationFailed' });
    expect((failed as { message: string }).message).to.match(/to w2 failed: target pod could not start; the operator does not retry/);
    expect(step(record(), vmim('drain-1', 'u1', 'Scheduling'))).to.deep.equal({ kind: 'wait', requeueAfterMs: 30_000 });
  });

  it('fails a linked record whose VMIM was deleted at once, and an unlinked one without a VMIM after the grace period', () => {
    expect(step(record({ owner: { name: 'drain-1', uid: 'u1' } }), undefined)).to.deep.include({ kind: 'failed', reason: 'VMIMDeleted' });
    expect(step(record(), undefined)).to.deep.equal({ kind: 'wait', requeueAfterMs: 50_000 });
    const late = step(record(), undefined, NOW + 55_000);
    expect(late).to.deep.include({ kind: 'failed', reason: 'VMIMNotCreated' });
    expect((late as { message: string }).message).to.match(/vms\/drain-1 for VMI vms\/vm did not exist 60s after admission/);
  });
});
