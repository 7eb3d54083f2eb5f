// The one writer of MdevMigration status. Every write is a JSON merge patch on the status
// subresource carrying the resourceVersion that was read, so a stale or restarted controller can
// never write over newer progress (it gets 409 and reads again). The object each write returns is
// kept until the informer catches up, so the next reconcile does not act on an older view.
import type { KubeConfig } from '../../kube/kubeconfig.ts';
import { FIELD_MANAGER_CONTROLLER, parseFromWire, type MdevMigration, type MdevMigrationStatus } from '../../api/v1alpha1/index.ts';
import { mergePatch } from '../../kube/apply.ts';
import { isNotFound } from '../../kube/errors.ts';
import type { Informer } from '../../kube/informer.ts';
import { objectKey } from '../../kube/resource.ts';
import type { Logger } from '../../observability/logger.ts';
import { cachedMigration } from '../caches.ts';
import { MDEV_MIGRATIONS } from '../resources.ts';

/** The object is gone (deleted while we worked): end the reconcile quietly, never retry. */
export class Stop extends Error {}

export class StatusWriter {
  readonly #kc: KubeConfig;
  readonly #migrations: Informer<MdevMigration>;
  readonly #log: Logger;
  readonly #guard: (() => void) | undefined;
  /** The newest object each status write returned: the informer may not have caught up yet. */
  readonly #written = new Map<string, MdevMigration>();

  constructor(kc: KubeConfig, migrations: Informer<MdevMigration>, log: Logger, guard?: () => void) {
    this.#kc = kc;
    this.#migrations = migrations;
    this.#log = log;
    this.#guard = guard;
  }

  async patch(m: MdevMigration, status: Partial<MdevMigrationStatus> | Record<string, unknown>): Promise<MdevMigration> {
    this.#guard?.();
    const key = objectKey(m.metadata.namespace, m.metadata.name);
    const body = { metadata: { resourceVersion: m.metadata.resourceVersion }, status: { observedGeneration: m.metadata.generation ?? 1, ...status } };
    try {
      const raw = await mergePatch(this.#kc, MDEV_MIGRATIONS, { namespace: m.metadata.namespace, name: m.metadata.name }, body, {
        subresource: 'status',
        fieldManager: FIELD_MANAGER_CONTROLLER,
      });
      const stored = parseFromWire('MdevMigration', raw, this.#log);
      if (!stored) throw new Error(`The API server returned a malformed MdevMigration ${key}: check the installed CRDs (crds/)`);
      this.#written.set(key, cachedMigration(stored) as MdevMigration);
      return stored;
    } catch (err) {
      if (isNotFound(err)) throw new Stop();
      throw err;
    }
  }

  /** The cached object, or the one our last write returned when the cache has not caught up. */
  latest(key: string): MdevMigration | undefined {
    const cached = this.#migrations.get(key);
    const written = this.#written.get(key);
    if (!cached) {
      this.#written.delete(key);
      return undefined;
    }
    if (!written) return cached;
    const newer = written.metadata.uid === cached.metadata.uid ? newerByVersion(cached, written) : cached;
    // Once the cache has caught up, the written copy has served its purpose.
    if (newer === cached) this.#written.delete(key);
    return newer;
  }

  /** Drops our written copy of `m` once the cache holds that version or a newer one. */
  forgetUpTo(m: MdevMigration): void {
    const key = objectKey(m.metadata.namespace, m.metadata.name);
    const written = this.#written.get(key);
    if (written && (written.metadata.uid !== m.metadata.uid || newerByVersion(m, written) === m)) this.#written.delete(key);
  }

  forget(key: string): void {
    this.#written.delete(key);
  }
}

/**
 * The newer of two versions of one object. resourceVersions are opaque by contract, but the
 * API server's are etcd revisions; this is only an optimisation (every write carries a
 * precondition), so a wrong guess costs a 409 and a retry, never a lost update.
 */
export function newerByVersion<T extends { metadata: { resourceVersion?: string } }>(a: T, b: T): T {
  const ra = a.metadata.resourceVersion ?? '';
  const rb = b.metadata.resourceVersion ?? '';
  if (/^\d+$/.test(ra) && /^\d+$/.test(rb)) return BigInt(rb) > BigInt(ra) ? b : a;
  return a;
}

/** Whether resourceVersion `rv` is `min` or newer (etcd revisions; an opaque one counts as new enough). */
export function versionAtLeast(rv: string | undefined, min: string): boolean {
  if (!rv || !/^\d+$/.test(rv) || !/^\d+$/.test(min)) return true;
  return BigInt(rv) >= BigInt(min);
}
