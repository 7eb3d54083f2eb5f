// The transition rules (`self == oldSelf`) of the CRDs, checked in process: zod sees one object
// at a time, so an update is checked here against the stored object.
import type { KindName } from './constants.ts';

export const IMMUTABLE_FIELDS: Record<KindName, readonly string[]> = {
  MdevDevice: ['spec.nodeName', 'spec.id'],
  MdevMigration: [],
  MdevProbe: ['spec.nodeName', 'spec.typeId', 'spec.sourceVersion'],
  MdevNode: ['spec.nodeName'],
};

function valueAt(obj: unknown, path: string): unknown {
  let current: unknown = obj;
  for (const key of path.split('.')) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** The immutable fields an update from `before` to `after` would change; empty when it may proceed. */
export function immutableFieldViolations(kind: KindName, before: unknown, after: unknown): string[] {
  return IMMUTABLE_FIELDS[kind].filter((path) => JSON.stringify(valueAt(before, path)) !== JSON.stringify(valueAt(after, path)));
}
