// Shared setup for the controller's integration tests on the real local kube-apiserver: CRDs,
// namespaces, MdevMigration objects and polling helpers.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { API_VERSION, parseFromWire, type MdevDevice, type MdevMigration } from '../../../src/api/v1alpha1/index.ts';
import { MDEV_DEVICES, MDEV_MIGRATIONS, MDEV_NODES } from '../../../src/controller/resources.ts';
import { isOwnedBy } from '../../../src/controller/vmim-driver.ts';
import { isNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { resourcePath } from '../../../src/kube/resource.ts';
import { listVmims } from '../../../src/kubevirt/client.ts';
import type { Vmim } from '../../../src/kubevirt/types.ts';
import type { GpuSpec } from '../../../dev/sim/fleet/profile.ts';
import { loggerFor } from '../../../src/observability/logger.ts';
import { kubectl } from '../../support/cluster.ts';
import { poll } from '../../support/poll.ts';

const CRDS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'crds');
const log = loggerFor('controller-test');

export async function installCrds(): Promise<void> {
  const r = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', CRDS_DIR]);
  if (r.code !== 0) throw new Error(`installing crds/ failed: ${r.stderr}`);
  const w = await kubectl(['wait', '--for', 'condition=established', '--timeout=60s', '-f', CRDS_DIR]);
  if (w.code !== 0) throw new Error(`crds/ did not become Established: ${w.stderr}`);
}

export async function createNamespace(kc: KubeConfig, name: string): Promise<void> {
  await kubeRequest(kc, { method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
}

/** Pods bound to nodes never finish a graceful deletion without a kubelet: remove them first. */
export async function deleteNamespace(kc: KubeConfig, ns: string): Promise<void> {
  await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${ns}/pods`, query: { gracePeriodSeconds: 0 } }).catch(() => undefined);
  await kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${ns}` }).catch(() => undefined);
}

export interface MigrationSpec {
  vmiName: string;
  dryRun?: boolean;
  targetNodes?: string[];
  deadlineSeconds?: number;
}

export async function createMigration(kc: KubeConfig, ns: string, name: string, spec: MigrationSpec): Promise<MdevMigration> {
  const body = { apiVersion: API_VERSION, kind: 'MdevMigration', metadata: { name, namespace: ns }, spec };
  const raw = await kubeRequest(kc, { method: 'POST', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns }), body });
  return parseFromWire('MdevMigration', raw, log) as MdevMigration;
}

/** The MdevMigration, or undefined once it is gone (404). */
export async function getMigration(kc: KubeConfig, ns: string, name: string): Promise<MdevMigration | undefined> {
  try {
    const raw = await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_MIGRATIONS, { namespace: ns, name }) });
    return parseFromWire('MdevMigration', raw, log);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function getDevice(kc: KubeConfig, name: string): Promise<MdevDevice | undefined> {
  const raw = await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_DEVICES, { name }) });
  return parseFromWire('MdevDevice', raw, log);
}

export function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> {
  return poll(what, probe, timeoutMs);
}

export function waitForPhase(kc: KubeConfig, ns: string, name: string, phases: string[], timeoutMs?: number): Promise<MdevMigration> {
  return waitFor(`MdevMigration ${ns}/${name} to reach ${phases.join(' or ')}`, async () => {
    const m = await getMigration(kc, ns, name);
    return m && phases.includes(m.status?.phase ?? '') ? m : undefined;
  }, timeoutMs);
}

export async function vmimsOf(kc: KubeConfig, ns: string, m: MdevMigration): Promise<Vmim[]> {
  return (await listVmims(kc, { namespace: ns })).filter((v) => isOwnedBy(v, m.metadata.uid ?? ''));
}

export function verdictOf(m: MdevMigration, node: string): { verdict: string; message?: string } | undefined {
  return m.status?.candidates?.find((c) => c.node === node);
}

export async function listEvents(kc: KubeConfig, ns: string, name: string): Promise<{ reason: string; message: string; type: string }[]> {
  const res = (await kubeRequest(kc, { method: 'GET', path: `/api/v1/namespaces/${ns}/events`, query: { fieldSelector: `involvedObject.name=${name}` } })) as {
    items?: { reason: string; message: string; type: string }[];
  };
  return res.items ?? [];
}

/**
 * The Events about a migration once every reason in `reasons` is among them: the controller records
 * Events after the status write without waiting for them (best effort), so a test that has seen a
 * phase must still wait for the Event that goes with it.
 */
export function eventsWith(kc: KubeConfig, ns: string, name: string, reasons: readonly string[]): Promise<{ reason: string; message: string; type: string }[]> {
  return waitFor(`Events ${reasons.join(', ')} about ${ns}/${name}`, async () => {
    const events = await listEvents(kc, ns, name);
    return reasons.every((r) => events.some((e) => e.reason === r)) ? events : undefined;
  });
}

export interface ClaimOnNode {
  node: string;
  pool: string;
  units: number;
  migration: { namespace: string; name: string; uid: string };
}

/** Every capacity claim on every MdevNode (MdevNode status.claims), read from the API server. */
export async function listClaims(kc: KubeConfig): Promise<ClaimOnNode[]> {
  const res = (await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_NODES) })) as {
    items?: { metadata: { name: string }; status?: { claims?: { pool: string; units: number; migration: ClaimOnNode['migration'] }[] } }[];
  };
  return (res.items ?? []).flatMap((n) => (n.status?.claims ?? []).map((c) => ({ node: n.metadata.name, pool: c.pool, units: c.units, migration: c.migration })));
}

/** The capacity claims held by MdevMigration `namespace/name`. */
export async function claimsOf(kc: KubeConfig, namespace: string, name: string): Promise<ClaimOnNode[]> {
  return (await listClaims(kc)).filter((c) => c.migration.namespace === namespace && c.migration.name === name);
}

/** A STAND-IN NVIDIA H100 for fleet node specs: one nvidia-1012 device on host driver `hostDriver`. */
export function h100(hostDriver: string, extra: Partial<GpuSpec> = {}): GpuSpec {
  return { vendor: 'nvidia', board: 'H100-PCIE-80GB', hostDriver, vgpuVersion: 0x12, vgpuRange: [0x10, 0x13], typeId: 'nvidia-1012', devices: 1, spare: 0, ...extra };
}
