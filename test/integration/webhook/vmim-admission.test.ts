// VMIM admission on the real kube-apiserver, which calls our webhook over HTTPS (url clientConfig
// to 127.0.0.1 with the caBundle from the operator's own TLS Secret). KubeVirt is the STAND-IN
// (CRDs and running VMIs without virt-controller); the fleet is a STAND-IN too (Nodes, agent Leases
// and MdevDevices written directly, probe answers from a simulated driver). The webhook only
// matches this test's namespace (a second guard besides deleting its configurations in after()).
import { expect } from 'chai';
import { CoreV1Api } from '@kubernetes/client-node';
import { MDEV_DEVICES, MDEV_MIGRATIONS, NODES } from '../../../src/controller/resources.ts';
import { ControllerCaches } from '../../../src/controller/caches.ts';
import { DecisionService } from '../../../src/controller/decision.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { unreadablePlacementField, VMI_RESOURCE, VMIM_RESOURCE } from '../../../src/kubevirt/types.ts';
import { mergePatch } from '../../../src/kube/apply.ts';
import { loggerFor } from '../../../src/observability/logger.ts';
import { metricValue } from '../../../src/observability/metrics.ts';
import { VerdictCache } from '../../../src/placement/index.ts';
import { createRunningVmi } from '../../../dev/sim/kubevirt/vmi-factory.ts';
import { startLocalAdmission, type LocalAdmission } from '../../../src/webhook/local-admission.ts';
import { ANNOTATION_MIGRATION } from '../../../src/api/v1alpha1/constants.ts';
import { testKubeConfig, uniqueName } from '../../support/cluster.ts';
import { createNodeWithAgent, deleteQuietly, gpuVmi, installCrds, publishDevice, REJECT_REASON, STANDIN_NODE_TOLERATIONS, standinProber, VERSION_535, VERSION_550 } from './fleet-fixture.ts';
import { listClaims } from '../controller/helpers.ts';
import { poll } from '../../support/poll.ts';
import { apiClient } from '../../support/api-client.ts';

interface VmimOut {
  metadata: { name: string; uid: string; annotations?: Record<string, string> };
  spec: { vmiName: string; addedNodeSelector?: Record<string, string> };
}

describe('VMIM admission webhook on the real kube-apiserver (KubeVirt and fleet stand-ins)', function () {
  this.timeout(120_000);
  const kc = testKubeConfig();
  const core = apiClient(kc, CoreV1Api);
  const ns = uniqueName('vmim-adm');
  const opNs = uniqueName('mdev-op');
  const id = ns.slice(-8);
  const [src, good, bad] = [`src-${id}`, `good-${id}`, `bad-${id}`];
  const devices: string[] = [];
  let goodDevice = '';
  let caches: ControllerCaches;
  let admission: LocalAdmission | undefined;

  const createVmim = async (name: string, vmiName: string, pin?: string): Promise<VmimOut> =>
    (await kubeRequest(kc, {
      method: 'POST',
      path: resourcePath(VMIM_RESOURCE, { namespace: ns }),
      body: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name }, spec: { vmiName, ...(pin ? { addedNodeSelector: { 'kubernetes.io/hostname': pin } } : {}) } },
    })) as VmimOut;

  const refusal = async (name: string, vmiName: string, pin?: string): Promise<string> => {
    try {
      await createVmim(name, vmiName, pin);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`VMIM ${name} was admitted`);
  };

  /** Capacity claims on this test's nodes, as `node:pool:migration`. */
  const reservations = async (): Promise<string[]> =>
    (await listClaims(kc)).filter((c) => [src, good, bad].includes(c.node)).map((c) => `${c.node}:${c.pool}:${c.migration.name}`);

  before(async () => {
    await installCrds(kc);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespace({ body: { metadata: { name: opNs } } });
    for (const n of [src, good, bad]) await createNodeWithAgent(kc, n, opNs);
    devices.push((await gpuVmi(kc, ns, 'gpu-vm', src)).device);
    devices.push((await gpuVmi(kc, ns, 'gpu-vm-2', src)).device);
    goodDevice = await publishDevice(kc, { node: good, version: VERSION_550 });
    devices.push(goodDevice);
    devices.push(await publishDevice(kc, { node: bad, version: VERSION_535 }));
    devices.push(await publishDevice(kc, { node: bad, version: VERSION_535, parent: '0000:42:00.4' }));
    await createRunningVmi(kc, { namespace: ns, name: 'plain-vm', nodeName: src });

    const log = loggerFor('test-admission');
    caches = new ControllerCaches({ kc, namespace: opNs, log });
    caches.start();
    await caches.waitForSync();
    const decision = new DecisionService({ view: () => caches.view(), cache: new VerdictCache(), prober: standinProber(new Set([bad])), probeTimeoutMs: 2_000, log });
    admission = await startLocalAdmission({
      kc,
      namespace: opNs,
      configName: uniqueName('mdev-vmim-test'),
      caches,
      decision,
      mode: 'enforce',
      extraNamespaceRequirements: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [ns] }],
    });
    await waitForWebhook();
  });

  after(async () => {
    // Configurations first, so the API server never calls a closed port for anyone else.
    await admission?.stop();
    await caches?.stop();
    for (const d of devices) await deleteQuietly(kc, resourcePath(MDEV_DEVICES, { name: d }));
    for (const n of [src, good, bad]) await deleteQuietly(kc, resourcePath(NODES, { name: n }));
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await core.deleteNamespace({ name: opNs }).catch(() => undefined);
  });

  /** The API server loads webhook configurations through an informer; a dry run shows when ours is active. */
  async function waitForWebhook(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const out = (await kubeRequest(kc, {
        method: 'POST',
        path: resourcePath(VMIM_RESOURCE, { namespace: ns }),
        query: { dryRun: 'All' },
        body: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name: 'probe-dry-run' }, spec: { vmiName: 'gpu-vm' } },
      })) as VmimOut;
      if (out.spec.addedNodeSelector) return;
      if (Date.now() > deadline) throw new Error('the API server never called the VMIM webhook');
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('a dry-run VMIM is pinned but reserves and records nothing', async () => {
    expect(await reservations()).to.deep.equal([]);
    const migrations = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns }) })) as { items: unknown[] };
    expect(migrations.items).to.have.length(0);
  });

  it('a VMIM for a vGPU VMI gets addedNodeSelector of the compatible node, an MdevMigration and a capacity claim', async () => {
    const vmim = await createVmim('move-gpu-vm', 'gpu-vm');
    expect(vmim.spec.addedNodeSelector).to.deep.equal({ 'kubernetes.io/hostname': good });
    expect(vmim.metadata.annotations?.[ANNOTATION_MIGRATION]).to.equal('vmim-move-gpu-vm');
    const mig = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns, name: 'vmim-move-gpu-vm' }) })) as {
      metadata: { uid: string; ownerReferences?: { kind: string; uid: string }[] };
      spec: { vmiName: string };
      status: { phase: string; targetNode: string; sourceNode: string; migrationName: string; candidates: { node: string; verdict: string; message: string }[] };
    };
    expect(mig.spec.vmiName).to.equal('gpu-vm');
    expect(mig.status).to.include({ phase: 'Migrating', targetNode: good, sourceNode: src, migrationName: 'move-gpu-vm' });
    expect(mig.status.candidates.find((c) => c.node === bad)).to.deep.include({ verdict: 'Incompatible' });
    const claims = (await listClaims(kc)).filter((c) => c.node === good);
    expect(claims.map((c) => [c.pool, c.units, c.migration.name, c.migration.uid])).to.deep.equal([['GRID_H100-4C', 1, 'vmim-move-gpu-vm', mig.metadata.uid]]);
    // The linker adds the owner reference once the VMIM exists.
    const owned = await eventually(async () => {
      const m = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns, name: 'vmim-move-gpu-vm' }) })) as typeof mig;
      return m.metadata.ownerReferences?.find((o) => o.kind === 'VirtualMachineInstanceMigration');
    });
    expect(owned.uid).to.equal(vmim.metadata.uid);
  });

  it('a VMIM that pins an incompatible node is denied with the driver\'s reason and leaves no claim', async () => {
    const before = await reservations();
    const message = await refusal('pin-bad', 'gpu-vm-2', bad);
    expect(message).to.include('denied the request');
    expect(message).to.include(`node ${bad} is not a verified-compatible target`);
    expect(message).to.include(REJECT_REASON);
    expect(await reservations()).to.deep.equal(before);
    const migrations = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns }) })) as { items: { metadata: { name: string } }[] };
    expect(migrations.items.map((m) => m.metadata.name)).to.deep.equal(['vmim-move-gpu-vm']);
  });

  it('a VMIM with no compatible target left is denied listing every node and why (totals included), leaving no claim', async () => {
    // The only compatible free device is claimed by the first VMIM.
    const before = await reservations();
    const message = await refusal('move-gpu-vm-2', 'gpu-vm-2');
    expect(message).to.include('no node is a verified-compatible target');
    expect(message).to.match(new RegExp(`${good}: NoCapacity`));
    expect(message).to.include(`${bad}: Incompatible (2 of 2 free nvidia-1012 devices incompatible; ${REJECT_REASON})`);
    expect(message).to.match(/\d+ nodes considered \(1 Incompatible, 1 NoCapacity/);
    expect(await reservations()).to.deep.equal(before);
  });

  it('a VMI holding mediated devices whose tolerations cannot be read is refused, naming the field, never admitted unpinned', async () => {
    const { device } = await gpuVmi(kc, ns, 'odd-vm', src);
    devices.push(device);
    // The KubeVirt stand-in CRD keeps any shape; a newer KubeVirt might send one we cannot read.
    await mergePatch(kc, VMI_RESOURCE, { namespace: ns, name: 'odd-vm' }, { spec: { tolerations: 'all' } });
    await eventually(async () => {
      const vmi = caches.vmis.get(`${ns}/odd-vm`);
      return vmi && unreadablePlacementField(vmi) && caches.devices.get(device)?.status?.consumer ? true : undefined;
    });
    const message = await refusal('move-odd', 'odd-vm');
    expect(message).to.include(`VMI ${ns}/odd-vm holds mediated devices (MdevDevice ${device})`);
    expect(message).to.match(/its spec\.tolerations \(.*\) could not be read/);
    // A pinned VMIM cannot be verified either.
    expect(await refusal('move-odd-pinned', 'odd-vm', good)).to.match(/spec\.tolerations/);
  });

  it('a VMIM for a VMI without mediated devices passes unchanged, through the mutating webhook only', async () => {
    const calls = (path: string) => metricValue('controller_runtime_webhook_requests_total', { webhook: path, code: '200' });
    const [mutated, validated] = [await calls('/mutate-vmim'), await calls('/validate-vmim')];
    const vmim = await createVmim('move-plain', 'plain-vm');
    expect(vmim.spec.addedNodeSelector).to.equal(undefined);
    expect(vmim.metadata.annotations).to.equal(undefined);
    expect(await calls('/mutate-vmim')).to.equal(mutated + 1);
    // matchConditions: nothing was decided or pinned, so the API server skips the validating webhook.
    expect(await calls('/validate-vmim')).to.equal(validated);
    const decided = await calls('/validate-vmim');
    await createVmim('move-plain-pinned', 'plain-vm', good);
    expect(await calls('/validate-vmim'), 'a pinned VMIM is re-checked').to.equal(decided + 1);
  });

  it('fail closed: a VMIM for a VMI that requests a vGPU type the cluster knows, but whose device no agent published, is refused with why and what to do', async () => {
    // The fixture's devices have type name "GRID H100-4C": the resource name nvidia.com/GRID_H100-4C.
    await createRunningVmi(kc, { namespace: ns, name: 'unpublished-vm', nodeName: src, gpus: [{ name: 'vgpu', deviceName: 'nvidia.com/GRID_H100-4C' }], tolerations: STANDIN_NODE_TOLERATIONS });
    await eventually(async () => (caches.vmis.get(`${ns}/unpublished-vm`) ? true : undefined));
    const before = await reservations();
    const message = await refusal('move-unpublished', 'unpublished-vm');
    expect(message).to.include(`VMI ${ns}/unpublished-vm requests mediated devices (gpus[0] vgpu (nvidia.com/GRID_H100-4C)), but no MdevDevice names it as consumer`);
    expect(message).to.include(`kubectl get mdevdevices -l mdev-operator.io/node=${src}`);
    expect(message).to.include('vmim.mutate.mdev-operator.io');
    expect(await reservations()).to.deep.equal(before);
    const records = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns }) })) as { items: { metadata: { name: string } }[] };
    expect(records.items.map((m) => m.metadata.name)).to.not.include('vmim-move-unpublished');
    // A device request the cluster has no mediated type for is not ours to gate.
    await createRunningVmi(kc, { namespace: ns, name: 'passthrough-vm', nodeName: src, gpus: [{ name: 'gpu', deviceName: 'nvidia.com/GH100_H100_PCIE' }], tolerations: STANDIN_NODE_TOLERATIONS });
    await eventually(async () => (caches.vmis.get(`${ns}/passthrough-vm`) ? true : undefined));
    expect((await createVmim('move-passthrough', 'passthrough-vm')).spec.addedNodeSelector).to.equal(undefined);
  });

  it('fail closed: a VMIM that claims an MdevMigration owner is refused unless it is exactly that migration\'s VMIM (exists, uid, VMI, attempt name, node)', async () => {
    const created = (await kubeRequest(kc, {
      method: 'POST',
      path: resourcePath(MDEV_MIGRATIONS, { namespace: ns }),
      body: { apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevMigration', metadata: { name: 'owner-m' }, spec: { vmiName: 'gpu-vm-2' } },
    })) as { metadata: { uid: string } };
    const owned = (name: string, ref: { name: string; uid: string }, pin?: string): Promise<VmimOut> =>
      kubeRequest(kc, {
        method: 'POST',
        path: resourcePath(VMIM_RESOURCE, { namespace: ns }),
        body: {
          apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration',
          metadata: { name, ownerReferences: [{ apiVersion: 'mdev-operator.io/v1alpha1', kind: 'MdevMigration', controller: true, ...ref }] },
          spec: { vmiName: 'gpu-vm-2', ...(pin ? { addedNodeSelector: { 'kubernetes.io/hostname': pin } } : {}) },
        },
      }) as Promise<VmimOut>;
    const refused = async (p: Promise<unknown>): Promise<string> => {
      try {
        await p;
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error('the VMIM was admitted');
    };
    expect(await refused(owned('forged-1', { name: 'no-such-migration', uid: created.metadata.uid }))).to.include('no such MdevMigration exists in this namespace');
    expect(await refused(owned('forged-2', { name: 'owner-m', uid: '00000000-0000-4000-8000-00000000dead' }))).to.include(`names uid 00000000-0000-4000-8000-00000000dead while that MdevMigration has uid ${created.metadata.uid}`);
    const early = await refused(owned('owner-m-1', { name: 'owner-m', uid: created.metadata.uid }, good));
    expect(early).to.include(`VMIM ${ns}/owner-m-1 claims MdevMigration ${ns}/owner-m as its owner, but that MdevMigration has claimed no target yet`);
    expect(early).to.include('Remove the ownerReference to have this VMIM verified like any other');
    // What the controller writes before it creates the VMIM of attempt 1 (the cache may lag it: the webhook asks the API server).
    await kubeRequest(kc, { method: 'PATCH', path: `${resourcePath(MDEV_MIGRATIONS, { namespace: ns, name: 'owner-m' })}/status`, contentType: 'application/merge-patch+json', body: { status: { phase: 'Planned', attempts: 1, targetNode: good } } });
    expect(await refused(owned('owner-m-1', { name: 'owner-m', uid: created.metadata.uid }, bad))).to.include(`its target is ${good} while this VMIM pins ${bad}`);
    expect(await refused(owned('owner-m-7', { name: 'owner-m', uid: created.metadata.uid }, good))).to.include('the VMIM of its attempt 1 is named owner-m-1, not owner-m-7');
    const genuine = await owned('owner-m-1', { name: 'owner-m', uid: created.metadata.uid }, good);
    expect(genuine.spec.addedNodeSelector).to.deep.equal({ 'kubernetes.io/hostname': good });
    expect(genuine.metadata.annotations?.[ANNOTATION_MIGRATION], 'admitted as the controller\'s own: no second decision, no record').to.equal(undefined);
  });

  it('failurePolicy Fail: while the webhook is down, VMIM creation is refused for every VMI, plain ones included', async () => {
    await admission!.closeServer();
    const message = await refusal('while-down', 'plain-vm');
    expect(message).to.include('failed calling webhook');
    expect(message).to.include('vmim.mutate.mdev-operator.io');
    // Other kinds in the same namespace are not gated.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'unaffected' } } });
  });
});

function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  return poll('the condition', fn, timeoutMs, 200);
}
