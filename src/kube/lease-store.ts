// coordination.k8s.io/v1 Lease objects as plain records with optimistic concurrency. Leader election
// and the agent heartbeat talk to this interface, so their timing logic is unit-tested against an
// in-memory store while the API-backed one is proven in integration tests.
import type { KubeConfig } from './kubeconfig.ts';
import { isNotFound } from './errors.ts';
import { namesOwner, withOwnerReference, type ReleaseOwner } from './release-owner.ts';
import { kubeRequest } from './request.ts';
import { resourcePath, type ResourceRef } from './resource.ts';

export const LEASES: ResourceRef = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', namespaced: true };

export interface LeaseRecord {
  /** '' when released. */
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** Epoch ms. */
  acquireTime?: number;
  renewTime?: number;
  leaseTransitions: number;
}

export interface StoredLease {
  record: LeaseRecord;
  resourceVersion: string;
  /** The object's metadata as read, so an update keeps labels/annotations others set. */
  metadata: Record<string, unknown>;
}

export interface LeaseStore {
  get(name: string, signal?: AbortSignal): Promise<StoredLease | undefined>;
  /** Throws an AlreadyExists error if the Lease exists. */
  create(name: string, record: LeaseRecord, signal?: AbortSignal): Promise<StoredLease>;
  /** Replaces the spec if `previous.resourceVersion` is still current; throws a Conflict otherwise. */
  update(previous: StoredLease, record: LeaseRecord, signal?: AbortSignal): Promise<StoredLease>;
}

/** metav1.MicroTime wants microseconds: `2024-05-01T10:00:00.123000Z`. */
export function toMicroTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

function parseTime(v: unknown): number | undefined {
  if (v instanceof Date) return v.getTime();
  if (typeof v !== 'string') return undefined;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? undefined : ms;
}

interface LeaseJson {
  metadata?: Record<string, unknown>;
  spec?: Record<string, unknown>;
}

export function leaseRecordOf(spec: Record<string, unknown> | undefined): LeaseRecord {
  const record: LeaseRecord = {
    holderIdentity: typeof spec?.holderIdentity === 'string' ? spec.holderIdentity : '',
    leaseDurationSeconds: typeof spec?.leaseDurationSeconds === 'number' ? spec.leaseDurationSeconds : 0,
    leaseTransitions: typeof spec?.leaseTransitions === 'number' ? spec.leaseTransitions : 0,
  };
  const acquireTime = parseTime(spec?.acquireTime);
  const renewTime = parseTime(spec?.renewTime);
  if (acquireTime !== undefined) record.acquireTime = acquireTime;
  if (renewTime !== undefined) record.renewTime = renewTime;
  return record;
}

function specOf(record: LeaseRecord): Record<string, unknown> {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    leaseTransitions: record.leaseTransitions,
    acquireTime: record.acquireTime === undefined ? undefined : toMicroTime(record.acquireTime),
    renewTime: record.renewTime === undefined ? undefined : toMicroTime(record.renewTime),
  };
}

function stored(obj: unknown): StoredLease {
  const lease = obj as LeaseJson;
  const metadata = lease.metadata ?? {};
  return { record: leaseRecordOf(lease.spec), resourceVersion: String(metadata.resourceVersion ?? ''), metadata };
}

/**
 * Leases in one namespace of the API server. With `owner`, every Lease written carries an owner
 * reference to it (added on the next renewal to a Lease written without one), so it is deleted
 * with the release; an owner that cannot be read never fails the write.
 */
export function apiLeaseStore(kc: KubeConfig, namespace: string, owner?: ReleaseOwner): LeaseStore {
  return {
    async get(name, signal) {
      try {
        return stored(await kubeRequest(kc, { method: 'GET', path: resourcePath(LEASES, { namespace, name }), signal }));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async create(name, record, signal) {
      const ref = await owner?.reference(signal);
      const metadata = { name, namespace, ...(ref ? { ownerReferences: [ref] } : {}) };
      const body = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata, spec: specOf(record) };
      return stored(await kubeRequest(kc, { method: 'POST', path: resourcePath(LEASES, { namespace }), body, signal }));
    },
    async update(previous, record, signal) {
      const name = String(previous.metadata.name);
      // managedFields omitted: the server then keeps its own bookkeeping.
      const { managedFields: _managedFields, ...kept } = previous.metadata;
      const ref = owner && !namesOwner(kept.ownerReferences, owner) ? await owner.reference(signal) : undefined;
      const adopted = ref ? { ownerReferences: withOwnerReference(kept.ownerReferences as object[] | undefined, ref) } : {};
      const metadata = { ...kept, ...adopted, resourceVersion: previous.resourceVersion };
      const body = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata, spec: specOf(record) };
      return stored(await kubeRequest(kc, { method: 'PUT', path: resourcePath(LEASES, { namespace, name }), body, signal }));
    },
  };
}
