import { expect } from 'chai';
import type { MdevNode } from '../../../src/api/v1alpha1/index.ts';
import type { CachedDevice, CachedMdevNode } from '../../../src/controller/cached-objects.ts';
import { activeClaims, CapacityClaims, freeInPool, staleClaims } from '../../../src/controller/claims.ts';
import type { Informer } from '../../../src/kube/informer.ts';
import { silentLogger } from '../kube/fakes.ts';
import { loopbackApi, type LoopbackApi } from '../kube/loopback-api.ts';
import { device, mdevNode, migration, NOW } from './fixtures.ts';

describe('capacity claims (pure parts: which claims bind, which are stale)', () => {
  it('counts the free devices of a pool on a node, any type or state, but not those in use', () => {
    const devices = [device('w1', 1, 'v', { typeName: 'GRID H100-4C' }), device('w1', 2, 'v', { typeName: 'GRID H100-4C', consumer: 'vm' }), device('w1', 3, 'v', { typeName: 'GRID L40-4C' }), device('w2', 4, 'v', { typeName: 'GRID H100-4C' })];
    expect(freeInPool(devices, 'w1', 'GRID_H100-4C')).to.equal(1);
    expect(freeInPool(devices, 'w2', 'GRID_H100-4C')).to.equal(1);
  });

  it('binds a claim until its expiry', () => {
    const n = mdevNode('w1', [['m1', 'p', 1, '2026-01-01T00:00:10Z'], ['m2', 'p', 2, '2025-12-31T23:59:59Z']]);
    expect(activeClaims(n, NOW).map((c) => c.migration.name)).to.deep.equal(['m1']);
  });

  it('releases the claims of migrations that are gone, failed, expired, done elsewhere or settled', () => {
    const nodes = [
      mdevNode('w1', [['gone', 'p', 1], ['failed', 'p', 1], ['old', 'p', 1, '2025-12-31T23:00:00Z'], ['moved', 'p', 1], ['settled', 'p', 1], ['waiting', 'p', 1], ['live', 'p', 1]]),
    ];
    const byName = new Map([
      ['vms/failed', migration('failed', 'Failed')],
      ['vms/old', migration('old', 'Migrating')],
      ['vms/moved', { ...migration('moved', 'Migrating'), status: { phase: 'Migrating' as const, targetNode: 'w9' } }],
      ['vms/settled', migration('settled', 'Succeeded', ['w1.dev'])],
      [
        'vms/waiting',
        { ...migration('waiting', 'Succeeded'), status: { phase: 'Succeeded' as const, devices: [{ source: 's', pool: 'p' }], conditions: [{ type: 'Ready', status: 'True' as const, reason: 'Succeeded', message: '', lastTransitionTime: new Date(NOW - 10_000).toISOString() }] } },
      ],
      ['vms/live', migration('live', 'Migrating')],
    ]);
    const stale = staleClaims({ mdevNodes: nodes, migration: (k) => byName.get(k), now: NOW, settleGraceMs: 60_000 });
    expect(Object.fromEntries(stale.map((s) => [s.ownerUid.replace('uid-', ''), s.reason]))).to.deep.equal({
      gone: 'MdevMigration vms/gone (uid uid-gone) is gone',
      failed: 'its migration failed',
      old: 'claim expired at 2025-12-31T23:00:00Z',
      moved: 'its migration now targets w9',
      settled: 'its migration succeeded and the VMI holds its devices',
    });
    // 10 s after success with its device not seen yet: kept; past the grace: released.
    const later = staleClaims({ mdevNodes: nodes, migration: (k) => byName.get(k), now: NOW + 61_000, settleGraceMs: 60_000 });
    expect(later.map((s) => s.ownerUid)).to.include('uid-waiting');
  });
});

describe('CapacityClaims while the MdevNode cache lags its own writes (loopback API server)', () => {
  let api: LoopbackApi;
  let stored: MdevNode;
  beforeEach(async () => {
    stored = mdevNode('w1');
    // The API server's side: a merge patch of status with a resourceVersion precondition, and GET.
    api = await loopbackApi((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.method === 'PATCH') {
          const patch = JSON.parse(body) as { metadata?: { resourceVersion?: string }; status: MdevNode['status'] };
          if (patch.metadata?.resourceVersion !== stored.metadata.resourceVersion) {
            res.statusCode = 409;
            return res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409, message: 'the object has been modified' }));
          }
          stored = { ...stored, metadata: { ...stored.metadata, resourceVersion: String(Number(stored.metadata.resourceVersion) + 1) }, status: patch.status };
        }
        res.end(JSON.stringify(stored));
      });
    });
  });
  afterEach(() => api.close());

  it('checks a claim and releases twice with one write each, not a conflicting write and a GET more', async () => {
    const lagging = mdevNode('w1'); // the informer has not seen any of our writes
    const claims = new CapacityClaims({
      kc: api.kc,
      mdevNodes: { get: () => lagging, list: () => [lagging] } as unknown as Informer<CachedMdevNode>,
      devices: { list: () => [device('w1', 1, 'v', { typeName: 'GRID H100-4C' })] } as unknown as Informer<CachedDevice>,
      log: silentLogger,
      now: () => NOW,
    });
    const owner = { namespace: 'vms', name: 'm1', uid: 'uid-m1' };
    const demands = [{ pool: 'GRID_H100-4C', typeId: 'nvidia-1012', units: 1 }];
    expect(await claims.claim(owner, 'w1', demands, NOW + 60_000)).to.deep.equal({ ok: true });
    expect(await claims.claim(owner, 'w1', demands, NOW + 60_000)).to.deep.equal({ ok: true });
    expect(claims.heldBy('uid-m1')).to.deep.equal([{ nodeName: 'w1', pool: 'GRID_H100-4C', units: 1 }]);
    expect(await claims.release('uid-m1', 'w1')).to.equal(true);
    expect(await claims.release('uid-m1', 'w1')).to.equal(true);
    expect(claims.heldBy('uid-m1')).to.deep.equal([]);
    expect(api.requests.map((r) => r.method)).to.deep.equal(['PATCH', 'PATCH']);
    expect(stored.status?.claims ?? []).to.deep.equal([]);
  });
});
