// The admission fast path: which VMI a VMIM names and which MdevDevices it consumes, from informer
// caches kept in memory (an index by consumer uid), so a VMIM of a VMI without mediated devices is
// admitted after two map reads and no API call.
import type { CachedDevice } from '../controller/services.ts';
import type { Informer } from '../kube/informer.ts';
import { objectKey } from '../kube/resource.ts';
import { LABEL_HOSTNAME, type Vmi } from '../kubevirt/types.ts';
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

export function informerVmiLookup(vmis: Informer<Vmi>, devices: Informer<CachedDevice>): VmiLookup {
  const index = new ConsumerIndex(devices);
  return {
    lookup(namespace: string, name: string): VmiFacts | undefined {
      if (!vmis.hasSynced() || !devices.hasSynced()) throw new CacheNotSyncedError();
      const vmi = vmis.get(objectKey(namespace, name));
      return vmi ? { vmi, deviceNames: index.devicesOf(vmi.metadata.uid) } : undefined;
    },
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
