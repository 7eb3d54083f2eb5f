// Publishes the desired state of one node: server-side apply under the agent's field manager
// (metadata+spec on the main resource, status on the status subresource), only for objects whose
// owned content differs from what the API server is known to hold, and deletion of the node's
// objects that discovery no longer finds. What the server holds is learned from the agent's own
// writes and from an informer on the node's objects (observe/forget), so a restarted agent with
// the same devices writes nothing, and an object deleted behind its back is recreated.
import type { KubeConfig } from '../kube/kubeconfig.ts';
import { FIELD_MANAGER_AGENT, GROUP, PLURALS, VERSION } from '../api/v1alpha1/constants.ts';
import type { ConsumerReference } from '../api/v1alpha1/mdev-device.ts';
import { serverSideApply, type ApplyObject } from '../kube/apply.ts';
import { describeApiError, isNotFound } from '../kube/errors.ts';
import { kubeRequest } from '../kube/request.ts';
import { resourcePath, type ResourceRef } from '../kube/resource.ts';
import type { Logger } from '../observability/logger.ts';
import type { AgentMetrics } from './agent-metrics.ts';
import { desiredHashes, type AppliedHashes, type ObservedSummary } from './applied-content.ts';
import { specBody, statusBody, type DesiredObject } from './desired-state.ts';

/** Applies in flight at once while publishing (the benchmark's floor uses the same). */
export const DEFAULT_PUBLISH_CONCURRENCY = 8;

export const MDEV_DEVICE_RESOURCE: ResourceRef = { group: GROUP, version: VERSION, plural: PLURALS.MdevDevice, namespaced: false };
export const MDEV_NODE_RESOURCE: ResourceRef = { group: GROUP, version: VERSION, plural: PLURALS.MdevNode, namespaced: false };

export interface PublishResult {
  /** Objects whose main resource or status was applied. */
  applied: string[];
  deleted: string[];
  unchanged: number;
  /** `name: error` for writes that failed; they are retried on the next pass. */
  failed: string[];
}

export interface PublisherOptions {
  kc: KubeConfig;
  nodeName: string;
  metrics: AgentMetrics;
  log: Logger;
  /** Writes in flight at once (default 8): a first publish of hundreds of devices is not serial. */
  concurrency?: number;
}

export class Publisher {
  readonly #opts: PublisherOptions;
  /** Device object name → what the server holds (as far as the agent knows). */
  readonly #devices = new Map<string, KnownDevice>();
  #node: AppliedHashes | undefined;

  constructor(opts: PublisherOptions) {
    this.#opts = opts;
  }

  /** An MdevDevice or MdevNode of this node as the server holds it (informer add/update). */
  observe(kind: 'MdevDevice' | 'MdevNode', summary: ObservedSummary): void {
    if (summary.nodeName !== this.#opts.nodeName) return;
    const hashes: AppliedHashes = { main: summary.main };
    if (summary.status !== undefined) hashes.status = summary.status;
    if (kind === 'MdevNode') this.#node = hashes;
    else this.#devices.set(summary.name, { ...hashes, deviceId: summary.deviceId, consumer: summary.consumer });
  }

  /** The object is gone from the server (informer delete): the next pass recreates it if desired. */
  forget(kind: 'MdevDevice' | 'MdevNode', name: string): void {
    if (kind === 'MdevNode') this.#node = undefined;
    else this.#devices.delete(name);
  }

  /** Names of this node's MdevDevices the publisher believes exist. */
  knownDevices(): string[] {
    return [...this.#devices.keys()];
  }

  /** The consumers this node's MdevDevices hold on the server, by canonical device id. */
  publishedConsumers(): Map<string, ConsumerReference> {
    const out = new Map<string, ConsumerReference>();
    for (const d of this.#devices.values()) if (d.deviceId !== undefined && d.consumer) out.set(d.deviceId, d.consumer);
    return out;
  }

  /**
   * Publishes `devices` as they come (a pass hands each over once its version is read), then
   * `node()`, then deletes the node's MdevDevices that were not among `devices`. When `devices`
   * fails part way, what was written stays (each object was complete), the MdevNode is not written
   * and nothing is deleted: the rest of the inventory is unknown. Resolves after every write ended.
   */
  async publish(devices: AsyncIterable<DesiredObject> | Iterable<DesiredObject>, node: () => Promise<DesiredObject>): Promise<PublishResult> {
    const result: PublishResult = { applied: [], deleted: [], unchanged: 0, failed: [] };
    const wanted = new Set<string>();
    const limit = this.#opts.concurrency ?? DEFAULT_PUBLISH_CONCURRENCY;
    await inParallel(devices, limit, (obj) => {
      wanted.add(obj.metadata.name);
      return this.#reconcile(obj, result);
    });
    await this.#reconcile(await node(), result);
    const vanished = [...this.#devices.keys()].filter((name) => !wanted.has(name));
    await inParallel(vanished, limit, (name) => this.#delete(name, result));
    return result;
  }

  async #reconcile(obj: DesiredObject, result: PublishResult): Promise<void> {
    const want = desiredHashes(obj);
    const have = obj.kind === 'MdevNode' ? this.#node : this.#devices.get(obj.metadata.name);
    const writeMain = have?.main !== want.main;
    const writeStatus = want.status !== undefined && (writeMain || have?.status !== want.status);
    if (!writeMain && !writeStatus) {
      result.unchanged++;
      return;
    }
    const ref = obj.kind === 'MdevNode' ? MDEV_NODE_RESOURCE : MDEV_DEVICE_RESOURCE;
    const known: KnownDevice = { ...(have ?? { main: '' }) };
    try {
      if (writeMain) {
        await this.#apply(ref, specBody(obj), undefined);
        this.#opts.metrics.wrote(obj.kind, 'apply');
        known.main = want.main;
      }
      if (writeStatus) {
        await this.#apply(ref, statusBody(obj), 'status');
        this.#opts.metrics.wrote(obj.kind, 'apply-status');
        known.status = want.status;
        if (obj.kind === 'MdevDevice') Object.assign(known, writtenConsumer(obj));
      }
      result.applied.push(obj.metadata.name);
    } catch (err) {
      this.#opts.metrics.writeErrors.inc({ kind: obj.kind });
      result.failed.push(`${obj.metadata.name}: ${describeApiError(err)}`);
      this.#opts.log.warn(`Failed to apply ${obj.kind}; retrying on the next discovery pass`, {
        name: obj.metadata.name,
        error: describeApiError(err),
      });
    }
    // Record what did reach the server, even after a partial failure, so only the rest is retried.
    if (obj.kind === 'MdevNode') this.#node = known;
    else if (known.main !== '') this.#devices.set(obj.metadata.name, known);
  }

  async #apply(ref: ResourceRef, body: Record<string, unknown>, subresource: 'status' | undefined): Promise<void> {
    // force: the agent is the only writer of these fields; a conflict can only come from a human
    // edit or an older agent version, and the node's own observation must win.
    await serverSideApply(this.#opts.kc, ref, body as ApplyObject, { fieldManager: FIELD_MANAGER_AGENT, force: true, subresource });
  }

  async #delete(name: string, result: PublishResult): Promise<void> {
    try {
      await kubeRequest(this.#opts.kc, { method: 'DELETE', path: resourcePath(MDEV_DEVICE_RESOURCE, { name }) });
      this.#opts.metrics.wrote('MdevDevice', 'delete');
    } catch (err) {
      if (!isNotFound(err)) {
        this.#opts.metrics.writeErrors.inc({ kind: 'MdevDevice' });
        result.failed.push(`${name}: ${describeApiError(err)}`);
        this.#opts.log.warn('Failed to delete a vanished device\'s MdevDevice; retrying on the next pass', { name, error: describeApiError(err) });
        return;
      }
    }
    this.#devices.delete(name);
    result.deleted.push(name);
    this.#opts.log.info('Deleted the MdevDevice of a device that vanished', { name });
  }
}

/** A device as the server holds it: hashes, plus the consumer the agent may have to keep. */
interface KnownDevice extends AppliedHashes {
  deviceId?: string;
  consumer?: ConsumerReference;
}

function writtenConsumer(obj: DesiredObject): Pick<KnownDevice, 'deviceId' | 'consumer'> {
  const id = obj.spec.id;
  return { deviceId: typeof id === 'string' ? id.toLowerCase() : undefined, consumer: obj.status?.consumer as ConsumerReference | undefined };
}

/**
 * Runs `fn` over `items` (taken as they come) with at most `limit` calls in flight. When `items`
 * fails, the calls already started still finish before the failure is passed on.
 */
async function inParallel<T>(items: AsyncIterable<T> | Iterable<T>, limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const it = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : fromSync(items[Symbol.iterator]());
  // An async generator queues concurrent next() calls, so the workers share it safely.
  const worker = async (): Promise<void> => {
    for (let n = await it.next(); n.done !== true; n = await it.next()) await fn(n.value);
  };
  const ends = await Promise.allSettled(Array.from({ length: limit }, worker));
  const failed = ends.find((e): e is PromiseRejectedResult => e.status === 'rejected');
  if (failed) throw failed.reason;
}

function fromSync<T>(it: Iterator<T>): AsyncIterator<T> {
  return { next: async () => it.next() };
}
