// @peculiar/x509 resolves its algorithm providers through tsyringe, which refuses to load unless a
// Reflect metadata polyfill is present. tsyringe only reads and writes plain metadata here (the
// library's classes have no injected constructor parameters), so a WeakMap-backed store of the
// three functions it calls is sufficient. If the real `reflect-metadata` package is loaded first,
// this module does nothing. Must be imported before '@peculiar/x509'.

type MetadataStore = WeakMap<object, Map<unknown, unknown>>;

interface ReflectMetadata {
  getMetadata?: (key: unknown, target: object) => unknown;
  getOwnMetadata?: (key: unknown, target: object) => unknown;
  defineMetadata?: (key: unknown, value: unknown, target: object) => void;
}

const reflect = Reflect as unknown as ReflectMetadata;

if (typeof reflect.getMetadata !== 'function') {
  const store: MetadataStore = new WeakMap();
  const own = (target: object): Map<unknown, unknown> | undefined => store.get(target);

  reflect.defineMetadata = (key, value, target) => {
    let map = own(target);
    if (!map) {
      map = new Map();
      store.set(target, map);
    }
    map.set(key, value);
  };
  reflect.getOwnMetadata = (key, target) => own(target)?.get(key);
  reflect.getMetadata = (key, target) => {
    // Walk the prototype chain, as reflect-metadata does for inherited metadata.
    for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
      const map = own(t);
      if (map?.has(key)) return map.get(key);
    }
    return undefined;
  };
}
