// Reading the core/v1 Events about one object (by uid): KubeVirt reports some failures only there,
// e.g. a migration whose target pod stayed unschedulable fails with no failureReason, and the
// scheduler explains an unschedulable pod in a FailedScheduling Event. Decoded leniently: an Event
// whose fields we cannot read is left out, never thrown over.
import type { KubeConfig } from './kubeconfig.ts';
import { z } from 'zod';
import { kubeRequest } from './request.ts';

export interface ObjectEvent {
  type: string;
  reason: string;
  message: string;
  /** lastTimestamp, eventTime or firstTimestamp (RFC 3339), for ordering. */
  time: string;
  /** metadata.name: client-go names an Event `<object>.<UnixNano hex>`, which orders same-second Events. */
  name: string;
}

const eventSchema = z.looseObject({
  metadata: z.looseObject({ name: z.string().optional() }).optional(),
  type: z.string().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTimestamp: z.string().nullable().optional(),
  eventTime: z.string().nullable().optional(),
  firstTimestamp: z.string().nullable().optional(),
});

/** Events whose involvedObject.uid is `uid`, newest first. */
export async function listObjectEvents(kc: KubeConfig, namespace: string, uid: string, signal?: AbortSignal): Promise<ObjectEvent[]> {
  const res = (await kubeRequest(kc, {
    method: 'GET',
    path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`,
    query: { fieldSelector: `involvedObject.uid=${uid}` },
    signal,
  })) as { items?: unknown[] };
  const out: ObjectEvent[] = [];
  for (const item of res.items ?? []) {
    const r = eventSchema.safeParse(item);
    if (!r.success) continue;
    const e = r.data;
    out.push({ type: e.type ?? 'Normal', reason: e.reason ?? '', message: e.message ?? '', time: e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? '', name: e.metadata?.name ?? '' });
  }
  return out.sort(newestFirst);
}

// Timestamps have second precision, so ties are common (a failure's Events come within one second).
function newestFirst(a: ObjectEvent, b: ObjectEvent): number {
  if (a.time !== b.time) return a.time < b.time ? 1 : -1;
  return a.name < b.name ? 1 : a.name > b.name ? -1 : 0;
}
