// Field building blocks shared by the kinds. Each carries its zod check and the CEL rule or
// OpenAPI bound the CRD enforces, with a maxLength wherever CEL cost estimation needs one.
import { z } from 'zod';
import {
  checkVersionString,
  DEVICE_NAME_PATTERN,
  DNS_LABEL_PATTERN,
  DNS_SUBDOMAIN_MAX,
  DNS_SUBDOMAIN_PATTERN,
  isObjectName,
  isParentName,
  isPciAddress,
  isTypeId,
  isUuid,
  PCI_ADDRESS_PATTERN,
  TYPE_ID_PATTERN,
  UUID_PATTERN,
  VERSION_MAX_BYTES,
  VERSION_PATTERN,
} from '../validation.ts';
import { celMatches, withCel } from './cel.ts';
import { CONDITION_STATUSES, LIMITS } from './constants.ts';

const DNS_LABEL_RE = new RegExp(DNS_LABEL_PATTERN);

/** Printable ASCII of 1..max bytes: the rule for every string that may reach a sysfs attribute. */
export function printableString(max: number, what: string) {
  return withCel(
    z.string().min(1).max(max),
    {
      rule: celMatches(VERSION_PATTERN),
      message: `${what} must be 1-${max} bytes of printable ASCII (0x20-0x7e): no NUL, tab, CR, LF or non-ASCII bytes`,
    },
    (v) => {
      const verdict = checkVersionString(v);
      return verdict.ok || verdict.reason;
    },
  );
}

/** A migration-version string: what sysfs or a vendor tool returns and what a target is tested with. */
export const versionString = printableString(VERSION_MAX_BYTES, 'a migration version');

/** The name of a cluster-scoped object or of a Node (RFC 1123 subdomain). */
export const objectName = withCel(
  z.string().min(1).max(DNS_SUBDOMAIN_MAX),
  {
    rule: celMatches(DNS_SUBDOMAIN_PATTERN),
    message: 'must be a valid object name: lowercase letters, digits, "-" and ".", starting and ending alphanumeric',
  },
  isObjectName,
);

/** A name KubeVirt uses in DNS (VMI) or a namespace: an RFC 1123 label. */
export const dnsLabel = withCel(
  z.string().min(1).max(63),
  {
    rule: celMatches(DNS_LABEL_PATTERN),
    message: 'must be a valid RFC 1123 label: at most 63 lowercase letters, digits and "-", starting and ending alphanumeric',
  },
  (v) => DNS_LABEL_RE.test(v),
);

/** A parent under class/mdev_bus: a PCI address or a plain class-device name, never a path. */
export const parentAddress = withCel(
  z.string().min(1).max(63),
  {
    rule: `${celMatches(PCI_ADDRESS_PATTERN)} || (${celMatches(DEVICE_NAME_PATTERN)} && !self.contains('..'))`,
    message: 'must be a PCI address (0000:41:00.4, lowercase hex) or a plain device name without "/" or ".."',
  },
  isParentName,
);

/** An mdev type directory name such as nvidia-1012 or i915-GVTg_V5_4. */
export const typeId = withCel(
  z.string().min(1).max(128),
  {
    rule: `${celMatches(TYPE_ID_PATTERN)} && !self.contains('..')`,
    message: 'must be an mdev type name: letters, digits and "_.:+-", starting alphanumeric, no ".." and no "/"',
  },
  isTypeId,
);

export const uuid = withCel(
  z.string().min(1).max(36),
  { rule: celMatches(UUID_PATTERN), message: 'must be a canonical lowercase UUID (8-4-4-4-12 hex digits)' },
  isUuid,
);

export const pciAddress = withCel(
  z.string().min(1).max(12),
  { rule: celMatches(PCI_ADDRESS_PATTERN), message: 'must be a PCI address such as 0000:41:00.4 (lowercase hex)' },
  isPciAddress,
);

/** RFC 3339 timestamp, as metav1.Time serializes. */
export const timestamp = z.iso.datetime({ offset: true });

export const pciId = z.string().regex(/^[0-9a-f]{4}$/);

/** A kernel driver name (nvidia, i915, vfio-pci, mtty). */
export const driverName = z.string().max(63).regex(/^[A-Za-z0-9][A-Za-z0-9_.+-]*$/);

export const nonNegativeInt = z.int().min(0);

/** metav1.Condition, with the bounds upstream CRDs use for it. */
export const condition = z
  .object({
    type: z
      .string()
      .min(1)
      .max(316)
      .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/)
      .describe('Type of condition in CamelCase, e.g. Ready, Reserved, Probed.'),
    status: z.enum(CONDITION_STATUSES).describe('Status of the condition: True, False or Unknown.'),
    observedGeneration: nonNegativeInt
      .optional()
      .describe('The metadata.generation the condition was set for; older than the object generation means stale.'),
    lastTransitionTime: timestamp.describe('When the condition last changed status (RFC 3339).'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe('Programmatic CamelCase identifier of the reason for the last transition.'),
    message: z.string().max(32768).describe('Human-readable details about the transition.'),
  })
  .describe('A metav1.Condition: one observed aspect of the object state.');

export type Condition = z.infer<typeof condition>;

export const conditions = z
  .array(condition)
  .max(LIMITS.conditions)
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });

/** A PCI parent device (or class device) that mdevs are created on. */
export const parentDevice = z
  .object({
    address: parentAddress.describe(
      'Parent device as named under /sys/class/mdev_bus: a PCI address (0000:41:00.4) or a class-device name (mtty).',
    ),
    vendorId: pciId.optional().describe('PCI vendor id of the parent, 4 lowercase hex digits (10de = NVIDIA).'),
    deviceId: pciId.optional().describe('PCI device id of the parent, 4 lowercase hex digits (the board SKU).'),
    driver: driverName.optional().describe('Kernel driver bound to the parent (nvidia, i915, mtty).'),
  })
  .describe('The parent device the mdev is created on.');

/** An mdev type as sysfs describes it under mdev_supported_types. */
export const mdevType = z
  .object({
    id: typeId.describe('The mdev type directory name (nvidia-1012); rule 0: only devices of the same type are compatible.'),
    name: z.string().max(256).optional().describe('The type\'s human-readable "name" attribute (GRID H100-4C).'),
    deviceApi: z.string().max(64).optional().describe('The type\'s "device_api" attribute (vfio-pci).'),
  })
  .describe('The mdev type of the device.');

/** One creation parameter, in the order mdevctl keeps them. */
export const creationParam = z
  .object({
    key: typeId.describe('Parameter name (agg, qp).'),
    value: printableString(256, 'a creation parameter value').describe('Parameter value, 1-256 bytes of printable ASCII.'),
  })
  .describe('A creation parameter the device was created with.');

export const creationParams = z.array(creationParam).max(LIMITS.creationParams);

/** A reference to the owner of an object in another namespace or scope. */
export const objectReference = z.object({
  namespace: dnsLabel.describe('Namespace of the referenced object.'),
  name: objectName.describe('Name of the referenced object.'),
  uid: z.string().min(1).max(LIMITS.uid).describe('UID of the referenced object; a recreated object with the same name does not match.'),
});
