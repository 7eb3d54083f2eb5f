// The invalid objects both the zod schemas (unit) and the real API server (integration) must
// refuse: one or more per rule of issue #3. Each case starts from the kind's example in
// docs/examples and changes one field; `field` is the path both refusals must name.
import { DEADLINE_SECONDS, LIMITS, type KindName } from '../../../src/api/v1alpha1/index.ts';
import { VERSION_MAX_BYTES } from '../../../src/api/validation.ts';
import type { Obj } from './examples.ts';

/** create: POST the object (status dropped); status: write it through the status subresource;
 *  update: change the spec of a stored object (transition rules). */
export type Write = 'create' | 'status' | 'update';

export interface InvalidCase {
  kind: KindName;
  write: Write;
  field: string;
  why: string;
  mutate: (obj: Obj) => void;
}

type Key = string | number;

function keys(path: string): Key[] {
  return path
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .map((k) => (/^\d+$/.test(k) ? Number(k) : k));
}

function parentOf(obj: Obj, path: string): { holder: Record<Key, unknown>; last: Key } {
  const ks = keys(path);
  let holder = obj as Record<Key, unknown>;
  for (const k of ks.slice(0, -1)) holder = holder[k] as Record<Key, unknown>;
  return { holder, last: ks[ks.length - 1] as Key };
}

export function setPath(path: string, value: unknown): (obj: Obj) => void {
  return (obj) => {
    const { holder, last } = parentOf(obj, path);
    holder[last] = value;
  };
}

export function deletePath(path: string): (obj: Obj) => void {
  return (obj) => {
    const { holder, last } = parentOf(obj, path);
    delete holder[last];
  };
}

function both(...fns: ((obj: Obj) => void)[]): (obj: Obj) => void {
  return (obj) => fns.forEach((fn) => fn(obj));
}

function c(kind: KindName, write: Write, field: string, why: string, mutate: (obj: Obj) => void): InvalidCase {
  return { kind, write, field, why, mutate };
}

const tooLongVersion = 'v'.repeat(VERSION_MAX_BYTES + 1);
const UUID_UPPER = '6F1C2A0E-1B7D-4C55-9A43-2F4C1F0C9E11';
const manyCandidates = Array.from({ length: LIMITS.candidates + 1 }, (_, i) => ({ node: `worker-${i}`, verdict: 'Excluded' }));

export const INVALID_CASES: InvalidCase[] = [
  // MdevDevice spec
  c('MdevDevice', 'create', 'spec.nodeName', 'node name is not an object name', setPath('spec.nodeName', 'Worker_1')),
  c('MdevDevice', 'create', 'spec.nodeName', 'node name is required', deletePath('spec.nodeName')),
  c('MdevDevice', 'create', 'spec.id', 'mdev id is not a lowercase UUID', setPath('spec.id', UUID_UPPER)),
  c('MdevDevice', 'create', 'spec.id', 'vfio-pci id is a UUID, not a PCI address', setPath('spec.kind', 'vfio-pci')),
  c('MdevDevice', 'create', 'spec.id', 'mdev id is a PCI address', setPath('spec.id', '0000:41:00.4')),
  c('MdevDevice', 'create', 'spec.kind', 'kind outside the enum', setPath('spec.kind', 'sriov')),
  c('MdevDevice', 'create', 'spec.type.id', 'type id is a path', setPath('spec.type.id', '../../etc')),
  c('MdevDevice', 'create', 'spec.parent.address', 'parent address contains "/"', setPath('spec.parent.address', 'pci0000:00/0000:41:00.4')),
  c('MdevDevice', 'create', 'spec.parent.address', 'parent name contains ".."', setPath('spec.parent.address', 'mtty..x')),
  c('MdevDevice', 'create', 'spec.parent.vendorId', 'vendor id is not lowercase hex', setPath('spec.parent.vendorId', '10DE')),
  c('MdevDevice', 'create', 'spec.creationParams[0].value', 'creation parameter has a newline', setPath('spec.creationParams[0].value', '2\n3')),
  c('MdevDevice', 'create', 'spec.creationParams[0].key', 'creation parameter key is a path', setPath('spec.creationParams[0].key', 'a/b')),
  // MdevDevice status (status subresource)
  c('MdevDevice', 'status', 'status.migrationVersion', 'version has a LF', setPath('status.migrationVersion', 'nv1;host=550\nvgpu=0x12')),
  c('MdevDevice', 'status', 'status.migrationVersion', 'version has a CR', setPath('status.migrationVersion', 'nv1;host=550\r')),
  c('MdevDevice', 'status', 'status.migrationVersion', 'version has a tab', setPath('status.migrationVersion', 'nv1;\thost=550')),
  c('MdevDevice', 'status', 'status.migrationVersion', 'version has a NUL', setPath('status.migrationVersion', 'nv1;\u0000host=550')),
  c('MdevDevice', 'status', 'status.migrationVersion', 'version is not ASCII', setPath('status.migrationVersion', 'nv1;board=H100é')),
  c('MdevDevice', 'status', 'status.migrationVersion', 'version is empty', setPath('status.migrationVersion', '')),
  c('MdevDevice', 'status', 'status.migrationVersion', 'version is 4096 bytes', setPath('status.migrationVersion', tooLongVersion)),
  c('MdevDevice', 'status', 'status.migrationVersion', 'migratable without a version', deletePath('status.migrationVersion')),
  c('MdevDevice', 'status', 'status.backend', 'backend outside the enum', setPath('status.backend', 'vendor-x')),
  c('MdevDevice', 'status', 'status.versionKind', 'version kind outside the enum', setPath('status.versionKind', 'instance')),
  c('MdevDevice', 'status', 'status.consumer.namespace', 'consumer namespace is not a label', setPath('status.consumer.namespace', 'VMs')),
  c('MdevDevice', 'status', 'status.reservation.expiresAt', 'reservation expiry is not RFC 3339', setPath('status.reservation', {
    migration: { namespace: 'vms', name: 'move-vm-a', uid: 'u-1' },
    targetNode: 'worker-1',
    reservedAt: '2026-01-15T10:00:00Z',
    expiresAt: 'tomorrow',
  })),
  c('MdevDevice', 'status', 'status.conditions[0].status', 'condition status outside the enum', setPath('status.conditions[0].status', 'Yes')),
  // MdevDevice transitions
  c('MdevDevice', 'update', 'spec.nodeName', 'node name changed', setPath('spec.nodeName', 'worker-2')),
  c('MdevDevice', 'update', 'spec.id', 'device id changed', setPath('spec.id', '11111111-2222-4333-8444-555555555555')),
  // MdevMigration spec
  c('MdevMigration', 'create', 'spec.vmiName', 'VMI name has uppercase and "_"', setPath('spec.vmiName', 'VM_A')),
  c('MdevMigration', 'create', 'spec.vmiName', 'VMI name is not a DNS label', setPath('spec.vmiName', 'vm.a')),
  c('MdevMigration', 'create', 'spec.vmiName', 'VMI name is required', deletePath('spec.vmiName')),
  c('MdevMigration', 'create', 'spec.deadlineSeconds', 'deadline below the minimum', setPath('spec.deadlineSeconds', DEADLINE_SECONDS.min - 1)),
  c('MdevMigration', 'create', 'spec.deadlineSeconds', 'deadline above the maximum', setPath('spec.deadlineSeconds', DEADLINE_SECONDS.max + 1)),
  c('MdevMigration', 'create', 'spec.targetNodes[1]', 'target node is not an object name', setPath('spec.targetNodes[1]', 'Worker-7')),
  c('MdevMigration', 'create', 'spec.dryRun', 'dryRun is not a boolean', setPath('spec.dryRun', 'yes')),
  // MdevMigration status
  c('MdevMigration', 'status', 'status.phase', 'phase outside the enum', setPath('status.phase', 'Running')),
  c('MdevMigration', 'status', 'status.candidates[0].verdict', 'verdict outside the enum', setPath('status.candidates[0].verdict', 'Maybe')),
  c('MdevMigration', 'status', 'status.candidates', 'more candidates than the bound', setPath('status.candidates', manyCandidates)),
  c('MdevMigration', 'status', 'status.probes', 'negative probe count', setPath('status.probes', -1)),
  c('MdevMigration', 'status', 'status.verdictTotals.Incompatible', 'negative verdict total', setPath('status.verdictTotals.Incompatible', -2)),
  // MdevProbe spec
  c('MdevProbe', 'create', 'spec.sourceVersion', 'source version has a CR', setPath('spec.sourceVersion', 'nv1;host=550\r\n')),
  c('MdevProbe', 'create', 'spec.sourceVersion', 'source version is empty', setPath('spec.sourceVersion', '')),
  c('MdevProbe', 'create', 'spec.sourceVersion', 'source version is 4096 bytes', setPath('spec.sourceVersion', tooLongVersion)),
  c('MdevProbe', 'create', 'spec.sourceVersion', 'source version is not ASCII', setPath('spec.sourceVersion', 'nv1;ü')),
  c('MdevProbe', 'create', 'spec.devices[0]', 'device name is not an object name', setPath('spec.devices[0]', 'Worker-7/dev')),
  c('MdevProbe', 'create', 'spec.parents[0]', 'parent is a path', setPath('spec.parents[0]', '../../sys/kernel')),
  c('MdevProbe', 'create', 'spec.create.uuid', 'create uuid is uppercase', setPath('spec.create.uuid', UUID_UPPER)),
  c('MdevProbe', 'create', 'spec.typeId', 'type id contains "/"', setPath('spec.typeId', 'nvidia/1012')),
  // MdevProbe transitions and status
  c('MdevProbe', 'update', 'spec.nodeName', 'node name changed', setPath('spec.nodeName', 'worker-8')),
  c('MdevProbe', 'update', 'spec.sourceVersion', 'source version changed', setPath('spec.sourceVersion', 'nv1;other')),
  c('MdevProbe', 'status', 'status.results[0].device', 'result names both a device and a parent', setPath('status.results[0].parent', '0000:41:00.5')),
  c('MdevProbe', 'status', 'status.results[1].errno', 'errno is not a symbolic name', setPath('status.results[1].errno', 'einval')),
  c('MdevProbe', 'status', 'status.results[0].targetVersionHash', 'target version hash is not a 32-hex digest', setPath('status.results[0].targetVersionHash', 'not-a-hash')),
  c('MdevProbe', 'status', 'status.completedAt', 'completion time is not RFC 3339', setPath('status.completedAt', 'yesterday')),
  // MdevNode
  c('MdevNode', 'create', 'spec.nodeName', 'node name differs from metadata.name', setPath('spec.nodeName', 'worker-8')),
  c('MdevNode', 'create', 'spec.capacity[0].availableInstances', 'negative capacity', setPath('spec.capacity[0].availableInstances', -1)),
  c('MdevNode', 'create', 'spec.capacity[0].migrationVersion', 'type-level version has a LF', setPath('spec.capacity[0].migrationVersion', 'nv1\n')),
  c('MdevNode', 'create', 'spec.backend', 'backend outside the enum', setPath('spec.backend', 'vendor-x')),
  c('MdevNode', 'create', 'spec.capacity[1].parent.address', 'parent address is a path', setPath('spec.capacity[1].parent.address', 'class/mtty')),
  c('MdevNode', 'create', 'spec.capacity[0].type.id', 'type id is ".."', setPath('spec.capacity[0].type.id', 'a..b')),
  c('MdevNode', 'update', 'spec.nodeName', 'node name changed', both(setPath('spec.nodeName', 'worker-8'))),
];

/** The object a case sends: the example, mutated, minus what the write does not carry. */
export function invalidObject(kase: InvalidCase, example: Obj): Obj {
  const obj = structuredClone(example);
  if (kase.write !== 'status') delete obj.status;
  kase.mutate(obj);
  return obj;
}

export function caseTitle(kase: InvalidCase): string {
  return `${kase.kind} ${kase.write} ${kase.field}: ${kase.why}`;
}
