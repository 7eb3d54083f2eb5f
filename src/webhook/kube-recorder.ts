// MigrationRecorder over the API server: the MdevMigration that makes an admitted VMIM visible in
// `kubectl get mdevmig` and lets the controller follow it like any other. Created in the VMI's
// namespace with a deterministic name (from the VMIM's name), labelled as created by admission and
// annotated with the VMIM's name; the owner reference to the VMIM is added by the linker once the
// VMIM exists and has a uid (migration-linker.ts).
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { API_VERSION, DEADLINE_SECONDS, FIELD_MANAGER_CONTROLLER, parseFromWire, type MdevMigration, type MdevMigrationStatus } from '../api/v1alpha1/index.ts';
import { mergePatch } from '../kube/apply.ts';
import { isAlreadyExists, isNotFound } from '../kube/errors.ts';
import { kubeRequest } from '../kube/request.ts';
import { resourcePath } from '../kube/resource.ts';
import { MDEV_MIGRATIONS } from '../controller/services.ts';
import { loggerFor } from '../observability/logger.ts';
import type { MigrationRecord, MigrationRecorder, MigrationRef } from './admission-ports.ts';
import { ANNOTATION_VMIM, LABEL_ORIGIN, ORIGIN_ADMISSION } from '../api/v1alpha1/constants.ts';

const log = loggerFor('webhook-recorder');

export function buildAdmissionMigration(r: MigrationRecord, ttlSecondsAfterFinished?: number): Record<string, unknown> {
  return {
    apiVersion: API_VERSION,
    kind: 'MdevMigration',
    metadata: { name: r.name, namespace: r.namespace, labels: { [LABEL_ORIGIN]: ORIGIN_ADMISSION }, annotations: { [ANNOTATION_VMIM]: r.vmimName } },
    spec: {
      vmiName: r.vmiName,
      ...(r.targetNodes?.length ? { targetNodes: [...r.targetNodes] } : {}),
      allowCreateTarget: false,
      dryRun: false,
      deadlineSeconds: DEADLINE_SECONDS.default,
      ...(ttlSecondsAfterFinished !== undefined ? { ttlSecondsAfterFinished } : {}),
    },
  };
}

function refOf(m: MdevMigration): MigrationRef {
  return { namespace: m.metadata.namespace ?? '', name: m.metadata.name, uid: m.metadata.uid ?? '' };
}

/** Decisions this process recorded, remembered for the validating call that follows each mutation. */
const RECENT_DECISIONS = 1024;

export interface KubeRecorderOptions {
  /** The controller's MdevMigration cache, read before asking the API server. */
  migrations?: (key: string) => MdevMigration | undefined;
  /** Set on every record created (the chart's webhook.recordTTL). */
  ttlSecondsAfterFinished?: number;
}

/**
 * The recorder. `targetNodeOf` serves the validating webhook, which the API server calls right after
 * the mutating one: it answers from the decisions this process just recorded, then from the cache,
 * and only then with a GET — so an admission costs no read round trip on the replica that decided.
 */
export function kubeRecorder(kc: KubeConfig, opts: KubeRecorderOptions = {}): MigrationRecorder {
  const vmiOf = new Map<string, string>();
  const recent = new Map<string, { uid: string; vmiName: string; targetNode?: string }>();
  const remember = <V>(map: Map<string, V>, key: string, value: V): void => {
    map.delete(key);
    map.set(key, value);
    if (map.size > RECENT_DECISIONS) map.delete(map.keys().next().value as string);
  };
  const keyOf = (namespace: string, name: string): string => `${namespace}/${name}`;
  const get = async (namespace: string, name: string): Promise<MdevMigration | undefined> => {
    try {
      return parseFromWire('MdevMigration', await kubeRequest(kc, { method: 'GET', path: resourcePath(MDEV_MIGRATIONS, { namespace, name }) }), log);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };

  return {
    async create(r) {
      try {
        const created = parseFromWire('MdevMigration', await kubeRequest(kc, { method: 'POST', path: resourcePath(MDEV_MIGRATIONS, { namespace: r.namespace }), body: buildAdmissionMigration(r, opts.ttlSecondsAfterFinished) }), log);
        if (!created?.metadata.uid) throw new Error(`the API server returned a malformed MdevMigration ${r.namespace}/${r.name}: check the CRDs`);
        remember(vmiOf, created.metadata.uid, r.vmiName);
        return refOf(created);
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
      // A retried admission of the same VMIM: adopt its record while no VMIM owns it yet.
      const existing = await get(r.namespace, r.name);
      const unlinked = existing && existing.metadata.labels?.[LABEL_ORIGIN] === ORIGIN_ADMISSION && (existing.metadata.ownerReferences ?? []).length === 0 && existing.spec.vmiName === r.vmiName;
      if (existing && unlinked) {
        remember(vmiOf, existing.metadata.uid ?? '', r.vmiName);
        return refOf(existing);
      }
      throw new Error(`MdevMigration ${r.namespace}/${r.name} already exists for another VirtualMachineInstanceMigration; delete it, or give the new VMIM another name`);
    },
    async recordDecision(ref, status: MdevMigrationStatus) {
      await mergePatch(kc, MDEV_MIGRATIONS, ref, { metadata: { uid: ref.uid }, status }, { subresource: 'status', fieldManager: FIELD_MANAGER_CONTROLLER });
      const vmiName = vmiOf.get(ref.uid);
      vmiOf.delete(ref.uid);
      if (vmiName !== undefined) remember(recent, keyOf(ref.namespace, ref.name), { uid: ref.uid, vmiName, ...(status.targetNode ? { targetNode: status.targetNode } : {}) });
    },
    async remove(ref) {
      vmiOf.delete(ref.uid);
      recent.delete(keyOf(ref.namespace, ref.name));
      try {
        await kubeRequest(kc, { method: 'DELETE', path: resourcePath(MDEV_MIGRATIONS, ref), body: { preconditions: { uid: ref.uid } } });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    },
    async migration(namespace, name, fresh) {
      const m = fresh ? await get(namespace, name) : opts.migrations?.(keyOf(namespace, name));
      if (!m) return undefined;
      const s = m.status;
      return {
        uid: m.metadata.uid ?? '',
        vmiName: m.spec.vmiName,
        admission: m.metadata.labels?.[LABEL_ORIGIN] === ORIGIN_ADMISSION,
        ...(s?.targetNode ? { targetNode: s.targetNode } : {}),
        ...(s?.attempts !== undefined ? { attempts: s.attempts } : {}),
      };
    },
    async targetNodeOf(namespace, name) {
      const mine = recent.get(keyOf(namespace, name));
      if (mine) return { vmiName: mine.vmiName, ...(mine.targetNode ? { targetNode: mine.targetNode } : {}) };
      // A cached record without its decision may just lag the status write: ask the API server then.
      const cached = opts.migrations?.(keyOf(namespace, name));
      const m = cached?.status?.targetNode ? cached : await get(namespace, name);
      return m ? { vmiName: m.spec.vmiName, ...(m.status?.targetNode ? { targetNode: m.status.targetNode } : {}) } : undefined;
    },
  };
}
