// Deterministic object names and label values: the same input always yields the same name, so
// agents and the controller converge on one object per device or probe without coordination.
import { createHash } from 'node:crypto';
import { DNS_SUBDOMAIN_MAX, isObjectName } from '../validation.ts';

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A prefix of the node name that keeps the composed name within the subdomain limit and valid. */
function nodePrefix(node: string, max: number): string {
  const cut = node.toLowerCase().slice(0, max).replace(/[^a-z0-9]+$/, '');
  return isObjectName(cut) ? cut : 'node';
}

function hashedName(node: string, key: string): string {
  const suffix = sha256Hex(key).slice(0, 16);
  return `${nodePrefix(node, DNS_SUBDOMAIN_MAX - suffix.length - 1)}.${suffix}`;
}

/**
 * `<node>.<id>` with PCI colons turned into '-', lowercase: `worker-1.0000-41-00.4`. Falls back to
 * `<node>.<16 hex>` when that would not be a valid name (over 253 characters, odd characters).
 */
export function deviceObjectName(node: string, id: string): string {
  const direct = `${node}.${id}`.toLowerCase().replaceAll(':', '-');
  return isObjectName(direct) ? direct : hashedName(node, `${node}\0${id}`);
}

/** Label-safe digest of a version string (32 hex characters), for selecting equal versions. */
export function versionHash(version: string): string {
  return sha256Hex(version).slice(0, 32);
}

/** `<node>.<16 hex>` from (node, type, source string): concurrent migrations share one probe. */
export function probeObjectName(node: string, typeId: string, sourceVersion: string): string {
  return hashedName(node, `${node}\0${typeId}\0${sourceVersion}`);
}

/** The agents' Leases (in the operator namespace) are named `mdev-agent.<node>`. */
export const AGENT_LEASE_PREFIX = 'mdev-agent.';

/** The Lease an agent renews to show its node is served; throws for a name no Node can have. */
export function agentLeaseName(nodeName: string): string {
  const name = `${AGENT_LEASE_PREFIX}${nodeName}`;
  if (!isObjectName(name)) throw new Error(`Node name ${JSON.stringify(nodeName)} does not make a valid Lease name: pass the node's Kubernetes name`);
  return name;
}

export const VMIM_NAME_MAX = 63;

/**
 * The controller's VirtualMachineInstanceMigration for attempt N of an MdevMigration:
 * `<migration>-<attempt>`, or a cut name with an 8-hex hash of the full name when that exceeds 63
 * characters. The webhook checks a VMIM that claims an MdevMigration owner against it.
 */
export function vmimName(migrationName: string, attempt: number): string {
  const suffix = `-${attempt}`;
  const plain = `${migrationName}${suffix}`;
  if (plain.length <= VMIM_NAME_MAX) return plain;
  const hash = sha256Hex(plain).slice(0, 8);
  const room = VMIM_NAME_MAX - suffix.length - hash.length - 1;
  const head = migrationName.slice(0, room).replace(/[-.]+$/, '');
  return `${head}-${hash}${suffix}`;
}
