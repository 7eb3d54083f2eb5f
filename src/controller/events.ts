// Kubernetes Events (core/v1) for each step of a migration, so `kubectl describe mdevmig` tells the
// story. Best effort: a failed Event write is logged and never fails a reconcile.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { API_VERSION, LIMITS, type MdevMigration } from '../api/v1alpha1/index.ts';
import { describeApiError } from '../kube/errors.ts';
import { kubeRequest } from '../kube/request.ts';
import { resourcePath } from '../kube/resource.ts';
import type { Logger } from '../observability/logger.ts';
import { EVENTS } from './resources.ts';

export const EVENT_COMPONENT = 'mdev-operator-controller';

export type EventType = 'Normal' | 'Warning';

export interface EventSink {
  record(m: MdevMigration, type: EventType, reason: string, message: string): void;
}

/** The core/v1 Event object for `m` (pure, for tests). */
export function buildEvent(m: MdevMigration, type: EventType, reason: string, message: string, instance: string, now: number): Record<string, unknown> {
  const at = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { generateName: `${m.metadata.name}.`, namespace: m.metadata.namespace },
    involvedObject: {
      apiVersion: API_VERSION,
      kind: 'MdevMigration',
      name: m.metadata.name,
      namespace: m.metadata.namespace,
      uid: m.metadata.uid,
      resourceVersion: m.metadata.resourceVersion,
    },
    type,
    reason,
    message: message.length <= LIMITS.message ? message : `${message.slice(0, LIMITS.message - 3)}...`,
    source: { component: EVENT_COMPONENT, host: instance },
    // Legacy-style Event (no eventTime): accepted by every API server version without series fields.
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
  };
}

export class EventRecorder implements EventSink {
  readonly #kc: KubeConfig;
  readonly #log: Logger;
  readonly #instance: string;

  constructor(kc: KubeConfig, log: Logger, instance: string) {
    this.#kc = kc;
    this.#log = log;
    this.#instance = instance;
  }

  record(m: MdevMigration, type: EventType, reason: string, message: string): void {
    const namespace = m.metadata.namespace as string;
    const body = buildEvent(m, type, reason, message, this.#instance, Date.now());
    kubeRequest(this.#kc, { method: 'POST', path: resourcePath(EVENTS, { namespace }), body }).catch((err: unknown) => {
      this.#log.warn('Failed to record an Event', { migration: `${namespace}/${m.metadata.name}`, reason, error: describeApiError(err) });
    });
  }
}
