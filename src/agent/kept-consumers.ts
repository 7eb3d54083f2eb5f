// Which consumers to publish when PodResources cannot say who holds a device. "Unknown" must never
// become "free": a free-looking device in use would be offered as a migration target. So when the
// kubelet does not answer, every device keeps its consumer: the last answer this process had, or,
// right after a restart, what the API server holds (the agent's own MdevDevices). When the kubelet
// answers but names a pod the agent's pod cache does not know yet, that device keeps its consumer
// the same way. Pure.
import type { ConsumerReference } from '../api/v1alpha1/index.ts';

export interface KeptConsumersInput {
  /** This pass's answer; undefined when the kubelet did not answer. */
  fresh?: {
    consumers: ReadonlyMap<string, ConsumerReference>;
    /** Devices held by a pod the cache does not know: in use, holder unknown. */
    unresolved: readonly { deviceId: string }[];
  };
  /** The consumers the previous pass of this process published (undefined before the first answer). */
  previous?: ReadonlyMap<string, ConsumerReference>;
  /** The consumers the node's MdevDevices hold on the API server, by canonical device id. */
  published: ReadonlyMap<string, ConsumerReference>;
}

/** The consumers to publish, by canonical device id. */
export function keptConsumers(input: KeptConsumersInput): Map<string, ConsumerReference> {
  const fallback = input.previous ?? input.published;
  if (!input.fresh) return new Map(fallback);
  const out = new Map(input.fresh.consumers);
  for (const { deviceId } of input.fresh.unresolved) {
    const kept = out.get(deviceId) ?? input.previous?.get(deviceId) ?? input.published.get(deviceId);
    if (kept) out.set(deviceId, kept);
  }
  return out;
}
