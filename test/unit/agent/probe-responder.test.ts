// The probe responder called directly, over a fake sysfs tree (stand-in for vendor drivers):
// hostile source strings the CRD would refuse, foreign and mistyped devices, spare capacity,
// duplicate creation, generation bumps and a flood of probes.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { AgentMetrics } from '../../../src/agent/agent-metrics.ts';
import { createMdev } from '../../../src/agent/device-creator.ts';
import type { ProbeInventory } from '../../../src/agent/probe-plan.ts';
import { ProbeResponder } from '../../../src/agent/probe-responder.ts';
import { deviceObjectName, versionHash, type MdevProbe, type MdevProbeSpec, type MdevProbeStatus } from '../../../src/api/v1alpha1/index.ts';
import { SysfsBackend } from '../../../src/compat/sysfs-backend.ts';
import { loggerFor } from '../../../src/observability/logger.ts';
import { discover } from '../../../src/sysfs/discovery.ts';
import { FakeSysfs } from '../../../dev/fakes/sysfs/fake-sysfs.ts';
import { FakeTree } from '../../../dev/fakes/sysfs/fake-tree.ts';

const NODE = 'worker-7';
const P = '0000:41:00.0';
const T = 'nvidia-1012';
const SOURCE = 'nv1;board=H100;type=nvidia-1012;host=550.54.15;vgpu=0x12';

describe('probe responder (fake sysfs stand-in for the vendor driver)', () => {
  let tree: FakeTree;
  let io: FakeSysfs;
  let ids: string[];
  let used: Set<string>;
  let written: Map<string, MdevProbeStatus>;

  const inventory = (): ProbeInventory => {
    const found = discover(tree.layout, { io });
    return {
      nodeName: NODE,
      devices: new Map(found.devices.map((d) => [deviceObjectName(NODE, d.id), { device: d, free: !used.has(d.id) }])),
      capacity: found.capacity,
    };
  };

  const responder = (opts: { concurrency?: number; write?: (name: string, s: MdevProbeStatus, signal: AbortSignal) => Promise<void>; inventory?: () => ProbeInventory; writeBackoff?: { initialMs: number }; writeAttemptMs?: number } = {}) =>
    new ProbeResponder({
      nodeName: NODE,
      backend: new SysfsBackend(io, 'simulated'),
      inventory: opts.inventory ?? inventory,
      writeStatus: opts.write ?? (async (name, s) => void written.set(name, s)),
      createDevice: async (req) => createMdev(io, req),
      rediscover: async () => undefined,
      metrics: new AgentMetrics(new Registry()),
      log: loggerFor('test'),
      concurrency: opts.concurrency,
      ...(opts.writeBackoff ? { writeBackoff: opts.writeBackoff } : {}),
      ...(opts.writeAttemptMs ? { writeAttemptMs: opts.writeAttemptMs } : {}),
    });

  const probe = (spec: Partial<MdevProbeSpec>, generation = 1, status?: MdevProbeStatus): MdevProbe => ({
    apiVersion: 'mdev-operator.io/v1alpha1',
    kind: 'MdevProbe',
    metadata: { name: `${NODE}.${randomUUID().slice(0, 8)}`, generation },
    spec: { nodeName: NODE, typeId: T, sourceVersion: SOURCE, ...spec },
    ...(status ? { status } : {}),
  });

  beforeEach(() => {
    tree = FakeTree.create('responder-');
    tree.addParent(P, { vendorId: '10de', driver: 'nvidia', policy: { name: 'nvidia-branch', board: 'H100', hostDriver: '550.54.15', vgpuVersion: 0x12, vgpuRange: [0x10, 0x13] } });
    tree.addType(P, T, { deviceApi: 'vfio-pci', availableInstances: 4 });
    tree.addType(P, 'nvidia-1013', { deviceApi: 'vfio-pci', availableInstances: 4 });
    ids = [randomUUID(), randomUUID()];
    for (const id of ids) tree.addMdev(id, P, T);
    tree.addMdev(randomUUID(), P, 'nvidia-1013');
    io = new FakeSysfs(tree);
    used = new Set();
    written = new Map();
  });

  afterEach(() => tree.dispose());

  for (const [what, source] of [
    ['a 5,000-byte string', 'x'.repeat(5000)],
    ['a NUL byte', 'nv1;board=H100\u0000;vgpu=0x12'],
    ['a newline', 'nv1;board=H100\n;vgpu=0x12'],
    ['non-ASCII', 'nv1;board=H100\u00e9'],
    ['an empty string', ''],
  ] as const) {
    it(`refuses a source with ${what} for every device, before any write`, async () => {
      const status = await responder().answer(probe({ sourceVersion: source }));
      expect(status.results).to.have.length(2);
      for (const r of status.results ?? []) {
        expect(r.accepted).to.equal(false);
        expect(r.reason).to.match(/^source version refused before any write: /);
      }
      expect(io.writes).to.deep.equal([]);
    });
  }

  it('refuses device names that are not this node\'s (../../../etc included) and devices of another type, without writing', async () => {
    const other = deviceObjectName(NODE, tree.mdevs().find((id) => !ids.includes(id)) as string);
    const status = await responder().answer(probe({ devices: ['../../../etc', 'worker-8.abc', other] }));
    expect(status.results).to.deep.equal([
      { device: '../../../etc', accepted: false, reason: `../../../etc is not a device of node ${NODE}` },
      { device: 'worker-8.abc', accepted: false, reason: `worker-8.abc is not a device of node ${NODE}` },
      { device: other, accepted: false, reason: `type mismatch: ${other} is of type nvidia-1013, the source is ${T}` },
    ]);
    expect(io.writes).to.deep.equal([]);
  });

  it('tests every device of the type when none is listed, with one write each and the errno of a rejection', async () => {
    const status = await responder().answer(probe({ sourceVersion: SOURCE.replace('host=550.54.15', 'host=535.1.1') }));
    expect(status.results?.map((r) => r.device).sort()).to.deep.equal(ids.map((id) => deviceObjectName(NODE, id)).sort());
    for (const r of status.results ?? []) {
      expect(r).to.deep.include({ accepted: false, errno: 'EINVAL' });
      expect(r.reason).to.match(/host driver branch differs/);
    }
    expect(io.writes).to.have.length(2);
    expect(status.observedGeneration).to.equal(1);
  });

  it('records the digest of each tested device\'s version, so the verdict stays tied to the version tested', async () => {
    const read = (): ProbeInventory => {
      const inv = inventory();
      return { ...inv, devices: new Map([...inv.devices].map(([name, d]) => [name, { ...d, version: `v-of-${d.device.id}` }])) };
    };
    const status = await responder({ inventory: read }).answer(probe({}));
    expect(status.results).to.have.length(2);
    for (const r of status.results ?? []) {
      const id = (r.device ?? '').slice(NODE.length + 1);
      expect(r.targetVersionHash).to.equal(versionHash(`v-of-${id}`));
    }
  });

  it('tests the type-level attribute when no device of the type is free and there is spare capacity', async () => {
    for (const id of ids) used.add(id);
    const status = await responder().answer(probe({}));
    expect(status.results?.find((r) => r.parent === P)).to.deep.include({ accepted: true });
    expect(status.results?.filter((r) => r.device !== undefined)).to.have.length(2);
  });

  it('creates the requested duplicate through the type\'s create attribute after the parent accepts', async () => {
    const uuid = randomUUID();
    const status = await responder().answer(probe({ devices: [], create: { parent: P, uuid } }));
    expect(status.results?.find((r) => r.parent === P)?.accepted).to.equal(true);
    expect(tree.hasMdev(uuid)).to.equal(true);
    expect(status.created).to.deep.include({ parent: P, uuid });
  });

  it('does not create when the parent rejects the source, and reports a failed creation on the parent', async () => {
    const uuid = randomUUID();
    const bad = await responder().answer(probe({ sourceVersion: SOURCE.replace('board=H100', 'board=A100'), create: { parent: P, uuid } }));
    expect(tree.hasMdev(uuid)).to.equal(false);
    expect(bad.created).to.equal(undefined);
    const withParams = await responder().answer(probe({ create: { parent: P, uuid, creationParams: [{ key: 'agg', value: '2' }] } }));
    expect(withParams.results?.find((r) => r.parent === P)?.reason).to.match(/creation parameters need an mdevctl definition/);
    expect(tree.hasMdev(uuid)).to.equal(false);
  });

  it('keeps earlier results after a generation bump and tests only the new devices', async () => {
    const [a, b] = ids.map((id) => deviceObjectName(NODE, id)) as [string, string];
    const first = await responder().answer(probe({ devices: [a] }));
    const writes = io.writes.length;
    const second = await responder().answer(probe({ devices: [a, b] }, 2, first));
    expect(second.observedGeneration).to.equal(2);
    expect(second.results?.map((r) => r.device)).to.deep.equal([a, b]);
    expect(io.writes.length - writes).to.equal(1);
  });

  it('skips a probe whose status already answers its generation', async () => {
    const r = responder();
    const answered = probe({}, 3, { observedGeneration: 3, results: [] });
    r.enqueue(answered);
    await r.idle();
    expect(written.size).to.equal(0);
  });

  it('answers a flood of 1,000 probes with at most `concurrency` in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const r = responder({
      concurrency: 4,
      write: async (name, s) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((res) => setImmediate(res));
        inFlight--;
        written.set(name, s);
      },
    });
    for (let i = 0; i < 1000; i++) r.enqueue(probe({ devices: [deviceObjectName(NODE, ids[0] as string)] }));
    expect(r.backlog()).to.equal(1000);
    await r.idle();
    expect(written.size).to.equal(1000);
    expect(peak).to.be.at.most(4);
  });

  it('keeps retrying a status write the API server refuses (an outage) and writes the answer once it answers, not three tries and never', async () => {
    let refusals = 5;
    const r = responder({
      write: async (name, st) => {
        if (refusals-- > 0) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
        written.set(name, st);
      },
      writeBackoff: { initialMs: 1 },
    });
    const p = probe({ devices: [] });
    r.enqueue(p);
    await r.idle();
    expect(refusals, 'all five refusals were retried').to.equal(-1);
    expect(written.get(p.metadata.name)?.results).to.have.length(2);
  });

  it('abandons a status write the API server holds (etcd down) once the attempt bound passes, and the next attempt writes the answer', async () => {
    let held = 2;
    let abandoned = 0;
    const r = responder({
      // Held until the client gives up, as the API server holds a write while etcd is down.
      write: (name, st, signal) => {
        if (held-- <= 0) return Promise.resolve(void written.set(name, st));
        return new Promise<void>((_, reject) => signal.addEventListener('abort', () => {
          abandoned++;
          reject(signal.reason as Error);
        }, { once: true }));
      },
      writeBackoff: { initialMs: 1 },
      writeAttemptMs: 20,
    });
    const p = probe({ devices: [] });
    r.enqueue(p);
    await r.idle();
    expect(abandoned, 'both held attempts were abandoned, not waited for').to.equal(2);
    expect(written.get(p.metadata.name)?.results).to.have.length(2);
  });

  it('keeps only the latest version of a probe queued under one name', async () => {
    const r = responder({ concurrency: 1, write: async (name, s) => void written.set(name, s) });
    const blocker = probe({});
    const p1 = probe({}, 1);
    const p2: MdevProbe = { ...p1, metadata: { ...p1.metadata, generation: 2 } };
    r.enqueue(blocker);
    r.enqueue(p1);
    r.enqueue(p2);
    expect(r.backlog()).to.equal(2);
    await r.idle();
    expect(written.get(p1.metadata.name)?.observedGeneration).to.equal(2);
  });
});
