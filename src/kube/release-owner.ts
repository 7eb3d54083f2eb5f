// The object whose deletion takes the operator's run-time objects with it. The chart creates a
// ConfigMap (<release>-mdev-operator-owner) in the release namespace and names it to every
// component (--owner-configmap); the Leases and the webhook's TLS Secret they create there carry
// an owner reference to it, so when `helm uninstall` (or `kubectl delete -f manifests/`) deletes
// the ConfigMap, the garbage collector deletes them too: no cleanup Job, no image pull at
// uninstall (docs/adr/0017-run-time-objects-owned-by-a-chart-configmap.md).
//
// Best effort by design: when the owner cannot be read, objects are written without the
// reference (they then outlive the release, as before) rather than failing a Lease renewal or the
// webhook; the next write that finds the reference missing adds it (adoption).
import type { KubeConfig } from './kubeconfig.ts';
import { loggerFor, type Logger } from '../observability/logger.ts';
import { realClock, type Clock } from './clock.ts';
import { apiStatusCode, describeApiError } from './errors.ts';
import { kubeRequest } from './request.ts';
import { resourcePath, type ResourceRef } from './resource.ts';

const CONFIGMAPS: ResourceRef = { group: '', version: 'v1', plural: 'configmaps', namespaced: true };

/** What goes into metadata.ownerReferences (no blockOwnerDeletion: that would need update on the owner's finalizers). */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

export interface ReleaseOwner {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  /** The reference to write, or undefined when the owner cannot be read now (logged, retried after a pause). */
  reference(signal?: AbortSignal): Promise<OwnerReference | undefined>;
}

/** After a failed read, further writes go without the reference for this long before the owner is read again. */
export const OWNER_RETRY_AFTER_MS = 60_000;

type OwnerRefLike = Partial<Record<keyof OwnerReference, unknown>>;

/** True when `ownerReferences` already names `owner` (by kind and name: a stale uid is the garbage collector's to act on). */
export function namesOwner(ownerReferences: unknown, owner: Pick<ReleaseOwner, 'apiVersion' | 'kind' | 'name'>): boolean {
  const refs = Array.isArray(ownerReferences) ? (ownerReferences as OwnerRefLike[]) : [];
  return refs.some((r) => r.apiVersion === owner.apiVersion && r.kind === owner.kind && r.name === owner.name);
}

/** `ownerReferences` with `ref` added; others' references are kept, an older one to the same object is replaced. */
export function withOwnerReference<T extends object>(ownerReferences: readonly T[] | undefined, ref: OwnerReference): (T | OwnerReference)[] {
  const others = (ownerReferences ?? []).filter((r) => !namesOwner([r], ref));
  return [...others, ref];
}

export interface OwnerReaderOptions {
  clock?: Clock;
  logger?: Logger;
  retryAfterMs?: number;
}

/**
 * A ReleaseOwner over `read` (which returns the owner's uid or throws). Failures are logged once
 * per kind of failure (warn), and for `retryAfterMs` no further reads are tried, so a missing
 * owner costs one request per minute rather than one per Lease renewal.
 */
export function ownerFromReader(
  owner: Pick<ReleaseOwner, 'apiVersion' | 'kind' | 'name'> & { namespace: string },
  read: (signal?: AbortSignal) => Promise<string>,
  opts: OwnerReaderOptions = {},
): ReleaseOwner {
  const clock = opts.clock ?? realClock;
  const log = opts.logger ?? loggerFor('release-owner', { owner: `${owner.kind} ${owner.namespace}/${owner.name}` });
  const retryAfterMs = opts.retryAfterMs ?? OWNER_RETRY_AFTER_MS;
  let retryAt = 0;
  let lastFailure: string | undefined;
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.name,
    async reference(signal) {
      if (clock.now() < retryAt) return undefined;
      try {
        const uid = await read(signal);
        if (lastFailure !== undefined) log.info('The owner is readable again: objects written from now on are deleted with it');
        lastFailure = undefined;
        return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, uid };
      } catch (err) {
        if (signal?.aborted) return undefined; // the caller's deadline, not the owner's fault
        retryAt = clock.now() + retryAfterMs;
        const failure = String(apiStatusCode(err) ?? describeApiError(err));
        const message = `Cannot read ${owner.kind} ${owner.namespace}/${owner.name}, the owner of the Leases and Secret this process writes; they are written without an owner reference and will outlive the release until it is readable`;
        const fields = { error: describeApiError(err), hint: hintFor(apiStatusCode(err), owner), retryInMs: retryAfterMs };
        if (failure !== lastFailure) log.warn(message, fields);
        else log.debug(message, fields);
        lastFailure = failure;
        return undefined;
      }
    },
  };
}

function hintFor(status: number | undefined, owner: { kind: string; name: string }): string {
  if (status === 404) return `create it (the chart does) or fix --owner-configmap; during helm uninstall this is expected`;
  if (status === 403) return `grant get on configmaps named ${owner.name} in this namespace (the chart's Roles do)`;
  return 'retried after a pause';
}

/** The chart's owner ConfigMap `name` in `namespace`. */
export function configMapOwner(kc: KubeConfig, namespace: string, name: string, opts: OwnerReaderOptions = {}): ReleaseOwner {
  const path = resourcePath(CONFIGMAPS, { namespace, name });
  return ownerFromReader({ apiVersion: 'v1', kind: 'ConfigMap', name, namespace }, async (signal) => {
    const cm = (await kubeRequest(kc, { method: 'GET', path, ...(signal ? { signal } : {}) })) as { metadata?: { uid?: unknown } };
    const uid = cm.metadata?.uid;
    if (typeof uid !== 'string' || uid === '') throw new Error(`ConfigMap ${namespace}/${name} has no metadata.uid`);
    return uid;
  }, opts);
}
