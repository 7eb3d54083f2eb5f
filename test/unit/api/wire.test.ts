import { expect } from 'chai';
import fc from 'fast-check';
import { parseFromWire, KINDS, type WarnLogger } from '../../../src/api/v1alpha1/index.ts';
import { loadExample } from './examples.ts';

function recordingLogger(): WarnLogger & { lines: { message: string; fields: Record<string, unknown> }[] } {
  const lines: { message: string; fields: Record<string, unknown> }[] = [];
  return { lines, warn: (message, fields) => lines.push({ message, fields }) };
}

describe('api/v1alpha1 parseFromWire', () => {
  for (const kind of KINDS) {
    it(`returns the typed ${kind} for a well-formed object and logs nothing`, () => {
      const log = recordingLogger();
      const parsed = parseFromWire(kind, loadExample(kind), log);
      expect(parsed?.kind).to.equal(kind);
      expect(log.lines).to.deep.equal([]);
    });
  }

  it('keeps metadata fields the server adds (managedFields, creationTimestamp)', () => {
    const obj = loadExample('MdevDevice');
    (obj.metadata as Record<string, unknown>).managedFields = [{ manager: 'mdev-operator-agent' }];
    const parsed = parseFromWire('MdevDevice', obj, recordingLogger());
    expect(parsed?.metadata.managedFields).to.deep.equal([{ manager: 'mdev-operator-agent' }]);
  });

  it('skips a malformed object and logs its name and the reason naming the field', () => {
    const log = recordingLogger();
    const obj = loadExample('MdevDevice');
    (obj.status as Record<string, unknown>).migrationVersion = 'bad\nversion';
    expect(parseFromWire('MdevDevice', obj, log)).to.equal(undefined);
    expect(log.lines).to.have.length(1);
    expect(log.lines[0]!.fields.name).to.equal('worker-1.6f1c2a0e-1b7d-4c55-9a43-2f4c1f0c9e11');
    expect(log.lines[0]!.fields.reason).to.match(/^status\.migrationVersion: .*0x0a/);
  });

  it('names a namespaced object namespace/name', () => {
    const log = recordingLogger();
    const obj = loadExample('MdevMigration');
    (obj.spec as Record<string, unknown>).vmiName = 'VM_A';
    expect(parseFromWire('MdevMigration', obj, log)).to.equal(undefined);
    expect(log.lines[0]!.fields).to.include({ kind: 'MdevMigration', name: 'vms/move-vm-a' });
  });

  it('refuses an object of another kind', () => {
    const log = recordingLogger();
    expect(parseFromWire('MdevProbe', loadExample('MdevNode'), log)).to.equal(undefined);
    expect(log.lines[0]!.fields.reason).to.match(/kind/);
  });

  it('never throws: arbitrary values, hostile getters and a failing logger', () => {
    const hostile = { get metadata(): never { throw new Error('boom'); } };
    const throwingLog: WarnLogger = { warn: () => { throw new Error('log sink down'); } };
    expect(parseFromWire('MdevNode', hostile, recordingLogger())).to.equal(undefined);
    expect(parseFromWire('MdevNode', null, throwingLog)).to.equal(undefined);
    fc.assert(
      fc.property(fc.constantFrom(...KINDS), fc.anything(), (kind, value) => {
        const log = recordingLogger();
        expect(parseFromWire(kind, value, log)).to.equal(undefined);
        expect(log.lines).to.have.length(1);
      }),
    );
  });
});
