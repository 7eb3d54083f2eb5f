// A migration's target virt-launcher pod, as the controller reads it to tell a target that will
// never start (Pending, unschedulable) from one that is merely slow. KubeVirt labels the target pod
// with the VMIM's uid (kubevirt.io/migrationJobUID, api/core/v1 MigrationJobLabel). Decoded
// leniently: a field in a shape we cannot read is dropped, never the pod.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { z } from 'zod';
import { decodeLeniently, type FieldGroup } from '../kube/lenient-decode.ts';
import { kubeRequest } from '../kube/request.ts';
import { LABEL_MIGRATION_JOB_UID } from './types.ts';

export interface TargetPod {
  name: string;
  nodeName?: string;
  /** Pod phase; '' when unreadable. */
  phase: string;
  /** Why the scheduler could not place it: PodScheduled=False's reason and message. */
  unschedulable?: string;
}

const podSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), deletionTimestamp: z.string().nullable().optional() }),
  spec: z.looseObject({ nodeName: z.string().optional() }).default({}),
  status: z
    .looseObject({
      phase: z.string().optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string(), reason: z.string().optional(), message: z.string().optional() })).optional(),
    })
    .optional(),
});

const GROUPS: FieldGroup[] = [['spec'], ['spec', 'nodeName'], ['status'], ['status', 'phase'], ['status', 'conditions'], ['metadata', 'deletionTimestamp']];

export function parseTargetPod(raw: unknown): TargetPod | undefined {
  const r = decodeLeniently(podSchema, raw, GROUPS);
  if (!r.ok) return undefined;
  const p = r.value;
  const pod: TargetPod = { name: p.metadata.name, phase: p.status?.phase ?? '' };
  if (p.spec.nodeName) pod.nodeName = p.spec.nodeName;
  const scheduled = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False') pod.unschedulable = [scheduled.reason, scheduled.message].filter(Boolean).join(': ') || 'not scheduled';
  return pod;
}

/** The target pods of the VMIM with uid `vmimUid` in `namespace`. */
export async function listTargetPods(kc: KubeConfig, namespace: string, vmimUid: string, signal?: AbortSignal): Promise<TargetPod[]> {
  const res = (await kubeRequest(kc, {
    method: 'GET',
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
    query: { labelSelector: `${LABEL_MIGRATION_JOB_UID}=${vmimUid}` },
    signal,
  })) as { items?: unknown[] };
  return (res.items ?? []).map(parseTargetPod).filter((p): p is TargetPod => p !== undefined);
}
