// Objects read from the API server are untrusted input: a malformed one is logged and skipped,
// never thrown, so one bad object cannot stop an informer loop.
import type { z } from 'zod';
import type { KindName } from './constants.ts';
import { mdevDevice, type MdevDevice } from './mdev-device.ts';
import { mdevMigration, type MdevMigration } from './mdev-migration.ts';
import { mdevNode, type MdevNode } from './mdev-node.ts';
import { mdevProbe, type MdevProbe } from './mdev-probe.ts';

export interface KindTypes {
  MdevDevice: MdevDevice;
  MdevMigration: MdevMigration;
  MdevProbe: MdevProbe;
  MdevNode: MdevNode;
}

export const SCHEMAS = {
  MdevDevice: mdevDevice,
  MdevMigration: mdevMigration,
  MdevProbe: mdevProbe,
  MdevNode: mdevNode,
} as const satisfies Record<KindName, z.ZodType>;

export interface Issue {
  /** Field path as the API server prints it: `spec.devices[0]`. */
  path: string;
  message: string;
}

export type Validation<T> = { ok: true; value: T } | { ok: false; issues: Issue[] };

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    return out ? `${out}.${String(key)}` : String(key);
  }, '');
}

/** Validates a whole object (apiVersion, kind, metadata, spec, status) of `kind`. */
export function validateObject<K extends KindName>(kind: K, obj: unknown): Validation<KindTypes[K]> {
  const result = SCHEMAS[kind].safeParse(obj);
  if (result.success) return { ok: true, value: result.data as KindTypes[K] };
  return { ok: false, issues: result.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })) };
}

export interface WarnLogger {
  warn(message: string, fields: Record<string, unknown>): unknown;
}

function nameOf(obj: unknown): string {
  try {
    const meta = (obj as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
    const name = typeof meta?.name === 'string' ? meta.name : '<unnamed>';
    return typeof meta?.namespace === 'string' ? `${meta.namespace}/${name}` : name;
  } catch {
    return '<unreadable>';
  }
}

/** The typed object, or undefined after logging `{kind, name, reason}`; never throws. */
export function parseFromWire<K extends KindName>(kind: K, obj: unknown, log: WarnLogger): KindTypes[K] | undefined {
  let reason: string;
  try {
    const result = validateObject(kind, obj);
    if (result.ok) return result.value;
    reason = result.issues.map((i) => `${i.path || '<root>'}: ${i.message}`).join('; ');
  } catch (err) {
    reason = err instanceof Error ? err.message : String(err);
  }
  try {
    log.warn(`Skipped malformed ${kind} read from the API server; fix or delete the object`, {
      kind,
      name: nameOf(obj),
      reason,
    });
  } catch {
    // A failing logger must not turn a skipped object into a crashed loop.
  }
  return undefined;
}
