// Lenient decoding of objects other components own (KubeVirt's VMIs and VMIMs, Pods, Nodes): a
// newer server may send fields we do not model (kept: schemas are loose), enum values we do not
// know (kept: such fields are plain strings) or a field in a shape we cannot read. The last case
// must not make the whole object vanish from a cache — a VMI that silently disappears is a VMI
// whose VMIMs the webhook admits unchecked — so the field's group is dropped, the rest decoded,
// and the dropped paths are remembered next to the object (never on it: it stays API-shaped).
// Callers that depend on a dropped field refuse with a message naming it (fail closed).
import type { z } from 'zod';

/** A field group that may be dropped when it cannot be read, as a path of keys. */
export type FieldGroup = readonly string[];

/** A dropped field group and why it could not be read (the first schema complaint inside it). */
export interface UnreadableField {
  field: string;
  reason: string;
}

export type LenientResult<T> = { ok: true; value: T; unreadable: UnreadableField[] } | { ok: false; field: string; message: string };

const unreadableOf = new WeakMap<object, readonly UnreadableField[]>();

/** Paths (`spec.tolerations`) that could not be read when `obj` was decoded; empty for a clean decode. */
export function unreadableFields(obj: object): readonly string[] {
  return (unreadableOf.get(obj) ?? []).map((u) => u.field);
}

/** The dropped groups with their reasons. */
export function unreadableDetails(obj: object): readonly UnreadableField[] {
  return unreadableOf.get(obj) ?? [];
}

/** Marks `obj` as decoded with these groups dropped (for objects derived from a decoded one). */
export function markUnreadable(obj: object, fields: readonly UnreadableField[]): void {
  if (fields.length > 0) unreadableOf.set(obj, [...fields]);
}

/** The first dropped group that is, contains or lies inside one of `fields`, if any. */
export function firstUnreadable(obj: object, fields: readonly string[]): UnreadableField | undefined {
  for (const d of unreadableDetails(obj)) {
    if (fields.some((f) => d.field === f || d.field.startsWith(`${f}.`) || f.startsWith(`${d.field}.`))) return d;
  }
  return undefined;
}

function pathText(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

/** The longest group that contains the issue's path, or undefined when no group does. */
function groupOf(path: readonly PropertyKey[], groups: readonly FieldGroup[]): FieldGroup | undefined {
  let best: FieldGroup | undefined;
  for (const g of groups) {
    if (g.length > path.length || !g.every((k, i) => path[i] === k)) continue;
    if (!best || g.length > best.length) best = g;
  }
  return best;
}

function dropPath(obj: unknown, path: FieldGroup): void {
  let cur = obj as Record<string, unknown> | undefined;
  for (let i = 0; i < path.length - 1; i++) {
    const next = cur?.[path[i] as string];
    if (typeof next !== 'object' || next === null) return;
    cur = next as Record<string, unknown>;
  }
  if (cur && typeof cur === 'object') delete cur[path[path.length - 1] as string];
}

/**
 * Parses `raw`; each failing field inside one of `groups` drops that group (named in `unreadable`)
 * and the rest is parsed again. A failure outside every group (the object's identity) fails the
 * whole decode, naming the field.
 */
export function decodeLeniently<S extends z.ZodType>(schema: S, raw: unknown, groups: readonly FieldGroup[]): LenientResult<z.infer<S>> {
  let copy: unknown = raw;
  const unreadable: UnreadableField[] = [];
  for (let round = 0; round <= groups.length; round++) {
    const r = schema.safeParse(copy);
    if (r.success) {
      const value = r.data as z.infer<S>;
      if (typeof value === 'object' && value !== null) markUnreadable(value, unreadable);
      return { ok: true, value, unreadable };
    }
    if (copy === raw) copy = structuredClone(raw);
    for (const issue of r.error.issues) {
      const group = groupOf(issue.path, groups);
      if (!group) return { ok: false, field: pathText(issue.path) || '(the object)', message: issue.message };
      const field = group.join('.');
      if (!unreadable.some((u) => u.field === field)) unreadable.push({ field, reason: `${pathText(issue.path)}: ${issue.message}` });
      dropPath(copy, group);
    }
  }
  const last = unreadable[unreadable.length - 1];
  return { ok: false, field: last?.field ?? '(the object)', message: last?.reason ?? 'could not be read' };
}

/** For messages: `spec.tolerations (spec.tolerations[0]: expected object, received string)`. */
export function describeUnreadable(u: UnreadableField): string {
  return `${u.field} (${u.reason})`;
}

interface SchemaDef {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  valueType?: z.ZodType;
}

const defOf = (schema: z.ZodType): SchemaDef => (schema as unknown as { def: SchemaDef }).def;

/**
 * `value` (already parsed by `schema`) with only the fields `schema` declares: the keys a loose
 * object lets through are dropped at every level. For caches of objects whose schema lists exactly
 * the fields the operator reads (KubeVirt's, ours): what nobody reads is not kept.
 */
export function declaredFieldsOnly<T>(schema: z.ZodType, value: T): T {
  return keepDeclared(schema, value) as T;
}

function keepDeclared(schema: z.ZodType, value: unknown): unknown {
  const def = defOf(schema);
  if (value === null || value === undefined) return value;
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
      return def.innerType ? keepDeclared(def.innerType, value) : value;
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value) || !def.shape) return value;
      const v = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [key, field] of Object.entries(def.shape)) if (v[key] !== undefined) out[key] = keepDeclared(field, v[key]);
      return out;
    }
    case 'array':
      return Array.isArray(value) && def.element ? value.map((e) => keepDeclared(def.element as z.ZodType, e)) : value;
    case 'record':
      if (typeof value !== 'object' || Array.isArray(value) || !def.valueType) return value;
      return Object.fromEntries(Object.entries(value).map(([k, e]) => [k, keepDeclared(def.valueType as z.ZodType, e)]));
    default:
      return value;
  }
}
