// mdevctl's persistent definitions (/etc/mdevctl.d/<parent>/<uuid>): JSON whose `attrs` is an
// ordered list of single-key objects (keys may repeat) — the device's creation parameters, which
// a duplicate on the target must be created with too.
import type { CreationParam } from './inventory.ts';

export type MdevctlDefinition =
  | { ok: true; typeId?: string; creationParams: CreationParam[] }
  | { ok: false; reason: string };

export function readMdevctlDefinition(text: string): MdevctlDefinition {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { ok: false, reason: 'not a JSON object' };
  const { mdev_type: typeId, attrs } = doc as { mdev_type?: unknown; attrs?: unknown };
  const params = parseAttrs(attrs ?? []);
  if (typeof params === 'string') return { ok: false, reason: params };
  return typeof typeId === 'string' ? { ok: true, typeId, creationParams: params } : { ok: true, creationParams: params };
}

/** Returns the ordered params, or a string saying what is wrong. */
function parseAttrs(attrs: unknown): CreationParam[] | string {
  if (!Array.isArray(attrs)) return '`attrs` is not a list';
  const params: CreationParam[] = [];
  for (const [i, item] of attrs.entries()) {
    const entries = typeof item === 'object' && item !== null && !Array.isArray(item) ? Object.entries(item) : [];
    const [entry] = entries;
    if (entries.length !== 1 || !entry) return `attrs[${i}] is not an object with exactly one key`;
    const [key, value] = entry;
    if (typeof value !== 'string' && typeof value !== 'number') return `attrs[${i}].${key} is not a string or number`;
    params.push({ key, value: String(value) });
  }
  return params;
}

/** The definition mdevctl would write for a device started automatically. */
export function toMdevctlJson(typeId: string, params: CreationParam[]): string {
  return JSON.stringify({ mdev_type: typeId, start: 'auto', attrs: params.map((p) => ({ [p.key]: p.value })) }, null, 2);
}
