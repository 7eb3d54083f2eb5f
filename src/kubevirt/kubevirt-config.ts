// The parts of the KubeVirt CR (kubevirt.io/v1 KubeVirt, one per cluster) that constrain where a
// migration target can be: `spec.configuration.developerConfiguration.nodeSelectors` (every
// virt-launcher pod selects them) and `spec.workloads.nodePlacement` (where virt-handler runs).
// Read by polling a list: the CR changes rarely, and a cluster without the KubeVirt CRD (or without
// permission to read it) must not hold up the controller's caches — then there is no cluster-wide
// constraint to add, which the log says once.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { z } from 'zod';
import { realClock, sleep, type Clock } from '../kube/clock.ts';
import { decodeLeniently, describeUnreadable, type FieldGroup } from '../kube/lenient-decode.ts';
import { describeApiError, isForbidden, isNotFound } from '../kube/errors.ts';
import { kubeRequest } from '../kube/request.ts';
import { resourcePath, type ResourceRef } from '../kube/resource.ts';
import type { Logger } from '../observability/logger.ts';
import { DAEMONSET_TOLERATIONS, LABEL_OS, type KubevirtCluster } from './target-constraints.ts';
import { KUBEVIRT_GROUP, KUBEVIRT_VERSION, requiredNodeAffinity, toleration } from './types.ts';

export const KUBEVIRT_CR_RESOURCE: ResourceRef = { group: KUBEVIRT_GROUP, version: KUBEVIRT_VERSION, plural: 'kubevirts', namespaced: true };

const kubevirtCr = z.looseObject({
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
  spec: z
    .looseObject({
      configuration: z
        .looseObject({ developerConfiguration: z.looseObject({ nodeSelectors: z.record(z.string(), z.string()).optional() }).optional() })
        .optional(),
      workloads: z
        .looseObject({
          nodePlacement: z
            .looseObject({
              nodeSelector: z.record(z.string(), z.string()).optional(),
              affinity: requiredNodeAffinity.optional(),
              tolerations: z.array(toleration).optional(),
            })
            .optional(),
        })
        .optional(),
    })
    .default({}),
});

const GROUPS: FieldGroup[] = [['spec'], ['spec', 'configuration'], ['spec', 'workloads']];

/** The constraints one KubeVirt CR imposes; unreadable parts are left out (and logged by the caller). */
export function parseKubevirtCluster(raw: unknown): { cluster: KubevirtCluster; unreadable: string[] } | undefined {
  const r = decodeLeniently(kubevirtCr, raw, GROUPS);
  if (!r.ok) return undefined;
  const spec = r.value.spec;
  const cluster: KubevirtCluster = { nodeSelectors: spec.configuration?.developerConfiguration?.nodeSelectors ?? {} };
  const placement = spec.workloads?.nodePlacement;
  if (placement) {
    const terms = placement.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
    // What virt-handler's pods end up with: placement.go adds the OS selector, the DaemonSet controller its tolerations.
    cluster.workloadPlacement = {
      nodeSelector: { [LABEL_OS]: 'linux', ...placement.nodeSelector },
      tolerations: [...(placement.tolerations ?? []), ...DAEMONSET_TOLERATIONS],
      ...(terms ? { requiredTerms: terms } : {}),
    };
  }
  return { cluster, unreadable: r.unreadable.map(describeUnreadable) };
}

export interface KubevirtConfigOptions {
  kc: KubeConfig;
  log: Logger;
  /** How often the CR is read again (default 30 s). */
  intervalMs?: number;
  clock?: Clock;
}

/** Polls the KubeVirt CR; `current()` is undefined without one. */
export class KubevirtConfigSource {
  readonly #o: KubevirtConfigOptions;
  readonly #stop = new AbortController();
  #current: KubevirtCluster | undefined;
  #first: Promise<void> | undefined;
  #loop: Promise<void> | undefined;
  #said = '';

  constructor(opts: KubevirtConfigOptions) {
    this.#o = opts;
  }

  current(): KubevirtCluster | undefined {
    return this.#current;
  }

  /** Starts polling; the first read is awaited by `firstRead()`. */
  start(): void {
    if (this.#loop) return;
    this.#first = this.#read();
    this.#loop = this.#first.then(() => this.#poll());
  }

  /** Resolves after the first read ended (with a CR, without one, or failed). */
  async firstRead(): Promise<void> {
    await this.#first;
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  async #poll(): Promise<void> {
    const clock = this.#o.clock ?? realClock;
    while (!this.#stop.signal.aborted) {
      await sleep(clock, this.#o.intervalMs ?? 30_000, this.#stop.signal);
      if (!this.#stop.signal.aborted) await this.#read();
    }
  }

  async #read(): Promise<void> {
    try {
      const list = (await kubeRequest(this.#o.kc, { method: 'GET', path: resourcePath(KUBEVIRT_CR_RESOURCE), signal: this.#stop.signal })) as { items?: unknown[] };
      const parsed = (list.items ?? []).map(parseKubevirtCluster).filter((p) => p !== undefined);
      if (parsed.length > 1) this.#say('more-than-one', 'More than one KubeVirt CR; using the first, as KubeVirt itself refuses to run with two');
      const first = parsed[0];
      if (first && first.unreadable.length > 0) this.#say(`unreadable:${first.unreadable.join()}`, 'Parts of the KubeVirt CR could not be read and are ignored', { unreadable: first.unreadable });
      this.#current = first?.cluster;
    } catch (err) {
      if (this.#stop.signal.aborted) return;
      if (isNotFound(err) || isForbidden(err)) {
        this.#say('absent', 'No readable KubeVirt CR (kubevirt.io/v1 kubevirts): no cluster-wide nodeSelectors or nodePlacement are applied to targets', { error: describeApiError(err) });
        this.#current = undefined;
        return;
      }
      this.#o.log.warn('Failed to read the KubeVirt CR; keeping the last one read', { error: describeApiError(err) });
    }
  }

  #say(key: string, message: string, extra: Record<string, unknown> = {}): void {
    if (this.#said === key) return;
    this.#said = key;
    this.#o.log.info(message, extra);
  }
}
