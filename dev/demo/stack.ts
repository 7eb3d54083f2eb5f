// The in-process parts of the demo on a running API server: the operator's CRDs and the KubeVirt
// stand-ins, the namespaces, the controller manager (leader-elected) with its VMIM webhook served
// on 127.0.0.1, and the simulated fleet (real agent code, kubelet and KubeVirt stand-ins). They all
// live in the demo's process: `stop()` ends them in reverse order, webhook configurations first,
// so the API server never calls a closed port.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeConfig } from '../../src/kube/kubeconfig.ts';
import { parseAllDocuments } from 'yaml';
import { LEADER_LEASE_NAME, startManager, type LeaderServices, type ManagerHandle } from '../../src/controller/manager.ts';
import { serverSideApply, type ApplyObject } from '../../src/kube/apply.ts';
import { isNotFound } from '../../src/kube/errors.ts';
import { isLeaseFresh } from '../../src/kube/lease-heartbeat.ts';
import { LEASES } from '../../src/kube/lease-store.ts';
import { kubeRequest } from '../../src/kube/request.ts';
import { resourcePath, type ResourceRef } from '../../src/kube/resource.ts';
import { REPO_ROOT } from '../localcluster/index.ts';
import type { Logger } from '../../src/observability/logger.ts';
import { ensureNamespace, startFleet, type FleetHandle } from '../sim/fleet/fleet.ts';
import { startLocalAdmission, type LocalAdmission } from '../../src/webhook/local-admission.ts';
import type { Scenario } from './scenario.ts';

const CRDS: ResourceRef = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', namespaced: false };
const FIELD_MANAGER = 'mdev-operator-demo';
/** Short agent leases, so the stale node's lease expires within seconds of its agent stopping. */
export const DEMO_LEASE_MS = 6_000;
const DEMO_RENEW_MS = 2_000;

export interface StackOptions {
  kc: KubeConfig;
  scenario: Scenario;
  log: Logger;
  /** Called for each milestone, for the progress output. */
  note: (text: string) => void;
  /** Webhook configuration name (tests use a unique one). */
  webhookConfigName?: string;
}

export interface Stack {
  manager: ManagerHandle;
  services: LeaderServices;
  admission: LocalAdmission;
  fleet: FleetHandle;
  stop(opts?: { deleteNodes?: boolean }): Promise<void>;
}

/** Applies every CRD in crds/ (server-side, idempotent) and waits until each is Established. */
export async function installOperatorCrds(kc: KubeConfig): Promise<string[]> {
  const dir = join(REPO_ROOT, 'crds');
  const names: string[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(dir, file), 'utf8'))) {
      const crd = doc.toJSON() as ApplyObject | null;
      if (!crd) continue;
      await serverSideApply(kc, CRDS, crd, { fieldManager: FIELD_MANAGER, force: true });
      names.push(crd.metadata.name);
    }
  }
  for (const name of names) await waitEstablished(kc, name);
  return names;
}

async function waitEstablished(kc: KubeConfig, name: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const crd = (await kubeRequest(kc, { method: 'GET', path: resourcePath(CRDS, { name }) })) as { status?: { conditions?: { type: string; status: string }[] } };
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    if (Date.now() > deadline) throw new Error(`CRD ${name} did not become Established within ${timeoutMs / 1000}s; check \`kubectl describe crd ${name}\``);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Refuses to start a second operator against the same namespace: a fresh leader Lease held by
 * someone else means another demo (or controller) runs, and the two would fight over the VMIs.
 */
export async function assertNoOtherController(kc: KubeConfig, namespace: string): Promise<void> {
  let lease: { spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string } };
  try {
    lease = (await kubeRequest(kc, { method: 'GET', path: resourcePath(LEASES, { namespace, name: LEADER_LEASE_NAME }) })) as typeof lease;
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  if (isLeaseFresh(lease, Date.now())) {
    throw new Error(
      `another mdev-operator controller (${lease.spec?.holderIdentity}) leads in namespace ${namespace}: a demo may already run in another terminal. ` +
        'Stop it with Ctrl-C there (or `npm stop`)',
    );
  }
}

/**
 * Leftovers of an earlier demo on a reused cluster (one killed before it cleaned up): the VM
 * namespace and the demo's Nodes, whose MdevDevices and MdevNodes go with them (owner references).
 */
export async function removeLeftovers(kc: KubeConfig, scenario: Scenario, note: (t: string) => void): Promise<void> {
  const ns = scenario.namespace;
  const exists = await kubeRequest(kc, { method: 'GET', path: `/api/v1/namespaces/${ns}` }).then(() => true, (err: unknown) => (isNotFound(err) ? false : Promise.reject(err)));
  const nodes = [];
  for (const spec of scenario.nodes) {
    const found = await kubeRequest(kc, { method: 'GET', path: resourcePath({ group: '', version: 'v1', plural: 'nodes', namespaced: false }, { name: spec.name }) }).then(() => true, () => false);
    if (found) nodes.push(spec.name);
  }
  if (!exists && nodes.length === 0) return;
  note(`removing what an earlier demo left behind (namespace ${ns}, ${nodes.length} node(s))`);
  if (exists) {
    // Launcher pods are bound to stand-in nodes without a kubelet: they only go with grace period 0.
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${ns}/pods`, query: { gracePeriodSeconds: 0 } }).catch(() => undefined);
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${ns}` }).catch(() => undefined);
  }
  for (const name of nodes) {
    await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/nodes/${name}`, body: { propagationPolicy: 'Foreground' } }).catch(() => undefined);
  }
  const deadline = Date.now() + 90_000;
  const gone = async (path: string): Promise<boolean> => kubeRequest(kc, { method: 'GET', path }).then(() => false, (err: unknown) => isNotFound(err));
  for (const path of [...(exists ? [`/api/v1/namespaces/${ns}`] : []), ...nodes.map((n) => `/api/v1/nodes/${n}`)]) {
    while (!(await gone(path))) {
      if (Date.now() > deadline) throw new Error(`${path} is still being deleted after 90s; run \`npm stop\` (a fresh cluster) and start the demo again`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const { kc, scenario, log, note } = o;
  const stoppers: Array<() => Promise<void>> = [];
  let deleteNodes = false;
  const stop = async (): Promise<void> => {
    for (const s of stoppers.splice(0).reverse()) await s().catch((err: unknown) => log.warn('Demo component failed to stop cleanly', { error: (err as Error).message }));
  };
  try {
    await Promise.all([ensureNamespace(kc, scenario.operatorNamespace), ensureNamespace(kc, scenario.namespace)]);

    const manager = await startManager({ kc, namespace: scenario.operatorNamespace, leaderElect: true, identity: `demo-${process.pid}`, probeTimeoutMs: 5_000, sweepIntervalMs: 2_000, log: log.child({ part: 'controller' }) });
    stoppers.push(() => manager.stop());
    await manager.waitUntilRunning();
    const services = manager.services();
    if (!services) throw new Error('the controller lost leadership right after it started; is another controller running against this cluster?');
    note(`controller leads (Lease ${scenario.operatorNamespace}/${LEADER_LEASE_NAME}, identity ${manager.identity}) and its caches are synced`);

    const admission = await startLocalAdmission({
      kc,
      namespace: scenario.operatorNamespace,
      configName: o.webhookConfigName ?? 'mdev-operator-demo-vmim',
      caches: services.caches,
      decision: services.decisions,
      mode: 'enforce',
      // Only the demo's namespace is gated: a webhook on 127.0.0.1 must never block anyone else's VMIMs.
      extraNamespaceRequirements: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [scenario.namespace] }],
    });
    stoppers.push(() => admission.stop());
    note(`VMIM admission webhook serving on https://127.0.0.1:${admission.server.port} (namespace ${scenario.namespace} only)`);

    const fleet = await startFleet({
      kc,
      namespace: scenario.operatorNamespace,
      specs: scenario.nodes,
      kubevirt: { namespace: scenario.namespace, stepDelayMs: 150 },
      leaseDurationMs: DEMO_LEASE_MS,
      leaseRenewMs: DEMO_RENEW_MS,
      resyncIntervalMs: 2_000,
      // NVIDIA nodes run the real nvml backend: the NVML helper over go-nvml's mock.
      nvidiaBackend: 'nvml',
      log: log.child({ part: 'fleet' }),
    });
    stoppers.push(() => fleet.stop({ deleteNodes }));
    return {
      manager,
      services,
      admission,
      fleet,
      stop: async (opts = {}) => {
        deleteNodes = opts.deleteNodes ?? false;
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
