// The admission fast path: which VMI a VMIM names, which MdevDevices it consumes (an index by
// consumer uid) and which of its device requests name a mediated device type the cluster knows
// (an index of MdevDevice and MdevNode type names), from informer caches kept in memory, so a VMIM of a VMI
// without mediated devices is admitted after a few map reads and no API call.
import type { CachedDevice, CachedMdevNode } from '../controller/services.ts';
import type { Informer } from '../kube/informer.ts';
import { objectKey } from '../kube/resource.ts';
import { LABEL_HOSTNAME, vmiDeviceRequests, type Vmi } from '../kubevirt/types.ts';
import type { NodeObject } from '../controller/services.ts';
import type { NodeNames, VmiFacts, VmiLookup } from './admission-ports.ts';

export class CacheNotSyncedError extends Error {
  constructor() {
    super('mdev-operator webhook: the VMI and MdevDevice caches have not synced yet; the API server applies the webhook failurePolicy');
    this.name = 'CacheNotSyncedError';
  }
}

/** Device names by consumer uid, maintained from the MdevDevice informer's events. */
export class ConsumerIndex {
  readonly #byUid = new Map<string, Set<string>>();
  readonly #uidOf = new Map<string, string>();

  constructor(devices: Informer<CachedDevice>) {
    const put = (d: CachedDevice): void => this.#set(d.metadata.name, d.status?.consumer?.uid);
    devices.addHandlers({ add: put, update: (_o, n) => put(n), delete: (d) => this.#set(d.metadata.name, undefined) });
    for (const d of devices.list()) put(d);
  }

  devicesOf(uid: string): string[] {
    return [...(this.#byUid.get(uid) ?? [])].sort();
  }

  #set(device: string, uid: string | undefined): void {
    const old = this.#uidOf.get(device);
    if (old === uid) return;
    if (old !== undefined) {
      const set = this.#byUid.get(old);
      set?.delete(device);
      if (set?.size === 0) this.#byUid.delete(old);
    }
    if (uid === undefined) {
      this.#uidOf.delete(device);
      return;
    }
    this.#uidOf.set(device, uid);
    let set = this.#byUid.get(uid);
    if (!set) this.#byUid.set(uid, (set = new Set()));
    set.add(device);
  }
}

/**
 * The device-plugin resource name a mediated device type is requested by, reduced to a key: KubeVirt
 * matches `permittedHostDevices.mediatedDevices[].mdevNameSelector` to the type's `name` with
 * spaces as underscores, and the resource names in use follow `<vendor domain>/<that name>`
 * (`nvidia.com/GRID_T4-1Q` for "GRID T4-1Q"). Runs of anything but letters, digits, `_.-` become `_`.
 */
export function mdevResourceKey(text: string): string {
  return text.replace(/[^A-Za-z0-9_.-]+/g, '_');
}

const typeKeys = (types: readonly { id: string; name?: string }[]): string[] => [...new Set(types.flatMap((t) => [t.name, t.id]).filter((x): x is string => !!x).map(mdevResourceKey))];

/**
 * Resource-name keys of every mediated device type the cluster knows (by name and id): the type of
 * some MdevDevice, or a type some node's agent reports it can create (MdevNode capacity).
 */
export class MdevTypeIndex {
  readonly #count = new Map<string, number>();
  readonly #keysOf = new Map<string, string[]>();

  constructor(devices: Informer<CachedDevice>, mdevNodes?: Informer<CachedMdevNode>) {
    const put = (d: CachedDevice): void => this.#set(`device/${d.metadata.name}`, typeKeys([d.spec.type]));
    devices.addHandlers({ add: put, update: (_o, n) => put(n), delete: (d) => this.#set(`device/${d.metadata.name}`, []) });
    const putNode = (n: CachedMdevNode): void => this.#set(`node/${n.metadata.name}`, typeKeys((n.spec.capacity ?? []).map((c) => c.type)));
    mdevNodes?.addHandlers({ add: putNode, update: (_o, n) => putNode(n), delete: (n) => this.#set(`node/${n.metadata.name}`, []) });
  }

  /** Whether `resourceName` (a VMI's `deviceName`) names a known mediated device type. */
  isMdevResource(resourceName: string): boolean {
    const key = mdevResourceKey(resourceName.slice(resourceName.lastIndexOf('/') + 1));
    return key !== '' && this.#count.has(key);
  }

  /** Replaces the keys one object contributes. */
  #set(object: string, keys: string[]): void {
    for (const k of this.#keysOf.get(object) ?? []) {
      const n = (this.#count.get(k) ?? 1) - 1;
      if (n <= 0) this.#count.delete(k);
      else this.#count.set(k, n);
    }
    for (const k of keys) this.#count.set(k, (this.#count.get(k) ?? 0) + 1);
    if (keys.length > 0) this.#keysOf.set(object, keys);
    else this.#keysOf.delete(object);
  }
}

export interface VmiLookupOptions {
  /** Types nodes can create count as known mediated device types too. */
  mdevNodes?: Informer<CachedMdevNode>;
  /** Reads a VMI the cache does not hold from the API server (undefined = absent). */
  fetchVmi?: (namespace: string, name: string) => Promise<Vmi | undefined>;
  /** Caches that may be behind the API server now (ControllerCaches.currency().behind). */
  behind?: () => readonly string[];
}

export function informerVmiLookup(vmis: Informer<Vmi>, devices: Informer<CachedDevice>, opts: VmiLookupOptions = {}): VmiLookup {
  const index = new ConsumerIndex(devices);
  const types = new MdevTypeIndex(devices, opts.mdevNodes);
  const factsOf = (vmi: Vmi): VmiFacts => ({
    vmi,
    deviceNames: index.devicesOf(vmi.metadata.uid),
    mdevRequests: vmiDeviceRequests(vmi)
      .map((r, i, all) => ({ ...r, at: all.slice(0, i).filter((x) => x.kind === r.kind).length }))
      // A DRA entry (claimName) names no device-plugin resource: nothing to match.
      .filter((r) => r.deviceName !== undefined && types.isMdevResource(r.deviceName))
      .map((r) => `${r.kind === 'gpu' ? 'gpus' : 'hostDevices'}[${r.at}] ${r.name} (${r.deviceName})`),
  });
  const { fetchVmi, behind } = opts;
  return {
    lookup(namespace: string, name: string): VmiFacts | undefined {
      if (!vmis.hasSynced() || !devices.hasSynced()) throw new CacheNotSyncedError();
      const vmi = vmis.get(objectKey(namespace, name));
      return vmi ? factsOf(vmi) : undefined;
    },
    ...(fetchVmi
      ? {
          async fetch(namespace: string, name: string): Promise<VmiFacts | undefined> {
            const vmi = await fetchVmi(namespace, name);
            return vmi ? factsOf(vmi) : undefined;
          },
        }
      : {}),
    ...(behind ? { behind } : {}),
  };
}

/** Node names and their `kubernetes.io/hostname` label values, from the Node cache. */
export function informerNodeNames(nodes: Informer<NodeObject>): NodeNames {
  return {
    hostnameOf: (node) => nodes.get(node)?.labels[LABEL_HOSTNAME],
    nodeOf: (value) => {
      if (nodes.get(value)?.labels[LABEL_HOSTNAME] === value) return value;
      return nodes.list().find((n) => n.labels[LABEL_HOSTNAME] === value)?.name;
    },
  };
}
