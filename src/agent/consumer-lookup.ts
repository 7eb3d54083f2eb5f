// Who uses which device on this node: the kubelet's PodResources answer joined with the pods bound
// to the node (an informer with a spec.nodeName field selector) and, for DRA claim devices, the
// node's ResourceSlices. Pod changes that may move devices are reported to the agent (`onChange`),
// which runs a pass within a second instead of waiting for the resync interval. A failed kubelet
// call keeps the consumers (kept-consumers.ts) and is tracked: the agent reports PodResources as
// unreachable in metrics and, after a bound, in readiness.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import type { ConsumerReference } from '../api/v1alpha1/index.ts';
import type { Clock } from '../kube/clock.ts';
import { informerFor, type Informer } from '../kube/informer.ts';
import type { ResourceRef } from '../kube/resource.ts';
import type { Logger } from '../observability/logger.ts';
import type { AgentMetrics } from './agent-metrics.ts';
import { keptConsumers } from './kept-consumers.ts';
import { claimDeviceIds, parseResourceSlice, type SliceDevices } from './podresources/claim-devices.ts';
import { mapDeviceConsumers, type ConsumerMapping, type IommuGroups } from './podresources/consumers.ts';
import { parseNodePod, podEventMatters, type WatchedPod } from './podresources/node-pod.ts';
import { isClaimDevice, type PodResourceEntry } from './podresources/types.ts';

export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true };
export const RESOURCE_SLICES: ResourceRef = { group: 'resource.k8s.io', version: 'v1', plural: 'resourceslices', namespaced: false };

export type ConsumerState = {
  /** What to publish, by canonical device id. */
  consumers: ReadonlyMap<string, ConsumerReference>;
  /**
   * `podresources`: from this pass's answer; `kept`: the kubelet did not answer and the consumers
   * are the last known ones (`why` says what failed); `unconfigured`: no PodResources source.
   */
  source: 'podresources' | 'kept' | 'unconfigured';
  why?: string;
};

/** PodResources health: how long calls have been failing (undefined: the last one answered), and why. */
export type PodResourcesHealth = { failingForMs?: number; lastError?: string };

export interface ConsumerLookupOptions {
  nodeName: string;
  /** The kubelet's answer; absent = no PodResources socket configured (consumers unknown). */
  podDevices?: () => Promise<readonly PodResourceEntry[]>;
  /** Called when a pod change on the node may have moved devices. */
  onChange?: () => void;
  metrics: AgentMetrics;
  clock: Clock;
  log: Logger;
}

export class ConsumerLookup {
  readonly #opts: ConsumerLookupOptions;
  #kc: KubeConfig | undefined;
  #pods: Informer<WatchedPod> | undefined;
  #slices: Informer<SliceDevices> | undefined;
  #previous: ReadonlyMap<string, ConsumerReference> | undefined;
  #failingSince: number | undefined;
  #lastError: string | undefined;
  #warnedUnmapped = new Set<string>();

  constructor(opts: ConsumerLookupOptions) {
    this.#opts = opts;
  }

  /** Whether consumers can be known at all (a PodResources source is configured). */
  get enabled(): boolean {
    return this.#opts.podDevices !== undefined;
  }

  /** Starts the informer on this node's pods (only when PodResources is configured). */
  async start(kc: KubeConfig): Promise<void> {
    if (!this.enabled) return;
    this.#kc = kc;
    this.#pods = informerFor<WatchedPod>(kc, {
      resource: PODS,
      name: 'agent-node-pods',
      fieldSelector: `spec.nodeName=${this.#opts.nodeName}`,
      parse: parseNodePod,
    });
    const changed = (before: WatchedPod | undefined, after: WatchedPod | undefined): void => {
      if (podEventMatters(before, after)) this.#opts.onChange?.();
    };
    this.#pods.addHandlers({ add: (p) => changed(undefined, p), update: changed, delete: (p) => changed(p, undefined) });
    this.#pods.start();
    await this.#pods.waitForSync();
  }

  synced(): boolean {
    return this.#pods?.hasSynced() ?? !this.enabled;
  }

  health(): PodResourcesHealth {
    if (this.#failingSince === undefined) return {};
    return { failingForMs: this.#opts.clock.now() - this.#failingSince, lastError: this.#lastError };
  }

  async stop(): Promise<void> {
    await Promise.all([this.#pods?.stop(), this.#slices?.stop()]);
  }

  /** The consumers to publish; `published` is what the node's MdevDevices hold now. */
  async lookup(iommuGroups: IommuGroups, published: ReadonlyMap<string, ConsumerReference>): Promise<ConsumerState> {
    const source = this.#opts.podDevices;
    if (!source) return { consumers: new Map(), source: 'unconfigured', why: 'no --podresources-socket configured' };
    let entries: readonly PodResourceEntry[];
    try {
      entries = await source();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.#failed(why);
      return { consumers: keptConsumers({ previous: this.#previous, published }), source: 'kept', why };
    }
    this.#succeeded();
    const mapping = mapDeviceConsumers(entries, this.#pods?.list() ?? [], iommuGroups, this.#claimIds(entries));
    this.#report(mapping);
    const consumers = keptConsumers({ fresh: mapping, previous: this.#previous, published });
    this.#previous = consumers;
    return { consumers, source: 'podresources' };
  }

  #failed(why: string): void {
    const first = this.#failingSince === undefined;
    this.#failingSince ??= this.#opts.clock.now();
    this.#lastError = why;
    this.#opts.metrics.podResourcesUp.set(0);
    this.#opts.metrics.podResourcesErrors.inc();
    if (first) this.#opts.log.warn('Failed to read PodResources from the kubelet; keeping the last known consumers', { error: why });
  }

  #succeeded(): void {
    if (this.#failingSince !== undefined) this.#opts.log.info('PodResources answers again');
    this.#failingSince = undefined;
    this.#lastError = undefined;
    this.#opts.metrics.podResourcesUp.set(1);
  }

  /**
   * The ResourceSlice id map, once any DRA claim device shows up: clusters without DRA never
   * watch ResourceSlices. Until the informer has listed, claim devices stay unmapped.
   */
  #claimIds(entries: readonly PodResourceEntry[]): Map<string, string> {
    if (!this.#slices && this.#kc && entries.some(isClaimDevice)) {
      this.#slices = informerFor<SliceDevices>(this.#kc, {
        resource: RESOURCE_SLICES,
        name: 'agent-resourceslices',
        fieldSelector: `spec.nodeName=${this.#opts.nodeName}`,
        parse: parseResourceSlice,
      });
      this.#slices.addHandlers({ add: () => this.#opts.onChange?.(), update: () => this.#opts.onChange?.() });
      this.#slices.start();
    }
    return claimDeviceIds(this.#slices?.list() ?? []);
  }

  #report(mapping: ConsumerMapping): void {
    for (const c of mapping.conflicts) {
      this.#opts.log.warn('Two consumers claim one device; keeping the first', { device: c.deviceId, kept: `${c.kept.kind} ${c.kept.name}`, dropped: `${c.dropped.kind} ${c.dropped.name}` });
    }
    if (mapping.unresolved.length > 0) {
      this.#opts.log.debug('Devices held by pods not (yet) in the pod cache; keeping their published consumers', { count: mapping.unresolved.length });
    }
    this.#opts.metrics.unmappedClaimDevices.set(mapping.unmappedClaims.length);
    // Before the first ResourceSlice list every claim device is unmapped; that is not news.
    if (!this.#slices?.hasSynced()) return;
    for (const c of mapping.unmappedClaims) {
      const key = `${c.driver}/${c.pool}/${c.device}`;
      if (this.#warnedUnmapped.has(key)) continue;
      this.#warnedUnmapped.add(key);
      this.#opts.log.warn('A DRA claim device could not be mapped to a device of this node: its ResourceSlice carries no mdevUUID or resource.kubernetes.io/pciBusID attribute', {
        pod: `${c.namespace}/${c.pod}`, claim: `${c.claim.namespace}/${c.claim.name}`, driver: c.driver, pool: c.pool, device: c.device,
      });
    }
  }
}
