// Rules for strings that may reach sysfs or become paths. Shared by the zod schemas (API), the
// agent (before every read or write) and the CRD generator (as CEL/pattern), so one definition
// holds everywhere. Regexes here must stay within what both JS and the API server's RE2 accept.

/** The proposal's limit: PATH_MAX (4096) minus room for the trailing newline sysfs adds. */
export const VERSION_MAX_BYTES = 4095;
/** Printable ASCII only: no NUL, CR, LF, tab or bytes >= 0x7f. */
export const VERSION_PATTERN = '^[\\x20-\\x7E]+$';
export const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
/** PCI address domain:bus:device.function, lowercase hex as sysfs prints it. */
export const PCI_ADDRESS_PATTERN = '^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]$';
/** A class-device parent such as the mtty sample's `mtty`: a plain name, never a path. */
export const DEVICE_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,62}$';
/** An mdev type directory name (`nvidia-1012`, `i915-GVTg_V5_4`, `mtty-2`). */
export const TYPE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}$';
/** RFC 1123 subdomain, the rule for cluster-scoped object names. */
export const DNS_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const DNS_SUBDOMAIN_MAX = 253;
/** RFC 1123 label (namespaces, VMI names as KubeVirt requires for DNS). */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

const VERSION_RE = new RegExp(VERSION_PATTERN);
const UUID_RE = new RegExp(UUID_PATTERN);
const PCI_RE = new RegExp(PCI_ADDRESS_PATTERN);
const DEVICE_NAME_RE = new RegExp(DEVICE_NAME_PATTERN);
const TYPE_ID_RE = new RegExp(TYPE_ID_PATTERN);
const DNS_SUBDOMAIN_RE = new RegExp(DNS_SUBDOMAIN_PATTERN);

export type Check = { ok: true } | { ok: false; reason: string };
const OK: Check = { ok: true };

/** A migration-version string as it may be written to or read from a `migration_version` attribute. */
export function checkVersionString(value: string): Check {
  if (value.length === 0) return { ok: false, reason: 'version string is empty' };
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > VERSION_MAX_BYTES) {
    return { ok: false, reason: `version string is ${bytes} bytes, more than the ${VERSION_MAX_BYTES}-byte limit` };
  }
  if (!VERSION_RE.test(value)) {
    const bad = [...value].find((c) => !VERSION_RE.test(c)) ?? '';
    const code = bad.codePointAt(0)?.toString(16).padStart(2, '0') ?? '??';
    return { ok: false, reason: `version string contains byte 0x${code}; only printable ASCII (0x20-0x7e) is allowed` };
  }
  return OK;
}

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

export function isPciAddress(value: string): boolean {
  return PCI_RE.test(value);
}

/** A parent as named under class/mdev_bus: a PCI address or a plain class-device name. */
export function isParentName(value: string): boolean {
  return isPciAddress(value) || (DEVICE_NAME_RE.test(value) && !value.includes('..'));
}

export function isTypeId(value: string): boolean {
  return TYPE_ID_RE.test(value) && !value.includes('..');
}

export function isObjectName(value: string): boolean {
  return value.length <= DNS_SUBDOMAIN_MAX && DNS_SUBDOMAIN_RE.test(value);
}
