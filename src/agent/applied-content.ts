// The part of an object the agent owns, reduced to a hash: a desired object and the same object
// read back from the API server reduce to the same hashes, so the publisher can tell "nothing to
// write" without keeping whole objects. Fields others own (status.reservation by the controller,
// foreign labels, managedFields) are left out, so their changes never trigger an agent write.
import { createHash } from 'node:crypto';
import { LABEL_NODE, LABEL_TYPE, LABEL_VERSION_HASH } from '../api/v1alpha1/constants.ts';
import { consumerReference, type ConsumerReference } from '../api/v1alpha1/mdev-device.ts';
import type { DesiredObject } from './desired-state.ts';

const AGENT_LABELS = [LABEL_NODE, LABEL_TYPE, LABEL_VERSION_HASH] as const;
/** Status fields the agent writes; everything else in status belongs to someone else. */
const AGENT_STATUS_FIELDS = ['migrationVersion', 'migratable', 'reason', 'versionKind', 'backend', 'consumer'] as const;

export interface AppliedHashes {
  /** Owned labels, owner references and spec. */
  main: string;
  /** Owned status fields; undefined for kinds whose status the agent does not write. */
  status?: string;
}

/** What the agent knows about one of its objects as the API server holds it. */
export interface ObservedSummary extends AppliedHashes {
  name: string;
  nodeName: string;
  /** An MdevDevice's spec.id in canonical (lowercase) form. */
  deviceId?: string;
  /** An MdevDevice's status.consumer: kept when PodResources cannot tell who holds the device. */
  consumer?: ConsumerReference;
}

type Loose = Record<string, unknown>;

function record(v: unknown): Loose | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Loose) : undefined;
}

/** JSON with sorted keys and no undefined values: equal content gives equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = record(value);
  if (obj) {
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function digest(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

function ownedMain(metadata: Loose | undefined, spec: unknown): unknown {
  const labels = record(metadata?.labels) ?? {};
  const owners = Array.isArray(metadata?.ownerReferences) ? metadata.ownerReferences : [];
  return {
    labels: Object.fromEntries(AGENT_LABELS.filter((k) => typeof labels[k] === 'string').map((k) => [k, labels[k]])),
    owners: owners
      .map(record)
      .filter((o): o is Loose => o?.kind === 'Node')
      .map((o) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.name, uid: o.uid })),
    spec: spec ?? null,
  };
}

function ownedStatus(status: unknown): unknown {
  const s = record(status) ?? {};
  return Object.fromEntries(AGENT_STATUS_FIELDS.filter((k) => s[k] !== undefined).map((k) => [k, s[k]]));
}

export function desiredHashes(obj: DesiredObject): AppliedHashes {
  const hashes: AppliedHashes = { main: digest(ownedMain(obj.metadata as unknown as Loose, obj.spec)) };
  if (obj.status !== undefined) hashes.status = digest(ownedStatus(obj.status));
  return hashes;
}

/**
 * The summary of a raw object read from the API server, or undefined when it is not a well-formed
 * object of some node (such objects are never the agent's to update or delete).
 */
export function observedSummary(raw: unknown, withStatus: boolean): ObservedSummary | undefined {
  const obj = record(raw);
  const metadata = record(obj?.metadata);
  const spec = record(obj?.spec);
  if (typeof metadata?.name !== 'string' || typeof spec?.nodeName !== 'string') return undefined;
  const summary: ObservedSummary = { name: metadata.name, nodeName: spec.nodeName, main: digest(ownedMain(metadata, spec)) };
  if (!withStatus) return summary;
  summary.status = digest(ownedStatus(obj?.status));
  if (typeof spec.id === 'string') summary.deviceId = spec.id.toLowerCase();
  const consumer = consumerReference.safeParse(record(obj?.status)?.consumer);
  if (consumer.success) summary.consumer = consumer.data;
  return summary;
}
