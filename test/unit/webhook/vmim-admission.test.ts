// VMIM admission logic on plain fakes (no server): which VMIMs pass untouched, how a target is
// pinned, reserved and recorded, when and how a VMIM is denied, and that nothing is left behind.
import { expect } from 'chai';
import type { MdevMigrationStatus } from '../../../src/api/v1alpha1/index.ts';
import { parseVmi, type Vmi } from '../../../src/kubevirt/types.ts';
import winston from 'winston';
import type { NodeExplanation, Verdict } from '../../../src/placement/index.ts';
import { ReservationLostError, type AdmissionDecision, type AdmissionMode, type DecideRequest, type MigrationFacts, type MigrationRecord, type MigrationRef, type VmiFacts } from '../../../src/webhook/admission-ports.ts';
import { createVmimAdmission, migrationNameFor } from '../../../src/webhook/vmim-admission.ts';
import { ANNOTATION_MIGRATION } from '../../../src/api/v1alpha1/constants.ts';
import type { AdmissionRequest, AdmissionVerdict, JsonPatchOperation } from '../../../src/webhook/server.ts';

const NS = 'vms';
const quietLog = winston.createLogger({ silent: true });
const HOST = 'kubernetes.io/hostname';

function vmi(name: string, uid: string): Vmi {
  return { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: { name, namespace: NS, uid }, spec: {}, status: { phase: 'Running', nodeName: 'worker-1' } };
}

function totals(list: NodeExplanation[]): Record<Verdict, number> {
  const t: Record<Verdict, number> = { Compatible: 0, Incompatible: 0, NoCapacity: 0, TypeMismatch: 0, AgentUnavailable: 0, Excluded: 0 };
  for (const e of list) t[e.verdict]++;
  return t;
}

function chosenDecision(node: string, extra: NodeExplanation[] = []): AdmissionDecision {
  const explanations = [{ node, verdict: 'Compatible' as const, message: 'chosen: 1 device matched' }, ...extra];
  return { sourceNode: 'worker-1', chosen: { node, devices: [{ source: 'worker-1.gpu-a', pool: 'GRID_H100-4C', typeId: 'nvidia-1012' }] }, explanations, totals: totals(explanations), probes: 1, reason: '', decisionMillis: 4 };
}

function noTarget(explanations: NodeExplanation[]): AdmissionDecision {
  return { sourceNode: 'worker-1', explanations, totals: totals(explanations), probes: 2, reason: 'no node can take VMI vms/gpu-vm', decisionMillis: 7 };
}

class Fakes {
  decisions: AdmissionDecision[] = [];
  decideCalls: DecideRequest[] = [];
  reserved = new Map<string, string>(); // node/pool -> migration uid
  loseNext = 0;
  failRecordDecision = false;
  records = new Map<string, { record: MigrationRecord; uid: string; status?: MdevMigrationStatus }>();
  lookups = 0;
  /** MdevMigrations the owner check reads: as the cache shows them, and as the API server does. */
  cachedMigrations = new Map<string, MigrationFacts>();
  liveMigrations = new Map<string, MigrationFacts>();
  /** VMIs only the API server knows (the cache lags). */
  apiVmis = new Map<string, VmiFacts>();
  behind: string[] = [];
  #uid = 0;

  admission(mode: AdmissionMode = 'enforce') {
    return createVmimAdmission({
      mode,
      vmis: {
        lookup: (ns, name) => {
          this.lookups++;
          if (name === 'plain-vm') return { vmi: vmi(name, 'uid-plain'), deviceNames: [], mdevRequests: [] };
          if (name === 'gpu-vm') return { vmi: vmi(name, 'uid-gpu'), deviceNames: ['worker-1.gpu-a'], mdevRequests: [GPU_REQUEST] };
          if (name === 'unpublished-vm') return { vmi: vmi(name, 'uid-unpub'), deviceNames: [], mdevRequests: [GPU_REQUEST] };
          if (name === 'stuck-vm') {
            const v = vmi(name, 'uid-stuck');
            const conditions = [{ type: 'LiveMigratable', status: 'False', reason: 'HostDeviceNotLiveMigratable', message: 'VMI specifies too many GPUs' }];
            return { vmi: { ...v, status: { ...v.status, conditions } }, deviceNames: ['worker-1.gpu-d'], mdevRequests: [] };
          }
          if (name === 'odd-vm' || name === 'odd-plain-vm') {
            // A VMI as a newer KubeVirt might send it: a toleration list we cannot read.
            const decoded = parseVmi({ ...vmi(name, 'uid-odd'), spec: { tolerations: 'all' } }, quietLog);
            return { vmi: decoded as Vmi, deviceNames: name === 'odd-vm' ? ['worker-1.gpu-c'] : [], mdevRequests: [] };
          }
          return undefined;
        },
        fetch: async (_ns, name) => this.apiVmis.get(name),
        behind: () => this.behind,
      },
      // worker-9's kubernetes.io/hostname label differs from its name, as it may on real clusters.
      nodes: {
        hostnameOf: (node) => (node === 'worker-9' ? 'host-9.example' : node),
        nodeOf: (value) => (value === 'host-9.example' ? 'worker-9' : value),
      },
      decider: {
        decide: async (req) => {
          this.decideCalls.push(req);
          const next = this.decisions.shift();
          if (!next) throw new Error('unexpected decision');
          return next;
        },
      },
      reserver: {
        reserve: async (m: MigrationRef, node, devices) => {
          if (this.loseNext > 0) {
            this.loseNext--;
            throw new ReservationLostError(devices[0]!.pool, 'taken');
          }
          for (const d of devices) this.reserved.set(`${node}/${d.pool}`, m.uid);
        },
        release: async (m, node) => {
          for (const [k, uid] of this.reserved) if (k.startsWith(`${node}/`) && uid === m.uid) this.reserved.delete(k);
        },
      },
      recorder: {
        create: async (record) => {
          const uid = `mig-${++this.#uid}`;
          this.records.set(record.name, { record, uid });
          return { namespace: record.namespace, name: record.name, uid };
        },
        recordDecision: async (ref, status) => {
          if (this.failRecordDecision) throw new Error('API server unavailable');
          this.records.get(ref.name)!.status = status;
        },
        remove: async (ref) => {
          this.records.delete(ref.name);
        },
        migration: async (_ns, name, fresh) => (fresh ? this.liveMigrations : this.cachedMigrations).get(name),
        targetNodeOf: async (_ns, name) => {
          const r = this.records.get(name);
          return r ? { vmiName: r.record.vmiName, ...(r.status?.targetNode ? { targetNode: r.status.targetNode } : {}) } : undefined;
        },
      },
    });
  }
}

const GPU_REQUEST = 'gpus[0] gpu0 (nvidia.com/NVIDIA_H100-4C)';

function request(vmiName: string, opts: { name?: string; pin?: string; dryRun?: boolean; owner?: boolean | { name: string; uid?: string }; annotations?: Record<string, string> } = {}): AdmissionRequest {
  const owner = opts.owner === true ? { name: 'm', uid: 'u' } : opts.owner || undefined;
  const name = opts.name ?? 'mig-1';
  return {
    uid: 'req-uid-1',
    kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstanceMigration' },
    resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachineinstancemigrations' },
    operation: 'CREATE',
    namespace: NS,
    name,
    dryRun: opts.dryRun ?? false,
    object: {
      apiVersion: 'kubevirt.io/v1',
      kind: 'VirtualMachineInstanceMigration',
      metadata: {
        ...(name ? { name } : { generateName: 'kubevirt-evacuation-' }),
        namespace: NS,
        ...(opts.annotations ? { annotations: opts.annotations } : {}),
        ...(owner ? { ownerReferences: [{ apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevMigration', controller: true, ...owner }] } : {}),
      },
      spec: { vmiName, ...(opts.pin ? { addedNodeSelector: { [HOST]: opts.pin } } : {}) },
    },
  };
}

const ctx = { review: {} as never, signal: new AbortController().signal };

function patchOf(v: AdmissionVerdict): JsonPatchOperation[] {
  expect(v.allowed).to.equal(true);
  expect(v.patchType).to.equal('JSONPatch');
  return JSON.parse(Buffer.from(v.patch!, 'base64').toString('utf8')) as JsonPatchOperation[];
}

describe('VMIM admission (mutating)', () => {
  it('admits a VMIM of a VMI without mediated devices untouched, after one cache lookup and no decision', async () => {
    const f = new Fakes();
    const v = await f.admission().mutate(request('plain-vm'), ctx);
    expect(v).to.deep.equal({ allowed: true });
    expect(f.lookups).to.equal(1);
    expect(f.decideCalls).to.have.length(0);
  });

  it('admits a VMIM of an unknown VMI untouched (KubeVirt refuses it itself)', async () => {
    const f = new Fakes();
    expect(await f.admission().mutate(request('missing-vm'), ctx)).to.deep.equal({ allowed: true });
  });

  it('admits a VMIM owned by an MdevMigration (our controller created it) without deciding again', async () => {
    const f = new Fakes();
    f.cachedMigrations.set('m', { uid: 'u', vmiName: 'gpu-vm', attempts: 1, targetNode: 'worker-2', admission: false });
    expect(await f.admission().mutate(request('gpu-vm', { owner: true, name: 'm-1', pin: 'worker-2' }), ctx)).to.deep.equal({ allowed: true });
    expect(await f.admission().validate(request('gpu-vm', { owner: true, name: 'm-1', pin: 'worker-2' }), ctx)).to.deep.equal({ allowed: true });
    expect(f.decideCalls).to.have.length(0);
  });

  it('refuses, naming the field, a VMIM of a VMI that holds mediated devices but whose placement fields cannot be read', async () => {
    const f = new Fakes();
    const v = await f.admission().mutate(request('odd-vm'), ctx);
    expect(v.allowed).to.equal(false);
    expect(v.status?.message).to.match(/VMI vms\/odd-vm holds mediated devices \(MdevDevice worker-1\.gpu-c\), but its spec\.tolerations \(.*expected array.*\) could not be read/);
    expect(f.decideCalls).to.have.length(0);
    // The validating webhook refuses it too (a pinned VMIM cannot be verified either).
    const pinned = await f.admission().validate(request('odd-vm', { pin: 'worker-2' }), ctx);
    expect(pinned.allowed).to.equal(false);
    expect(pinned.status?.message).to.match(/spec\.tolerations/);
    // Without mediated devices there is nothing of ours to protect: admitted untouched.
    expect(await f.admission().mutate(request('odd-plain-vm'), ctx)).to.deep.equal({ allowed: true });
  });

  it('admits everything untouched in mode off, without even a lookup', async () => {
    const f = new Fakes();
    expect(await f.admission('off').mutate(request('gpu-vm'), ctx)).to.deep.equal({ allowed: true });
    expect(f.lookups).to.equal(0);
  });

  it('refuses a VMI KubeVirt reports not live-migratable with KubeVirt\'s reason, deciding and claiming nothing', async () => {
    const f = new Fakes();
    const v = await f.admission().mutate(request('stuck-vm'), ctx);
    expect(v.allowed).to.equal(false);
    expect(v.status?.message).to.include('LiveMigratable=False, reason HostDeviceNotLiveMigratable: VMI specifies too many GPUs');
    expect(f.decideCalls).to.have.length(0);
    expect(f.reserved.size).to.equal(0);
  });

  it('pins a node by its kubernetes.io/hostname value, which may differ from its name, and maps a pin back to the node', async () => {
    const f = new Fakes();
    f.decisions.push(chosenDecision('worker-9'));
    const v = await f.admission().mutate(request('gpu-vm'), ctx);
    expect(patchOf(v)[0]).to.deep.equal({ op: 'add', path: '/spec/addedNodeSelector', value: { [HOST]: 'host-9.example' } });
    expect(f.records.get('vmim-mig-1')!.status!.targetNode).to.equal('worker-9');
    // A VMIM pinned by the hostname value is verified against the node it names.
    const g = new Fakes();
    g.decisions.push(chosenDecision('worker-9'));
    const pinned = await g.admission().mutate(request('gpu-vm', { pin: 'host-9.example' }), ctx);
    expect(g.decideCalls[0]!.targetNodes).to.deep.equal(['worker-9']);
    expect(pinned.allowed).to.equal(true);
    expect(patchOf(pinned).some((op) => op.path.startsWith('/spec'))).to.equal(false);
    // The validating webhook accepts the pin its record names, by hostname value.
    expect(await g.admission().validate(request('gpu-vm', { pin: 'host-9.example', annotations: { [ANNOTATION_MIGRATION]: 'vmim-mig-1' } }), ctx)).to.deep.equal({ allowed: true });
  });

  it('pins the chosen node, links the VMIM to a recorded MdevMigration and claims the pool on it', async () => {
    const f = new Fakes();
    f.decisions.push(chosenDecision('worker-7'));
    const v = await f.admission().mutate(request('gpu-vm'), ctx);
    expect(patchOf(v)).to.deep.equal([
      { op: 'add', path: '/spec/addedNodeSelector', value: { [HOST]: 'worker-7' } },
      { op: 'add', path: '/metadata/annotations', value: { [ANNOTATION_MIGRATION]: 'vmim-mig-1' } },
    ]);
    expect(f.decideCalls[0]).to.include({ probe: true, budgetMs: 3000 });
    expect(f.decideCalls[0]!.targetNodes).to.equal(undefined);
    const rec = f.records.get('vmim-mig-1')!;
    expect(rec.record).to.deep.include({ namespace: NS, vmiName: 'gpu-vm', vmimName: 'mig-1' });
    expect(rec.status).to.deep.include({ phase: 'Migrating', sourceNode: 'worker-1', targetNode: 'worker-7', migrationName: 'mig-1', probes: 1 });
    expect(rec.status!.devices).to.deep.equal([{ source: 'worker-1.gpu-a', pool: 'GRID_H100-4C' }]);
    expect([...f.reserved]).to.deep.equal([['worker-7/GRID_H100-4C', rec.uid]]);
  });

  it('verifies a pinned node only, and denies with the node\'s reason when it is not compatible', async () => {
    const f = new Fakes();
    f.decisions.push(noTarget([{ node: 'worker-3', verdict: 'Incompatible', message: 'EINVAL: host driver branch 535 is older than the source 550' }]));
    const v = await f.admission().mutate(request('gpu-vm', { pin: 'worker-3' }), ctx);
    expect(v.allowed).to.equal(false);
    expect(v.status?.code).to.equal(403);
    expect(v.status?.message).to.include('node worker-3 is not a verified-compatible target');
    expect(v.status?.message).to.include('worker-3: Incompatible (EINVAL: host driver branch 535 is older than the source 550)');
    expect(f.decideCalls[0]!.targetNodes).to.deep.equal(['worker-3']);
    expect(f.reserved.size).to.equal(0);
    expect(f.records.size).to.equal(0);
  });

  it('records and reserves a compatible pinned node without changing the selector', async () => {
    const f = new Fakes();
    f.decisions.push(chosenDecision('worker-7'));
    const v = await f.admission().mutate(request('gpu-vm', { pin: 'worker-7', annotations: { team: 'a' } }), ctx);
    expect(patchOf(v)).to.deep.equal([{ op: 'add', path: `/metadata/annotations/mdev-operator.io~1migration`, value: 'vmim-mig-1' }]);
    expect(f.records.get('vmim-mig-1')!.record.targetNodes).to.deep.equal(['worker-7']);
  });

  it('denies when no node is compatible, listing a bounded number of nodes with their reasons and the totals', async () => {
    const f = new Fakes();
    const nodes: NodeExplanation[] = Array.from({ length: 30 }, (_, i) => ({ node: `worker-${String(i + 10)}`, verdict: i < 3 ? 'Incompatible' : 'NoCapacity', message: i < 3 ? 'EINVAL: board differs' : 'no free device of type nvidia-1012' }));
    f.decisions.push(noTarget(nodes));
    const v = await f.admission().mutate(request('gpu-vm'), ctx);
    const msg = v.status!.message;
    expect(v.allowed).to.equal(false);
    expect(msg).to.include('30 nodes considered (3 Incompatible, 27 NoCapacity)');
    expect(msg).to.include('worker-10: Incompatible (EINVAL: board differs)');
    expect(msg).to.include('+22 more');
    expect(msg).to.include('mdev-operator explain vms/gpu-vm');
    expect(msg.length).to.be.below(2000);
  });

  it('admits with a warning instead of denying in warn mode', async () => {
    const f = new Fakes();
    f.decisions.push(noTarget([{ node: 'worker-3', verdict: 'Incompatible', message: 'EINVAL' }]));
    const v = await f.admission('warn').mutate(request('gpu-vm'), ctx);
    expect(v.allowed).to.equal(true);
    expect(v.warnings?.[0]).to.include('worker-3: Incompatible').and.include('warn mode');
  });

  it('a dry-run request is pinned but reserves and records nothing', async () => {
    const f = new Fakes();
    f.decisions.push(chosenDecision('worker-7'));
    const v = await f.admission().mutate(request('gpu-vm', { dryRun: true }), ctx);
    expect(patchOf(v)).to.deep.equal([{ op: 'add', path: '/spec/addedNodeSelector', value: { [HOST]: 'worker-7' } }]);
    expect(f.reserved.size).to.equal(0);
    expect(f.records.size).to.equal(0);
  });

  it('decides again when a concurrent migration claims the last unit first, and uses the second target', async () => {
    const f = new Fakes();
    f.loseNext = 1;
    f.decisions.push(chosenDecision('worker-7'), chosenDecision('worker-8'));
    const v = await f.admission().mutate(request('gpu-vm'), ctx);
    expect(patchOf(v)[0]).to.deep.equal({ op: 'add', path: '/spec/addedNodeSelector', value: { [HOST]: 'worker-8' } });
    expect([...f.reserved.keys()]).to.deep.equal(['worker-8/GRID_H100-4C']);
    expect(f.records.get('vmim-mig-1')!.status!.targetNode).to.equal('worker-8');
  });

  it('denies after losing the race twice and leaves no record or reservation', async () => {
    const f = new Fakes();
    f.loseNext = 2;
    f.decisions.push(chosenDecision('worker-7'), chosenDecision('worker-7'));
    const v = await f.admission().mutate(request('gpu-vm'), ctx);
    expect(v.allowed).to.equal(false);
    expect(v.status!.message).to.include('concurrent migrations');
    expect(f.records.size).to.equal(0);
    expect(f.reserved.size).to.equal(0);
  });

  it('rolls back the reservation and the record when writing the decision fails, and surfaces the error', async () => {
    const f = new Fakes();
    f.failRecordDecision = true;
    f.decisions.push(chosenDecision('worker-7'));
    let error: unknown;
    await Promise.resolve(f.admission().mutate(request('gpu-vm'), ctx)).catch((err: unknown) => (error = err));
    expect((error as Error).message).to.equal('API server unavailable');
    expect(f.records.size).to.equal(0);
    expect(f.reserved.size).to.equal(0);
  });

  it('names the record deterministically, also for a generateName VMIM (from the request uid)', async () => {
    expect(migrationNameFor('mig-1', undefined, 'r1')).to.equal('vmim-mig-1');
    const generated = migrationNameFor('', 'kubevirt-evacuation-', 'r1');
    expect(generated).to.match(/^vmim-kubevirt-evacuation-[0-9a-f]{10}$/);
    expect(migrationNameFor('', 'kubevirt-evacuation-', 'r1')).to.equal(generated);
    expect(migrationNameFor('', 'kubevirt-evacuation-', 'r2')).to.not.equal(generated);
    expect(migrationNameFor('x'.repeat(252), undefined, 'r1').length).to.be.at.most(253);
  });
});

describe('VMIM admission (validating)', () => {
  it('denies an mdev VMIM that pins no node (the mutating webhook did not run)', async () => {
    const f = new Fakes();
    const v = await f.admission().validate(request('gpu-vm'), ctx);
    expect(v.allowed).to.equal(false);
    expect(v.status!.message).to.include('pins no verified target node');
  });

  it('admits a VMIM pinned by the mutating webhook without deciding again', async () => {
    const f = new Fakes();
    f.decisions.push(chosenDecision('worker-7'));
    await f.admission().mutate(request('gpu-vm'), ctx);
    const v = await f.admission().validate(request('gpu-vm', { pin: 'worker-7', annotations: { [ANNOTATION_MIGRATION]: 'vmim-mig-1' } }), ctx);
    expect(v).to.deep.equal({ allowed: true });
    expect(f.decideCalls).to.have.length(1);
  });

  it('verifies a node pinned after mutation (annotation pointing elsewhere) and denies it when incompatible', async () => {
    const f = new Fakes();
    f.decisions.push(noTarget([{ node: 'worker-3', verdict: 'Excluded', message: 'cordoned' }]));
    const v = await f.admission().validate(request('gpu-vm', { pin: 'worker-3', annotations: { [ANNOTATION_MIGRATION]: 'forged' } }), ctx);
    expect(v.allowed).to.equal(false);
    expect(v.status!.message).to.include('worker-3: Excluded (cordoned)');
  });

  it('admits plain VMIs untouched', async () => {
    const f = new Fakes();
    expect(await f.admission().validate(request('plain-vm'), ctx)).to.deep.equal({ allowed: true });
  });
});

describe('VMIM admission fails closed (issue 18)', () => {
  it('refuses a VMIM of a VMI that requests a known mediated device type whose devices no agent published, saying why and what to do', async () => {
    const f = new Fakes();
    for (const handler of ['mutate', 'validate'] as const) {
      const v = await f.admission()[handler](request('unpublished-vm', { pin: 'worker-2' }), ctx);
      expect(v.allowed, handler).to.equal(false);
      expect(v.status!.message).to.include('VMI vms/unpublished-vm requests mediated devices (gpus[0] gpu0 (nvidia.com/NVIDIA_H100-4C))');
      expect(v.status!.message).to.include('no MdevDevice names it as consumer');
      expect(v.status!.message).to.include('kubectl get mdevdevices -l mdev-operator.io/node=worker-1');
      expect(v.status!.message).to.match(/then retry$/);
    }
    expect(f.decideCalls).to.have.length(0);
    expect(f.records.size).to.equal(0);
    const warned = await f.admission('warn').mutate(request('unpublished-vm'), ctx);
    expect(warned.allowed, 'warn mode admits, with the reason as a warning').to.equal(true);
    expect(warned.warnings?.[0]).to.include('no MdevDevice names it as consumer');
  });

  it('asks the API server about a VMI the cache does not hold: refused when it requests an unpublished mediated device, admitted when plain or absent', async () => {
    const f = new Fakes();
    f.apiVmis.set('just-started', { vmi: vmi('just-started', 'uid-new'), deviceNames: [], mdevRequests: [GPU_REQUEST] });
    f.apiVmis.set('just-started-plain', { vmi: vmi('just-started-plain', 'uid-new2'), deviceNames: [], mdevRequests: [] });
    expect((await f.admission().mutate(request('just-started'), ctx)).allowed).to.equal(false);
    expect(await f.admission().mutate(request('just-started-plain'), ctx)).to.deep.equal({ allowed: true });
    expect(await f.admission().mutate(request('nowhere'), ctx)).to.deep.equal({ allowed: true });
  });

  it('refuses every VMIM while the caches may be behind the API server, naming them', async () => {
    const f = new Fakes();
    f.behind = ['controller-mdevdevices', 'apiserver'];
    const v = await f.admission().mutate(request('plain-vm'), ctx);
    expect(v.allowed).to.equal(false);
    expect(v.status!.message).to.equal("mdev-operator: this webhook replica's caches are catching up with the API server (controller-mdevdevices, apiserver), so it cannot judge this VMIM now; retry in a few seconds");
  });

  describe('an MdevMigration owner reference is checked against the real MdevMigration', () => {
    const genuine = (): MigrationFacts => ({ uid: 'u', vmiName: 'gpu-vm', attempts: 2, targetNode: 'worker-2', admission: false });
    const cases: Array<[string, Partial<MigrationFacts> | 'absent', { name?: string; pin?: string; uid?: string }, RegExp]> = [
      ['it does not exist', 'absent', {}, /no such MdevMigration exists/],
      ['the uid differs (forged)', {}, { uid: 'forged' }, /names uid forged while that MdevMigration has uid u/],
      ['the uid is missing', {}, { uid: undefined }, /names uid \(none\)/],
      ['it is an admission record', { admission: true }, {}, /records an admitted VMIM/],
      ['it moves another VMI', { vmiName: 'other-vm' }, {}, /moves VMI other-vm, not gpu-vm/],
      ['the VMIM is not the one of its attempt', {}, { name: 'm-1' }, /attempt 2 is named m-2, not m-1/],
      ['it pins another node', {}, { pin: 'worker-9' }, /target is worker-2 while this VMIM pins worker-9/],
      ['it reserved nothing yet', { attempts: 0 }, {}, /claimed no target yet/],
    ];
    for (const [what, facts, vmimOver, message] of cases) {
      it(`refuses the VMIM when ${what}`, async () => {
        const f = new Fakes();
        if (facts !== 'absent') f.liveMigrations.set('m', { ...genuine(), ...facts });
        const owner = { name: 'm', ...('uid' in vmimOver ? (vmimOver.uid === undefined ? {} : { uid: vmimOver.uid }) : { uid: 'u' }) };
        const v = await f.admission().mutate(request('gpu-vm', { owner, name: vmimOver.name ?? 'm-2', pin: vmimOver.pin ?? 'worker-2' }), ctx);
        expect(v.allowed).to.equal(false);
        expect(v.status!.message).to.match(/^mdev-operator: VMIM vms\/m-\d claims MdevMigration vms\/m as its owner, but /);
        expect(v.status!.message).to.match(message);
        expect(v.status!.message).to.include('Remove the ownerReference to have this VMIM verified');
        expect(f.decideCalls).to.have.length(0);
      });
    }

    it('admits the controller\'s VMIM when only the API server has its latest status (the cache lags the Planned write)', async () => {
      const f = new Fakes();
      f.cachedMigrations.set('m', { ...genuine(), attempts: 1, targetNode: 'worker-5' });
      f.liveMigrations.set('m', genuine());
      expect(await f.admission().mutate(request('gpu-vm', { owner: true, name: 'm-2', pin: 'worker-2' }), ctx)).to.deep.equal({ allowed: true });
    });
  });
});
