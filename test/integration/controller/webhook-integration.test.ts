// The controller process with its admission webhook on the REAL local kube-apiserver: two manager
// replicas (leader election on a Lease), each serving the webhook over HTTPS (url configurations to
// 127.0.0.1, narrowed to this test's namespace), against STAND-IN nodes (the fleet simulator running
// the real agent) and the KubeVirt STAND-IN simulator. Its device-plugin stand-in allocates the
// devices the operator reserved (named by the VMIM's MdevMigration, owner or annotation).
import https from 'node:https';
import { expect } from 'chai';
import type { MdevMigration } from '../../../src/api/v1alpha1/index.ts';
import type { EventSink } from '../../../src/controller/events.ts';
import { startManager, type ManagerHandle } from '../../../src/controller/manager.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { getVmi, listVmims } from '../../../src/kubevirt/client.ts';
import { installKubevirtStandins } from '../../../dev/standins/kubevirt-crds.ts';
import { isVmimFinal, VMIM_RESOURCE, type Vmim } from '../../../src/kubevirt/types.ts';
import { startFleet, type FleetHandle } from '../../../dev/sim/fleet/fleet.ts';
import type { FleetNodeSpec, GpuSpec } from '../../../dev/sim/fleet/profile.ts';
import { ANNOTATION_FAIL_AT } from '../../../dev/sim/kubevirt/launcher-pod.ts';
import { deleteWebhookConfigurations } from '../../../src/webhook/admission-service.ts';
import { admissionWebhookStarter } from '../../../src/webhook/admission-webhook.ts';
import { ANNOTATION_MIGRATION } from '../../../src/api/v1alpha1/constants.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { claimsOf, createMigration, createNamespace, deleteNamespace, getMigration, installCrds, vmimsOf, waitFor, waitForPhase } from './helpers.ts';

const H100 = (hostDriver: string, devices: number): GpuSpec => ({
  vendor: 'nvidia',
  board: 'H100-PCIE-80GB',
  hostDriver,
  vgpuVersion: 0x12,
  vgpuRange: [0x10, 0x13],
  typeId: 'nvidia-1012',
  devices,
  spare: 0,
});

function node(name: string, gpus: GpuSpec[]): FleetNodeSpec {
  return { name, labels: {}, taints: [], unschedulable: false, agent: true, gpus };
}

/** Events per replica: what each one's reconciler did. */
function eventLog(): EventSink & { reasons: (migration?: string) => string[] } {
  const seen: { name: string; reason: string }[] = [];
  return {
    record: (m: MdevMigration, _t, reason) => void seen.push({ name: m.metadata.name, reason }),
    reasons: (migration) => seen.filter((e) => migration === undefined || e.name === migration).map((e) => e.reason),
  };
}

/** Device-plugin STAND-IN: the target devices recorded by the VMIM's MdevMigration (owner reference or annotation). */
describe('controller + admission webhook: two replicas on the real kube-apiserver (fleet and KubeVirt stand-ins)', function () {
  this.timeout(180_000);
  const kc = testKubeConfig();
  const opNs = uniqueName('mdevop-wh');
  const ns = uniqueName('wh-vms');
  const p = uniqueName('wh');
  const [src, good, bad] = [`${p}-1`, `${p}-2`, `${p}-3`];
  const configName = uniqueName('mdev-vmim-ctl');
  let fleet: FleetHandle | undefined;
  const replicas: { manager: ManagerHandle; events: ReturnType<typeof eventLog> }[] = [];
  let caPem = '';

  const startReplica = async (identity: string): Promise<{ manager: ManagerHandle; events: ReturnType<typeof eventLog> }> => {
    const events = eventLog();
    const manager = await startManager({
      kc,
      namespace: opNs,
      leaderElect: true,
      identity,
      probeTimeoutMs: 5_000,
      sweepIntervalMs: 1_000,
      watchTimeoutSeconds: 30,
      admissionGraceMs: 3_000,
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 300,
      healthPort: 0,
      events,
      webhook: {
        port: 0,
        start: admissionWebhookStarter({
          mode: 'enforce',
          configName,
          secretName: `${configName}-tls`,
          serviceName: 'mdev-operator-webhook',
          urlHost: '127.0.0.1',
          extraNamespaceRequirements: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [ns] }],
        }),
      },
    });
    const r = { manager, events };
    replicas.push(r);
    return r;
  };

  const createVmim = async (name: string, vmiName: string, extra: { annotations?: Record<string, string>; labels?: Record<string, string> } = {}): Promise<Vmim> =>
    (await kubeRequest(kc, {
      method: 'POST',
      path: resourcePath(VMIM_RESOURCE, { namespace: ns }),
      body: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name, ...extra }, spec: { vmiName } },
    })) as Vmim;

  const vmimsFor = async (vmiName: string): Promise<Vmim[]> => (await listVmims(kc, { namespace: ns })).filter((v) => v.spec.vmiName === vmiName);

  /** One AdmissionReview straight to a replica's HTTPS server (as the API server would send it). */
  const review = (port: number, vmiName: string): Promise<{ allowed: boolean; patch?: unknown[] }> => {
    const body = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: `direct-${port}-${vmiName}`,
        kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachineInstanceMigration' },
        resource: { group: 'kubevirt.io', version: 'v1', resource: 'virtualmachineinstancemigrations' },
        operation: 'CREATE',
        namespace: ns,
        name: `direct-${port}`,
        dryRun: true,
        object: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: `direct-${port}`, namespace: ns }, spec: { vmiName } },
      },
    });
    return new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path: '/mutate-vmim', method: 'POST', ca: caPem, headers: { 'Content-Type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`replica on port ${port} answered ${res.statusCode}: ${text}`));
          const r = (JSON.parse(text) as { response: { allowed: boolean; patch?: string } }).response;
          resolve({ allowed: r.allowed, ...(r.patch ? { patch: JSON.parse(Buffer.from(r.patch, 'base64').toString('utf8')) as unknown[] } : {}) });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  };

  before(async () => {
    await installCrds();
    await installKubevirtStandins(kc);
    await createNamespace(kc, opNs);
    await createNamespace(kc, ns);
    fleet = await startFleet({
      kc,
      namespace: opNs,
      specs: [node(src, [H100('550.54.15', 6)]), node(good, [H100('550.90.07', 4)]), node(bad, [H100('535.161.08', 2)])],
      // KubeVirt stand-in with its device-plugin stand-in: any free device of the resource.
      kubevirt: { namespace: ns, stepDelayMs: 250 },
      resyncIntervalMs: 2_000,
    });
    for (const vm of ['vm-a', 'vm-b', 'vm-c', 'vm-d', 'vm-e']) await fleet.startVm({ namespace: ns, name: vm, node: src });
    // Replica A first, so it leads; B registers its URL in the configurations last.
    const a = await startReplica('replica-a');
    await a.manager.waitUntilRunning();
    const b = await startReplica('replica-b');
    await b.manager.waitUntilReady();
    const secret = (await kubeRequest(kc, { method: 'GET', path: `/api/v1/namespaces/${opNs}/secrets/${configName}-tls` })) as { data: Record<string, string> };
    caPem = Buffer.from(secret.data['ca.crt'] ?? '', 'base64').toString('utf8');
    // The API server loads webhook configurations through an informer: wait until a dry run is pinned.
    await waitFor('the API server to call the webhook', async () => {
      const out = (await kubeRequest(kc, {
        method: 'POST',
        path: resourcePath(VMIM_RESOURCE, { namespace: ns }),
        query: { dryRun: 'All' },
        body: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: 'dry-run' }, spec: { vmiName: 'vm-a' } },
      })) as Vmim;
      return out.spec.addedNodeSelector ? true : undefined;
    });
  });

  after(async () => {
    for (const r of replicas) await r.manager.stop().catch(() => undefined);
    await deleteWebhookConfigurations(kc, configName);
    await fleet?.stop({ deleteNodes: true });
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, opNs);
  });

  it('both replicas answer admission; only the leader runs the reconciler', async () => {
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    expect([a.manager.isLeader(), b.manager.isLeader()]).to.deep.equal([true, false]);
    expect(b.manager.services()).to.equal(undefined);
    expect(b.manager.webhookPort).to.be.above(0).and.not.equal(a.manager.webhookPort);
    for (const r of [a, b]) {
      const mdev = await review(r.manager.webhookPort, 'vm-a');
      expect(mdev.allowed).to.equal(true);
      expect(mdev.patch).to.deep.include({ op: 'add', path: '/spec/addedNodeSelector', value: { 'kubernetes.io/hostname': good } });
      expect(await review(r.manager.webhookPort, 'no-such-vmi')).to.deep.equal({ allowed: true });
    }
    const readyz = await fetch(`http://127.0.0.1:${b.manager.healthPort}/readyz?verbose`);
    const text = await readyz.text();
    expect(readyz.status, text).to.equal(200);
    expect(text).to.include('webhook TLS loaded').and.to.include('caches synced');
  });

  it('a drain-style VMIM is steered to the compatible node and its record ends Succeeded, with one VMIM and no claim left', async () => {
    const vmim = await createVmim('drain-a', 'vm-a');
    expect(vmim.spec.addedNodeSelector).to.deep.equal({ 'kubernetes.io/hostname': good });
    expect(vmim.metadata.annotations?.[ANNOTATION_MIGRATION]).to.equal('vmim-drain-a');
    const m = await waitForPhase(kc, ns, 'vmim-drain-a', ['Succeeded', 'Failed']);
    expect(m.status?.phase, m.status?.message).to.equal('Succeeded');
    expect(m.status?.targetNode).to.equal(good);
    expect((await getVmi(kc, ns, 'vm-a'))?.status?.nodeName).to.equal(good);
    expect((await vmimsFor('vm-a')).map((v) => v.metadata.name)).to.deep.equal(['drain-a']);
    await waitFor('the claim to be released once the target device shows vm-a', async () => ((await claimsOf(kc, ns, 'vmim-drain-a')).length === 0 ? true : undefined));
    const settled = await getMigration(kc, ns, 'vmim-drain-a');
    expect(settled?.status?.devices?.[0]?.target, 'the device the VMI got is recorded').to.be.a('string');
    expect(replicas[0]?.events.reasons('vmim-drain-a')).to.include('Succeeded');
  });

  it('a VMIM that KubeVirt fails ends its record Failed, releases the claim and is not retried', async () => {
    await createVmim('drain-b', 'vm-b', { annotations: { [ANNOTATION_FAIL_AT]: 'Scheduled' } });
    const m = await waitForPhase(kc, ns, 'vmim-drain-b', ['Succeeded', 'Failed']);
    expect(m.status?.phase).to.equal('Failed');
    expect(m.status?.conditions?.find((c) => c.type === 'Ready')?.reason).to.equal('MigrationFailed');
    expect(m.status?.message).to.match(/injected failure at phase Scheduled/);
    await waitFor('the claim of the failed migration to be released', async () => ((await claimsOf(kc, ns, 'vmim-drain-b')).length === 0 ? true : undefined));
    expect((await vmimsFor('vm-b')).map((v) => [v.metadata.name, v.status?.phase])).to.deep.equal([['drain-b', 'Failed']]);
    expect((await getVmi(kc, ns, 'vm-b'))?.status?.nodeName).to.equal(src);
  });

  it('a VMIM refused after the webhook admitted it leaves a record that fails after the grace period, releasing its claim', async () => {
    // An invalid label passes the mutating webhook, then object validation refuses the VMIM.
    const err = await createVmim('drain-c', 'vm-c', { labels: { broken: 'not a valid label value!' } }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).to.match(/Invalid value|invalid/i);
    expect(await claimsOf(kc, ns, 'vmim-drain-c')).to.have.length(1);
    const m = await waitForPhase(kc, ns, 'vmim-drain-c', ['Succeeded', 'Failed']);
    expect(m.status?.phase).to.equal('Failed');
    expect(m.status?.conditions?.find((c) => c.type === 'Ready')?.reason).to.equal('VMIMNotCreated');
    await waitFor('the claim of the never-created VMIM to be released', async () => ((await claimsOf(kc, ns, 'vmim-drain-c')).length === 0 ? true : undefined));
    expect(await vmimsFor('vm-c')).to.have.length(0);
  });

  it('the follower reconciled nothing while it did not lead', () => {
    expect(replicas[1]?.events.reasons()).to.deep.equal([]);
    expect(replicas[0]?.events.reasons().length).to.be.above(0);
  });

  it('after the leader is killed mid-migration the follower takes over and finishes both kinds of migration without a second VMIM', async () => {
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    await createMigration(kc, ns, 'move-d', { vmiName: 'vm-d', targetNodes: [good, bad] });
    const running = await waitForPhase(kc, ns, 'move-d', ['Migrating', 'Succeeded', 'Failed']);
    expect(running.status?.phase).to.equal('Migrating');
    await createVmim('drain-e', 'vm-e');
    const inFlight = await vmimsOf(kc, ns, running);
    expect(inFlight.map(isVmimFinal)).to.deep.equal([false]);
    await a.manager.kill();
    // A's shutdown left B's URL registration alone: admission still works while B takes over.
    const dry = (await kubeRequest(kc, {
      method: 'POST',
      path: resourcePath(VMIM_RESOURCE, { namespace: ns }),
      query: { dryRun: 'All' },
      body: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: 'after-kill' }, spec: { vmiName: 'vm-b' } },
    })) as Vmim;
    expect(dry.spec.addedNodeSelector).to.deep.equal({ 'kubernetes.io/hostname': good });
    await waitFor('replica-b to lead', async () => (b.manager.running() ? true : undefined));
    for (const [name, vmi] of [['move-d', 'vm-d'], ['vmim-drain-e', 'vm-e']] as const) {
      const m = await waitForPhase(kc, ns, name, ['Succeeded', 'Failed']);
      expect(m.status?.phase, `${name}: ${m.status?.message}`).to.equal('Succeeded');
      expect(m.status?.targetNode).to.equal(good);
      expect(await vmimsFor(vmi), vmi).to.have.length(1);
      expect((await getVmi(kc, ns, vmi))?.status?.nodeName).to.equal(good);
    }
    expect((await getMigration(kc, ns, 'move-d'))?.status?.attempts).to.equal(1);
    expect(b.events.reasons()).to.include('Succeeded');
  });
});
