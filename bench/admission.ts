// Admission latency through the API server (issue #6): the VMIM create round trip with the webhook
// against the same round trip without it (a namespace the webhook does not match). The cases
// run interleaved, one of each per iteration in rotating order, and "added" is the distribution of
// the per-iteration differences (with − its paired baseline): drift of the shared machine hits both
// sides of a pair alike, instead of turning a difference of two separate medians into noise that can
// go negative. The raw distributions are returned too.
//  - mdev VMI, warm verdict cache: decide (confirmation from the stand-in prober), create the
//    MdevMigration, reserve, record, pin. Goal p99 <= 25 ms added (issue 16).
//  - plain VMI: one cache lookup. Goal p99 <= 5 ms added.
//  - floor: what the mdev case cannot go below, by the same client stack in the same run: one API
//    write (an MdevMigration created) and two sequential writes (created, then a status patch),
//    the writes an admission must make while the API server waits on it (docs/bench/admission-latency.md).
// Runs on a local control plane with crds/ installed; the fleet and the agents' probe answers are
// STAND-INS (test/integration/webhook/fleet-fixture.ts). Returns plain figures; the caller reports.
import type { KubeConfig } from '../src/kube/kubeconfig.ts';
import { CoreV1Api } from '@kubernetes/client-node';
import type { MdevMigrationStatus } from '../src/api/v1alpha1/index.ts';
import { ControllerCaches } from '../src/controller/caches.ts';
import { DecisionService } from '../src/controller/decision.ts';
import { MDEV_DEVICES, MDEV_MIGRATIONS, MDEV_NODES, NODES } from '../src/controller/resources.ts';
import { mergePatch } from '../src/kube/apply.ts';
import { kubeRequest } from '../src/kube/request.ts';
import { resourcePath } from '../src/kube/resource.ts';
import { installKubevirtStandins } from '../dev/standins/kubevirt-crds.ts';
import { VMIM_RESOURCE } from '../src/kubevirt/types.ts';
import { loggerFor } from '../src/observability/logger.ts';
import { VerdictCache } from '../src/placement/index.ts';
import { createRunningVmi } from '../dev/sim/kubevirt/vmi-factory.ts';
import { buildAdmissionMigration } from '../src/webhook/kube-recorder.ts';
import { startLocalAdmission } from '../src/webhook/local-admission.ts';
import { createNodeWithAgent, deleteQuietly, gpuVmi, publishDevice, standinProber, VERSION_550 } from '../test/integration/webhook/fleet-fixture.ts';
import { summarize, type Summary } from './stats.ts';
import { apiClient } from '../test/support/api-client.ts';

export interface AdmissionBenchOptions {
  kc: KubeConfig;
  /** Measured VMIM creations per case (default 100). */
  iterations?: number;
  warmup?: number;
}

export interface AdmissionBenchFigures {
  iterations: number;
  /** Floor: one API write round trip (an MdevMigration created by the same client stack), ms. */
  floorWriteMedianMs: number;
  floorWriteP99Ms: number;
  /** Floor: two sequential writes, the create and a status patch of the created record, ms. */
  floorTwoWritesMedianMs: number;
  floorTwoWritesP99Ms: number;
  /** Round trip without any webhook (baseline), ms. */
  baselineMedianMs: number;
  baselineP99Ms: number;
  /** Round trip for a VMI with a vGPU (warm cache) through the webhook, ms. */
  mdevMedianMs: number;
  mdevP99Ms: number;
  /** Round trip for a VMI without mediated devices through the webhook, ms. */
  plainMedianMs: number;
  plainP99Ms: number;
  /** Added by the webhook for a VMI with a vGPU: median and p99 of the paired differences, ms. */
  mdevAddedMedianMs: number;
  mdevAddedP99Ms: number;
  /** Added by the webhook for a VMI without mediated devices (paired differences), ms. */
  plainAddedMedianMs: number;
  plainAddedP99Ms: number;
}

const suffix = (): string => Math.random().toString(16).slice(2, 10);

export async function benchAdmission(o: AdmissionBenchOptions): Promise<AdmissionBenchFigures> {
  const { kc } = o;
  const iterations = o.iterations ?? 100;
  const warmup = o.warmup ?? 10;
  const core = apiClient(kc, CoreV1Api);
  const id = suffix();
  const [gated, open, opNs] = [`bench-adm-${id}`, `bench-open-${id}`, `bench-op-${id}`];
  const [src, dst] = [`bench-src-${id}`, `bench-dst-${id}`];
  const devices: string[] = [];
  await installKubevirtStandins(kc);
  for (const ns of [gated, open, opNs]) await core.createNamespace({ body: { metadata: { name: ns } } });
  for (const n of [src, dst]) await createNodeWithAgent(kc, n, opNs);
  devices.push((await gpuVmi(kc, gated, 'gpu-vm', src)).device);
  devices.push(await publishDevice(kc, { node: dst, version: VERSION_550 }));
  for (const ns of [gated, open]) await createRunningVmi(kc, { namespace: ns, name: 'plain-vm', nodeName: src });
  const log = loggerFor('bench-admission');
  const caches = new ControllerCaches({ kc, namespace: opNs, log });
  caches.start();
  await caches.waitForSync();
  const decision = new DecisionService({ view: () => caches.view(), viewRevision: () => caches.viewRevision(), cache: new VerdictCache(), prober: standinProber(new Set()), probeTimeoutMs: 2_000, log });
  const admission = await startLocalAdmission({ kc, namespace: opNs, configName: `mdev-vmim-bench-${id}`, caches, decision, mode: 'enforce', link: false, extraNamespaceRequirements: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [gated] }] });
  try {
    const create = async (ns: string, vmiName: string, name: string): Promise<{ spec: { addedNodeSelector?: unknown } }> =>
      (await kubeRequest(kc, { method: 'POST', path: resourcePath(VMIM_RESOURCE, { namespace: ns }), body: { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstanceMigration', metadata: { name }, spec: { vmiName } } })) as never;
    // Wait until the API server calls the webhook (its configuration informer lags the create).
    for (let i = 0; ; i++) {
      const out = await create(gated, 'gpu-vm', `warm-${i}`);
      await undoMdev(kc, gated, `warm-${i}`, dst);
      if (out.spec.addedNodeSelector) break;
      if (i > 200) throw new Error('the API server never called the VMIM webhook');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Warm cache means the informer has seen the undo too (as it would have between real drains).
    const settled = async (): Promise<void> => {
      while ((caches.mdevNodes.get(dst)?.status?.claims ?? []).length > 0) await new Promise((r) => setTimeout(r, 5));
    };
    const timedCreate = async (ns: string, vmi: string, name: string): Promise<number> => {
      const t0 = performance.now();
      await create(ns, vmi, name);
      return performance.now() - t0;
    };
    // The floor: the API writes an admission must make while the API server waits on it, by the
    // same client stack: an MdevMigration of the webhook's shape created, then its status patched
    // (the record's uid is known only after the create). Timed in the namespace the webhook skips.
    const floorCreate: number[] = [];
    const floorPatch: number[] = [];
    const floor = async (name: string): Promise<number> => {
      const record = buildAdmissionMigration({ namespace: open, name: `vmim-${name}`, vmiName: 'gpu-vm', vmimName: name });
      const t0 = performance.now();
      await kubeRequest(kc, { method: 'POST', path: resourcePath(MDEV_MIGRATIONS, { namespace: open }), body: record });
      const t1 = performance.now();
      await mergePatch(kc, MDEV_MIGRATIONS, { namespace: open, name: `vmim-${name}` }, { status: FLOOR_STATUS }, { subresource: 'status' });
      const t2 = performance.now();
      floorCreate.push(t1 - t0);
      floorPatch.push(t2 - t1);
      await deleteQuietly(kc, resourcePath(MDEV_MIGRATIONS, { namespace: open, name: `vmim-${name}` }));
      return t2 - t0;
    };
    // Only the creates are timed; the cleanup after the mdev case is not.
    const cases = {
      floor,
      baseline: (name: string) => timedCreate(open, 'plain-vm', name),
      plain: (name: string) => timedCreate(gated, 'plain-vm', name),
      mdev: async (name: string) => {
        const ms = await timedCreate(gated, 'gpu-vm', name);
        await undoMdev(kc, gated, name, dst);
        await settled();
        return ms;
      },
    };
    const order = Object.keys(cases) as (keyof typeof cases)[];
    const samples: Record<keyof typeof cases, number[]> = { floor: [], baseline: [], plain: [], mdev: [] };
    for (let i = 0; i < warmup + iterations; i++) {
      const one: Partial<Record<keyof typeof cases, number>> = {};
      for (let k = 0; k < order.length; k++) {
        const c = order[(i + k) % order.length] as keyof typeof cases;
        one[c] = await cases[c](`m-${i}-${c}-${suffix()}`);
      }
      if (i < warmup) {
        floorCreate.length = floorPatch.length = 0;
        continue;
      }
      for (const c of order) samples[c].push(one[c] as number);
    }
    const [oneWrite, twoWrites] = [summarize(floorCreate), summarize(samples.floor)];
    const paired = (c: 'plain' | 'mdev'): Summary => summarize(samples[c].map((ms, i) => ms - (samples.baseline[i] as number)));
    const [baseline, plain, mdev] = [summarize(samples.baseline), summarize(samples.plain), summarize(samples.mdev)];
    const [plainAdded, mdevAdded] = [paired('plain'), paired('mdev')];
    return {
      iterations,
      floorWriteMedianMs: round(oneWrite.median),
      floorWriteP99Ms: round(oneWrite.p99),
      floorTwoWritesMedianMs: round(twoWrites.median),
      floorTwoWritesP99Ms: round(twoWrites.p99),
      baselineMedianMs: round(baseline.median),
      baselineP99Ms: round(baseline.p99),
      mdevMedianMs: round(mdev.median),
      mdevP99Ms: round(mdev.p99),
      plainMedianMs: round(plain.median),
      plainP99Ms: round(plain.p99),
      mdevAddedMedianMs: round(mdevAdded.median),
      mdevAddedP99Ms: round(mdevAdded.p99),
      plainAddedMedianMs: round(plainAdded.median),
      plainAddedP99Ms: round(plainAdded.p99),
    };
  } finally {
    await admission.stop();
    await caches.stop();
    for (const d of devices) await deleteQuietly(kc, resourcePath(MDEV_DEVICES, { name: d }));
    for (const n of [src, dst]) await deleteQuietly(kc, resourcePath(NODES, { name: n }));
    for (const ns of [gated, open, opNs]) await core.deleteNamespace({ name: ns }).catch(() => undefined);
  }
}

/** Drops the target node's capacity claims and deletes the VMIM and its MdevMigration, so the next create decides the same way. */
async function undoMdev(kc: KubeConfig, ns: string, vmim: string, targetNode: string): Promise<void> {
  await deleteQuietly(kc, resourcePath(MDEV_MIGRATIONS, { namespace: ns, name: `vmim-${vmim}` }));
  await mergePatch(kc, MDEV_NODES, { name: targetNode }, { status: { claims: null } }, { subresource: 'status' });
  await deleteQuietly(kc, resourcePath(VMIM_RESOURCE, { namespace: ns, name: vmim }));
}

/** A decision status the size of the webhook's (one candidate), for the floor's status patch. */
const FLOOR_STATUS: MdevMigrationStatus = {
  phase: 'Migrating',
  sourceNode: 'bench-src',
  targetNode: 'bench-dst',
  devices: [{ source: 'bench-src-gpu-0', pool: 'nvidia-1012' }],
  candidates: [{ node: 'bench-dst', verdict: 'Compatible', message: 'accepted by probe' }],
  verdictTotals: { Compatible: 1 },
  probes: 1,
  decisionMillis: 1,
  attempts: 1,
  message: 'admitted VMIM floor to bench-dst',
};

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
