// MdevDevice: one device on one node, published by that node's agent (DESIGN §3).
import { z } from 'zod';
import { withCel, immutable } from './cel.ts';
import { BACKENDS, DEVICE_KINDS, LIMITS, VERSION_KINDS } from './constants.ts';
import {
  conditions,
  creationParams,
  dnsLabel,
  mdevType,
  objectName,
  objectReference,
  parentDevice,
  timestamp,
  versionString,
} from './fields.ts';
import { isPciAddress, isUuid, PCI_ADDRESS_PATTERN, UUID_PATTERN } from '../validation.ts';
import { celMatches } from './cel.ts';
import { kindObject } from './object.ts';

const specFields = z.object({
  nodeName: immutable(objectName, 'spec.nodeName').describe(
    'Node the device is on. Immutable; only that node\'s agent may write the object.',
  ),
  id: immutable(z.string().min(1).max(36), 'spec.id').describe(
    'Device id: the mdev UUID for kind mdev, the PCI address of the VF for kind vfio-pci. Immutable.',
  ),
  kind: z.enum(DEVICE_KINDS).describe('mdev for a mediated device, vfio-pci for a vendor-VFIO virtual function.'),
  type: mdevType,
  parent: parentDevice,
  creationParams: creationParams
    .optional()
    .describe('Creation parameters in the order mdevctl keeps them; part of what a duplicate must match.'),
});

const uuidWhenMdev = withCel(
  specFields,
  {
    rule: `self.kind != 'mdev' || ${celMatches(UUID_PATTERN, 'self.id')}`,
    message: 'spec.id must be a canonical lowercase UUID when spec.kind is mdev',
    fieldPath: '.id',
  },
  (s) => s.kind !== 'mdev' || isUuid(s.id),
);

export const mdevDeviceSpec = withCel(
  uuidWhenMdev,
  {
    rule: `self.kind != 'vfio-pci' || ${celMatches(PCI_ADDRESS_PATTERN, 'self.id')}`,
    message: 'spec.id must be a PCI address (0000:41:00.4, lowercase hex) when spec.kind is vfio-pci',
    fieldPath: '.id',
  },
  (s) => s.kind !== 'vfio-pci' || isPciAddress(s.id),
).describe('What the device is; written by the agent of spec.nodeName only.');

export const consumerReference = z
  .object({
    kind: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[A-Z][A-Za-z0-9]*$/)
      .describe(
        'Kind of the consumer: VirtualMachineInstance when a virt-launcher pod holds the device, Pod when a pod that runs no VMI holds it (in use all the same: never a migration target).',
      ),
    namespace: dnsLabel.describe('Namespace of the consumer.'),
    name: objectName.describe('Name of the consumer.'),
    uid: z.string().min(1).max(LIMITS.uid).describe('UID of the consumer; a VMI\'s devices are those whose consumer.uid is its uid.'),
  })
  .describe(
    'The workload using the device, from the kubelet PodResources API (device plugins and DRA claims). Absent means free. While the kubelet does not answer, the agent keeps the last known consumer rather than clearing it.',
  );

export const reservation = z
  .object({
    migration: objectReference.describe('The MdevMigration holding the reservation.'),
    targetNode: objectName.describe('Node the migration moves the VMI to (this device\'s node).'),
    reservedAt: timestamp.describe('When the controller reserved the device (RFC 3339).'),
    expiresAt: timestamp.describe('When the reservation lapses if its migration has not renewed or released it (RFC 3339).'),
  })
  .describe(
    'Deprecated: written by controllers before capacity claims (MdevNode status.claims) replaced per-device reservations, because KubeVirt\'s device plugin, not the operator, picks the target device. Never written now; the controller clears one it finds.',
  );

const statusFields = z.object({
  migrationVersion: versionString
    .optional()
    .describe('The device\'s migration_version string, opaque. Absent when it cannot be read.'),
  migratable: z.boolean().describe('Whether the device can be live-migrated: its version string was read.'),
  reason: z.string().max(LIMITS.reason).optional().describe('Why the device is not migratable, when migratable is false.'),
  versionKind: z
    .enum(VERSION_KINDS)
    .optional()
    .describe(
      'Which string migrationVersion is, when the backend tells them apart (nvml): Instance is the running device\'s own state ' +
        '(NVML vGPU metadata of a running VM; what a migration of it sends), Class is a key for every free device of this type on ' +
        'this parent (NVML metadata of the physical GPU plus the type; a target, never a migration source).',
    ),
  backend: z.enum(BACKENDS).describe('Compatibility backend that read the version: sysfs, exec, nvml or simulated.'),
  consumer: consumerReference.optional(),
  reservation: reservation.optional(),
  conditions: conditions.optional().describe('Observations about the device, keyed by type.'),
});

export const mdevDeviceStatus = withCel(
  statusFields,
  {
    rule: '!self.migratable || has(self.migrationVersion)',
    message: 'status.migrationVersion is required when status.migratable is true',
    fieldPath: '.migrationVersion',
  },
  (s) => !s.migratable || s.migrationVersion !== undefined,
).describe('What the agent observed about the device.');

export const mdevDevice = kindObject('MdevDevice', mdevDeviceSpec, mdevDeviceStatus);

export type MdevDevice = z.infer<typeof mdevDevice>;
export type MdevDeviceSpec = z.infer<typeof mdevDeviceSpec>;
export type MdevDeviceStatus = z.infer<typeof mdevDeviceStatus>;
export type ConsumerReference = z.infer<typeof consumerReference>;
export type Reservation = z.infer<typeof reservation>;
