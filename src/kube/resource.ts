// Naming of API resources: which URL serves a group/version/plural, and the short label used in
// metrics and logs. Plain functions over plain data.

export interface ResourceRef {
  /** API group; '' for the core group (ConfigMaps, Nodes, ...). */
  group: string;
  version: string;
  /** Lowercase plural resource name as it appears in the URL (`configmaps`, `mdevdevices`). */
  plural: string;
  /** Whether objects live in namespaces; cluster-scoped resources ignore any namespace given. */
  namespaced: boolean;
}

export interface ObjectPathOptions {
  namespace?: string;
  name?: string;
  subresource?: string;
}

export function apiVersionOf(ref: ResourceRef): string {
  return ref.group === '' ? ref.version : `${ref.group}/${ref.version}`;
}

/**
 * The REST path for a collection or object. A namespaced resource without a namespace gives the
 * all-namespaces collection path (valid for list/watch only).
 */
export function resourcePath(ref: ResourceRef, opts: ObjectPathOptions = {}): string {
  const root = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  const ns = ref.namespaced && opts.namespace ? `/namespaces/${encodeURIComponent(opts.namespace)}` : '';
  let path = `${root}${ns}/${ref.plural}`;
  if (opts.name !== undefined) path += `/${encodeURIComponent(opts.name)}`;
  if (opts.subresource !== undefined) {
    if (opts.name === undefined) throw new Error(`subresource ${opts.subresource} of ${ref.plural} needs an object name`);
    path += `/${opts.subresource}`;
  }
  return path;
}

/** Metric/log label: `configmaps` for core, `mdevdevices.mdev-operator.io` otherwise (like kubectl). */
export function resourceLabel(ref: ResourceRef): string {
  return ref.group === '' ? ref.plural : `${ref.plural}.${ref.group}`;
}

/** Cache key of an object: `namespace/name`, or `name` for cluster-scoped objects (client-go style). */
export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** Splits a key made by objectKey. */
export function splitObjectKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
