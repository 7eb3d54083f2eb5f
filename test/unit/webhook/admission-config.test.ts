// Webhook configurations, the decision adapter, the VMIM linker's patch and the read-only output
// renderers: pure functions, no server.
import { expect } from 'chai';
import type { MdevMigration } from '../../../src/api/v1alpha1/index.ts';
import type { DecisionResult } from '../../../src/controller/decision.ts';
import type { Vmim } from '../../../src/kubevirt/types.ts';
import { renderExplain } from '../../../src/cli/explain-command.ts';
import { renderDrainPlan } from '../../../src/cli/plan-drain-command.ts';
import { renderTable } from '../../../src/cli/output/table.ts';
import { mutatingWebhookConfiguration, validatingWebhookConfiguration } from '../../../src/webhook/admission-service.ts';
import { toAdmissionDecision } from '../../../src/webhook/decision-adapter.ts';
import { linkPatch } from '../../../src/webhook/migration-linker.ts';

const TOTALS = { Compatible: 1, Incompatible: 1, NoCapacity: 0, TypeMismatch: 0, AgentUnavailable: 0, Excluded: 0 };

describe('VMIM webhook configurations', () => {
  it('match only VMIM CREATE, fail closed, exempt kube-system and the operator namespace, and skip side effects on dry run', () => {
    const m = mutatingWebhookConfiguration({ client: { service: { namespace: 'mdev-operator-system', name: 'mdev-webhook' } }, operatorNamespace: 'mdev-operator-system', caBundlePem: 'PEM' }) as { webhooks: Record<string, unknown>[] };
    const w = m.webhooks[0]!;
    expect(w.rules).to.deep.equal([{ apiGroups: ['kubevirt.io'], apiVersions: ['v1'], operations: ['CREATE'], resources: ['virtualmachineinstancemigrations'], scope: 'Namespaced' }]);
    expect(w).to.include({ failurePolicy: 'Fail', sideEffects: 'NoneOnDryRun', timeoutSeconds: 10, reinvocationPolicy: 'Never' });
    expect(w.namespaceSelector).to.deep.equal({ matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'mdev-operator-system'] }] });
    expect(w.clientConfig).to.deep.equal({ service: { namespace: 'mdev-operator-system', name: 'mdev-webhook', path: '/mutate-vmim', port: 443 }, caBundle: Buffer.from('PEM').toString('base64') });
  });

  it('use a url on the local control plane and route validation to /validate-vmim', () => {
    const v = validatingWebhookConfiguration({ client: { url: 'https://127.0.0.1:9443/' }, operatorNamespace: 'op', failurePolicy: 'Ignore' }) as { webhooks: Record<string, unknown>[] };
    expect(v.webhooks[0]!.clientConfig).to.deep.equal({ url: 'https://127.0.0.1:9443/validate-vmim' });
    expect(v.webhooks[0]!.failurePolicy).to.equal('Ignore');
    expect(v.webhooks[0]).to.not.have.property('reinvocationPolicy');
  });
});

describe('decision adapter', () => {
  const result = (needsConfirmation: boolean): DecisionResult => ({
    chosen: { node: 'w7', score: { creates: 0, leftover: 0, consumed: 0 }, pairs: [{ source: 'w1.a', target: { kind: 'device', nodeName: 'w7', name: 'w7.b', typeId: 't', pool: 'GRID_T4-1Q', parentAddress: 'p', version: 'v' } }] },
    assignment: [],
    candidates: { explanations: [{ node: 'w7', verdict: 'Compatible', message: 'chosen' }, { node: 'w3', verdict: 'Incompatible', message: 'EINVAL' }], totals: TOTALS },
    probes: 2,
    exhaustiveProbes: 9,
    decisionMillis: 5,
    needsConfirmation,
    reason: '',
    sourceNode: 'w1',
  });

  it('maps a confirmed choice to the pool each source device moves into', () => {
    const d = toAdmissionDecision(result(false), true, 3000);
    expect(d.chosen).to.deep.equal({ node: 'w7', devices: [{ source: 'w1.a', pool: 'GRID_T4-1Q', typeId: 't' }] });
    expect(d.probes).to.equal(2);
  });

  it('never offers an unconfirmed choice to admission, but shows it (flagged) to read-only tools', () => {
    const admitted = toAdmissionDecision(result(true), true, 3000);
    expect(admitted.chosen).to.equal(undefined);
    expect(admitted.reason).to.include('did not confirm');
    const readOnly = toAdmissionDecision(result(true), false, 3000);
    expect(readOnly).to.deep.include({ unconfirmed: true, probes: 0 });
    expect(readOnly.chosen?.node).to.equal('w7');
  });
});

describe('migration linker', () => {
  const migration = (extra: Partial<MdevMigration['metadata']> = {}): MdevMigration => ({
    apiVersion: 'mdev-operator.io/v1alpha1',
    kind: 'MdevMigration',
    metadata: { name: 'vmim-m1', namespace: 'vms', uid: 'mig-uid', resourceVersion: '7', labels: { 'mdev-operator.io/origin': 'admission' }, ...extra },
    spec: { vmiName: 'vm-a', allowCreateTarget: false, dryRun: false, deadlineSeconds: 900 },
  });
  const vmim = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: 'm1', namespace: 'vms', uid: 'vmim-uid' }, spec: { vmiName: 'vm-a' } } as Vmim;

  it('adds the VMIM as controlling owner, with a resourceVersion precondition, and fills migrationName', () => {
    const patch = linkPatch(migration(), vmim)!;
    expect(patch.metadata.resourceVersion).to.equal('7');
    expect(patch.metadata.ownerReferences).to.deep.equal([{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', name: 'm1', uid: 'vmim-uid', controller: true, blockOwnerDeletion: false }]);
    expect(patch.status).to.deep.equal({ migrationName: 'm1' });
  });

  it('leaves records that are linked, owned by something else, not from admission, or for another VMI alone', () => {
    expect(linkPatch(migration({ ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', name: 'm1', uid: 'vmim-uid' }] }), vmim)).to.equal(undefined);
    expect(linkPatch(migration({ ownerReferences: [{ apiVersion: 'v1', kind: 'Other', name: 'x', uid: 'o' }] }), vmim)).to.equal(undefined);
    expect(linkPatch(migration({ labels: {} }), vmim)).to.equal(undefined);
    expect(linkPatch(migration(), { ...vmim, spec: { vmiName: 'vm-b' } })).to.equal(undefined);
  });
});

describe('read-only command output', () => {
  it('aligns table columns and clips long cells', () => {
    const out = renderTable(['NODE', 'VERDICT'], [['worker-1', 'Compatible'], ['w2', 'x'.repeat(20)]], { maxCellWidth: 10 });
    expect(out).to.equal('NODE      VERDICT\nworker-1  Compatible\nw2        xxxxxxxxx…\n');
  });

  it('explain prints the target, one row per node and totals; json is the same data', () => {
    const r = { vmi: 'vms/vm-a', sourceNode: 'w1', devices: ['w1.a'], target: 'w7', verifiedBy: 'cache' as const, reason: '', totals: TOTALS, probes: 0, nodes: [{ node: 'w7', verdict: 'Compatible', message: 'chosen' }, { node: 'w3', verdict: 'Incompatible', message: 'not verified: no verdict for 1 version class' }] };
    const text = renderExplain(r, 'table');
    expect(text).to.include('Target: w7 (verified by an earlier probe answer');
    expect(text).to.match(/^w3\s+Incompatible\s+not verified/m);
    expect(text).to.include('2 nodes: 1 Compatible, 1 Incompatible; probes sent: 0');
    expect(text).to.include('run with --probe');
    expect(JSON.parse(renderExplain(r, 'json'))).to.deep.equal(r);
  });

  it('plan-drain summarizes targets and blockers', () => {
    const plan = { node: 'w1', vmis: [{ vmi: 'vms/a', devices: ['d'], target: 'w7', targetPools: ['GRID_H100-4C'], verifiedBy: 'probe' as const, reason: '' }, { vmi: 'vms/b', devices: ['e'], target: null, targetPools: [], verifiedBy: null, reason: 'no target (1 Incompatible): w3: Incompatible (EINVAL)' }], summary: { withTarget: 1, blocked: 1 }, probes: 1 };
    const text = renderDrainPlan(plan, 'table');
    expect(text).to.match(/^vms\/b\s+1\s+BLOCKED\s+-\s+no target/m);
    expect(text).to.include('1 with a target, 1 blocked; probes sent: 1');
    expect(renderDrainPlan({ ...plan, vmis: [], summary: { withTarget: 0, blocked: 0 } }, 'table')).to.include('nothing to check');
  });
});
