// Who uses which device on this node: the kubelet's PodResources answer joined with the node's
// virt-launcher pods (an informer filtered to this node and KubeVirt's launcher label). A failed
// kubelet call keeps the last good answer: reporting every device free because the kubelet
// hiccupped would offer in-use devices as migration targets.
import type { KubeConfig } from '@kubernetes/client-node';
import type { ConsumerReference } from '../api/v1alpha1/index.ts';
import { informerFor, type Informer } from '../kube/informer.ts';
import type { ResourceRef } from '../kube/resource.ts';
import type { Logger } from '../observability/logger.ts';
import {
  launcherFromPod,
  mapDeviceConsumers,
  type IommuGroups,
  type PodMeta,
} from './podresources/consumers.ts';
import type { LauncherPod, PodDevices } from './podresources/types.ts';
import { APP_VIRT_LAUNCHER, LABEL_APP } from '../kubevirt/types.ts';

export const PODS: ResourceRef = { group: '', version: 'v1', plural: 'pods', namespaced: true };

export type ConsumerState =
  | { known: true; consumers: ReadonlyMap<string, ConsumerReference>; stale?: string }
  | { known: false; consumers: ReadonlyMap<string, ConsumerReference>; why: string };

/** A pod of the informer: the VMI it runs when it is a virt-launcher pod. */
interface PodEntry {
  launcher?: LauncherPod;
}

export interface ConsumerLookupOptions {
  nodeName: string;
  /** The kubelet's answer; absent = no PodResources socket configured (consumers unknown). */
  podDevices?: () => Promise<PodDevices[]>;
  log: Logger;
}

export class ConsumerLookup {
  readonly #opts: ConsumerLookupOptions;
  #pods: Informer<PodEntry> | undefined;
  #last: ReadonlyMap<string, ConsumerReference> | undefined;

  constructor(opts: ConsumerLookupOptions) {
    this.#opts = opts;
  }

  /** Whether consumers can be known at all (a PodResources source is configured). */
  get enabled(): boolean {
    return this.#opts.podDevices !== undefined;
  }

  /** Starts the virt-launcher pod informer for this node (only when PodResources is configured). */
  async start(kc: KubeConfig): Promise<void> {
    if (!this.enabled) return;
    this.#pods = informerFor<PodEntry>(kc, {
      resource: PODS,
      name: 'agent-launcher-pods',
      fieldSelector: `spec.nodeName=${this.#opts.nodeName}`,
      labelSelector: `${LABEL_APP}=${APP_VIRT_LAUNCHER}`,
      parse: parsePod,
    });
    this.#pods.start();
    await this.#pods.waitForSync();
  }

  synced(): boolean {
    return this.#pods?.hasSynced() ?? !this.enabled;
  }

  async stop(): Promise<void> {
    await this.#pods?.stop();
  }

  async lookup(iommuGroups: IommuGroups = new Map()): Promise<ConsumerState> {
    const source = this.#opts.podDevices;
    if (!source) return { known: false, consumers: new Map(), why: 'no --podresources-socket configured' };
    let podDevices: PodDevices[];
    try {
      podDevices = await source();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      this.#opts.log.warn('Failed to read PodResources from the kubelet; keeping the last known consumers', { error: why });
      return this.#last ? { known: true, consumers: this.#last, stale: why } : { known: false, consumers: new Map(), why };
    }
    const launchers = (this.#pods?.list() ?? []).flatMap((p) => (p.launcher ? [p.launcher] : []));
    const mapping = mapDeviceConsumers(podDevices, launchers, iommuGroups);
    for (const c of mapping.conflicts) {
      this.#opts.log.warn('Two VMIs claim one device; keeping the first', { device: c.deviceId, kept: c.kept.name, dropped: c.dropped.name });
    }
    if (mapping.unattributed.length > 0) {
      this.#opts.log.debug('Devices held by pods that are not known virt-launcher pods', { count: mapping.unattributed.length });
    }
    this.#last = mapping.consumers;
    return { known: true, consumers: mapping.consumers };
  }
}

function parsePod(raw: unknown): PodEntry | undefined {
  const meta = (raw as { metadata?: Record<string, unknown> } | null)?.metadata;
  if (typeof meta?.name !== 'string' || typeof meta.namespace !== 'string') return undefined;
  try {
    const launcher = launcherFromPod(meta as unknown as PodMeta);
    return launcher ? { launcher } : {};
  } catch {
    return {};
  }
}
