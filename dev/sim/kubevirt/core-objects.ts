// The core/v1 objects the KubeVirt stand-in touches: Nodes (read, to schedule), virt-launcher Pods
// (create, delete, mark Running in place of a kubelet) and the namespace's default ServiceAccount
// (which Pods need when the ServiceAccount admission plugin is on).
import type { KubeConfig } from '../../../src/kube/kubeconfig.ts';
import { z } from 'zod';
import { mergePatch } from '../../../src/kube/apply.ts';
import { realClock, sleep } from '../../../src/kube/clock.ts';
import { isAlreadyExists, isNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { APP_VIRT_LAUNCHER, LABEL_APP, LABEL_CREATED_BY, LABEL_MIGRATION_JOB_UID } from '../../../src/kubevirt/types.ts';
import type { Logger } from '../../../src/observability/logger.ts';
import type { SchedNode } from './node-fit.ts';

const POD_RESOURCE = { group: '', version: 'v1', plural: 'pods', namespaced: true } as const;

const nodeSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string(), labels: z.record(z.string(), z.string()).optional() }),
  spec: z
    .looseObject({
      unschedulable: z.boolean().optional(),
      taints: z.array(z.looseObject({ key: z.string(), value: z.string().optional(), effect: z.string() })).optional(),
    })
    .optional(),
  status: z
    .looseObject({
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(),
      allocatable: z.record(z.string(), z.union([z.string(), z.number()])).optional(),
    })
    .optional(),
});

const podSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string(),
    uid: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    creationTimestamp: z.string().optional(),
    deletionTimestamp: z.string().optional(),
  }),
  spec: z.looseObject({
    nodeName: z.string().optional(),
    nodeSelector: z.record(z.string(), z.string()).optional(),
    containers: z
      .array(
        z.looseObject({
          name: z.string(),
          resources: z.looseObject({ limits: z.record(z.string(), z.unknown()).optional(), requests: z.record(z.string(), z.unknown()).optional() }).optional(),
        }),
      )
      .optional(),
  }),
  status: z
    .looseObject({ phase: z.string().optional(), conditions: z.array(z.looseObject({ type: z.string(), status: z.string(), reason: z.string().optional(), message: z.string().optional() })).optional() })
    .optional(),
});

export type LauncherPod = z.infer<typeof podSchema>;

/** Taints the node lifecycle controller removes once the kubelet reports Ready. */
const KUBELET_LIFTED_TAINTS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'];

/** A Node object as the scheduler sees it, or an error message when it is malformed. */
export function toSchedNode(raw: unknown): SchedNode | string {
  const r = nodeSchema.safeParse(raw);
  if (!r.success) return r.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  const n = r.data;
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
  // Nodes created as data have no kubelet: no Ready condition ever, and the not-ready taint the
  // API server's admission adds on create is never lifted. Such nodes count as ready; a node
  // whose (stand-in) kubelet reports a Ready condition is judged by it and by all its taints.
  const taints = (n.spec?.taints ?? []).filter((t) => ready !== undefined || !KUBELET_LIFTED_TAINTS.includes(t.key));
  return {
    name: n.metadata.name,
    labels: n.metadata.labels ?? {},
    unschedulable: n.spec?.unschedulable === true,
    taints: taints.map((t) => ({ key: t.key, value: t.value, effect: t.effect })),
    notReady: ready !== undefined && ready.status !== 'True',
    allocatable: Object.fromEntries(Object.entries(n.status?.allocatable ?? {}).map(([k, v]) => [k, String(v)])),
  };
}

/** Every Node as the scheduler sees it; malformed Nodes are logged and left out. */
export async function listSchedNodes(kc: KubeConfig, log: Logger): Promise<SchedNode[]> {
  const res = (await kubeRequest(kc, { method: 'GET', path: '/api/v1/nodes' })) as { items?: unknown[] };
  const nodes: SchedNode[] = [];
  for (const item of res.items ?? []) {
    const node = toSchedNode(item);
    if (typeof node === 'string') log.warn('Skipped malformed Node', { issues: node });
    else nodes.push(node);
  }
  return nodes;
}

/** virt-launcher pods, of one VMI (by uid), of one migration (VMIM uid) or of every VMI, in `namespace` or all namespaces. */
export async function listLauncherPods(kc: KubeConfig, opts: { namespace?: string; vmiUid?: string; migrationUid?: string }): Promise<LauncherPod[]> {
  const selector = [
    `${LABEL_APP}=${APP_VIRT_LAUNCHER}`,
    ...(opts.vmiUid ? [`${LABEL_CREATED_BY}=${opts.vmiUid}`] : []),
    ...(opts.migrationUid ? [`${LABEL_MIGRATION_JOB_UID}=${opts.migrationUid}`] : []),
  ].join(',');
  const path = opts.namespace ? `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/pods` : '/api/v1/pods';
  const res = (await kubeRequest(kc, { method: 'GET', path, query: { labelSelector: selector } })) as { items?: unknown[] };
  return (res.items ?? []).flatMap((item) => {
    const r = podSchema.safeParse(item);
    return r.success ? [r.data] : [];
  });
}

/** Creates a pod, or returns false when one of that name exists already (a restarted simulator). */
export async function createPod(kc: KubeConfig, pod: Record<string, unknown>, namespace: string): Promise<boolean> {
  try {
    await kubeRequest(kc, { method: 'POST', path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`, body: pod });
    return true;
  } catch (err) {
    if (isAlreadyExists(err)) return false;
    throw err;
  }
}

/** Stand-in for the kubelet: reports the pod Running (the pod is never really started). */
export async function markPodRunning(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await mergePatch(kc, POD_RESOURCE, { namespace, name }, {
    status: { phase: 'Running', startTime: now, conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] },
  }, { subresource: 'status' });
}

/** STAND-IN for kube-scheduler binding a pod (the Binding subresource, as the scheduler does). */
export async function bindPod(kc: KubeConfig, namespace: string, name: string, nodeName: string): Promise<void> {
  await kubeRequest(kc, {
    method: 'POST',
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/binding`,
    body: { apiVersion: 'v1', kind: 'Binding', metadata: { name, namespace }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } },
  });
}

export async function annotatePod(kc: KubeConfig, namespace: string, name: string, annotations: Record<string, string>): Promise<void> {
  await mergePatch(kc, POD_RESOURCE, { namespace, name }, { metadata: { annotations } });
}

/** STAND-IN for kube-scheduler's verdict on a pod it cannot place: PodScheduled=False, Unschedulable. */
export async function markPodUnschedulable(kc: KubeConfig, namespace: string, name: string, message: string): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await mergePatch(kc, POD_RESOURCE, { namespace, name }, {
    status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastTransitionTime: now }] },
  }, { subresource: 'status' });
}

/** STAND-IN for the kubelet refusing a pod at admission (e.g. no free device of a resource): the pod fails. */
export async function markPodFailed(kc: KubeConfig, namespace: string, name: string, reason: string, message: string): Promise<void> {
  await mergePatch(kc, POD_RESOURCE, { namespace, name }, { status: { phase: 'Failed', reason, message } }, { subresource: 'status' });
}

export interface EventSubject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

let lastEventNanos = 0n;

/**
 * client-go's recorder names an Event `<object>.<UnixNano in hex>` (tools/record/event.go
 * makeEvent), so names of one object's Events sort by creation even where their second-precision
 * timestamps tie; readers rely on that, so the stand-in names them the same way (strictly rising).
 */
function eventName(objectName: string): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  lastEventNanos = now > lastEventNanos ? now : lastEventNanos + 1n;
  return `${objectName}.${lastEventNanos.toString(16)}`;
}

/** A core/v1 Event about `subject`, as `component` would record it (best effort). */
export async function recordEvent(kc: KubeConfig, subject: EventSubject, type: 'Normal' | 'Warning', reason: string, message: string, component: string): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  await kubeRequest(kc, {
    method: 'POST',
    path: `/api/v1/namespaces/${encodeURIComponent(subject.namespace)}/events`,
    body: {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: eventName(subject.name), namespace: subject.namespace },
      involvedObject: subject,
      type,
      reason,
      message,
      source: { component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    },
  }).catch(() => undefined);
}

/** Deletes a pod immediately (no kubelet will ever confirm a graceful stop); absent is fine. */
export async function deletePod(kc: KubeConfig, namespace: string, name: string): Promise<void> {
  try {
    await kubeRequest(kc, {
      method: 'DELETE',
      path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`,
      query: { gracePeriodSeconds: 0 },
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * Makes sure the namespace's `default` ServiceAccount exists. kube-controller-manager normally
 * creates it within a second of the namespace; after `waitMs` we create it ourselves (a race with
 * the controller ends in AlreadyExists, which is fine).
 */
export async function ensureDefaultServiceAccount(kc: KubeConfig, namespace: string, waitMs = 2_000): Promise<void> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts`;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await kubeRequest(kc, { method: 'GET', path: `${path}/default` });
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (Date.now() >= deadline) break;
    await sleep(realClock, 100);
  }
  try {
    await kubeRequest(kc, { method: 'POST', path, body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace } } });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}
