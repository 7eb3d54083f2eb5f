import { expect } from 'chai';
import { reservationBlocker, staleReservations } from '../../../src/controller/reservations.ts';
import { objectKey } from '../../../src/kube/resource.ts';
import { device, migration, NOW } from './fixtures.ts';

describe('controller reservations (pure parts)', () => {
  it('a device in use or reserved by another live migration blocks; its own reservation does not', () => {
    expect(reservationBlocker(device('w', 1, 'v', { consumer: 'vm' }), 'uid-m', NOW)).to.match(/in use by VirtualMachineInstance vms\/vm/);
    expect(reservationBlocker(device('w', 1, 'v', { reservedBy: 'other' }), 'uid-m', NOW)).to.match(/reserved by MdevMigration vms\/other/);
    expect(reservationBlocker(device('w', 1, 'v', { reservedBy: 'm' }), 'uid-m', NOW)).to.equal(undefined);
    expect(reservationBlocker(device('w', 1, 'v', { reservedBy: 'other', expiresAt: '2025-01-01T00:00:00Z' }), 'uid-m', NOW)).to.equal(undefined);
  });

  it('finds the reservations whose migration is gone, failed, expired, consumed or moved on', () => {
    const migrations = new Map(
      [migration('failed', 'Failed'), migration('done', 'Succeeded'), migration('live', 'Migrating', ['w.00000000-0000-4000-8000-000000000005']), migration('replanned', 'Probing')].map((m) => [
        objectKey(m.metadata.namespace, m.metadata.name),
        m,
      ]),
    );
    const devices = [
      device('w', 1, 'v', { reservedBy: 'gone' }),
      device('w', 2, 'v', { reservedBy: 'failed' }),
      device('w', 3, 'v', { reservedBy: 'live', expiresAt: '2025-12-31T00:00:00Z' }),
      device('w', 4, 'v', { reservedBy: 'done', consumer: 'vm' }),
      device('w', 5, 'v', { reservedBy: 'live' }),
      device('w', 6, 'v', { reservedBy: 'replanned' }),
      device('w', 7, 'v', { reservedBy: 'done' }),
      device('w', 8, 'v'),
    ];
    const stale = staleReservations({ devices, migration: (k) => migrations.get(k), now: NOW, orphanGraceMs: 60_000 });
    const byIndex = Object.fromEntries(stale.map((s) => [s.device.slice(-1), s.reason]));
    expect(Object.keys(byIndex).sort()).to.deep.equal(['1', '2', '3', '4', '6']);
    expect(byIndex['1']).to.match(/is gone/);
    expect(byIndex['2']).to.match(/failed/);
    expect(byIndex['3']).to.match(/expired/);
    expect(byIndex['4']).to.match(/consumed/);
    expect(byIndex['6']).to.match(/not a target/);
  });

  it('releases an unused reservation of a migration that succeeded more than the grace period ago', () => {
    const done = (ago: number) => {
      const m = migration('done', 'Succeeded');
      const at = new Date(NOW - ago).toISOString();
      return { ...m, status: { ...m.status, conditions: [{ type: 'Ready', status: 'True' as const, reason: 'Succeeded', message: '', lastTransitionTime: at }] } };
    };
    const d = device('w', 1, 'v', { reservedBy: 'done' });
    expect(staleReservations({ devices: [d], migration: () => done(10_000), now: NOW, orphanGraceMs: 60_000 })).to.deep.equal([]);
    const stale = staleReservations({ devices: [d], migration: () => done(61_000), now: NOW, orphanGraceMs: 60_000 });
    expect(stale.map((s) => s.reason)).to.deep.equal(['its migration succeeded and the device stayed unused']);
  });

  it('leaves a fresh reservation not yet named in status alone during the grace period', () => {
    const m = migration('new', 'Probing');
    const d = device('w', 1, 'v', { reservedBy: 'new' });
    const stale = staleReservations({ devices: [d], migration: () => m, now: Date.parse('2025-12-31T23:50:30Z'), orphanGraceMs: 60_000 });
    expect(stale).to.deep.equal([]);
  });
});
