// Intel GVT-g as in the i915 v5 migration_version patch: `%04x-%04x-%s-%08x` (vendor, device,
// GVT type, software version); a write is accepted only on exact equality (sysfs_streq), else
// EINVAL; unsupported platforms answer ENODEV to both read and write. On a mismatch the driver
// parses both strings only to log which part differed.
import type { CreationParam } from '../../../src/sysfs/inventory.ts';
import { ACCEPTED, einval, type Acceptance, type GvtExactConfig, type LocalConfig, type ParentConfig, type PolicyRefusal, type VendorPolicy } from './policy.ts';
import { sysfsStreq } from './version-fields.ts';

const UNSUPPORTED: PolicyRefusal = { errno: 'ENODEV', reason: 'local GVT does not support migration on this platform' };
const FORMAT = /^([0-9a-f]{4})-([0-9a-f]{4})-([^-]{1,16})-([0-9a-f]{8})$/;

function gvtTypeName(typeId: string): string {
  // The type directory is `i915-GVTg_V5_4`; the version carries the GVT name without the driver prefix.
  return typeId.slice(typeId.indexOf('-') + 1);
}

function version(parent: ParentConfig<GvtExactConfig>, typeId: string, _params: CreationParam[]): string | PolicyRefusal {
  if (parent.policy.supported === false) return UNSUPPORTED;
  const sw = (parent.policy.softwareVersion ?? 1).toString(16).padStart(8, '0');
  return `${parent.vendorId ?? '8086'}-${parent.deviceId ?? '0000'}-${gvtTypeName(typeId)}-${sw}`;
}

function accept(local: LocalConfig<GvtExactConfig>, source: string): Acceptance {
  const mine = version(local.parent, local.typeId, local.creationParams);
  if (typeof mine !== 'string') return mine;
  if (sysfsStreq(mine, source)) return ACCEPTED;
  return einval(mismatchReason(mine, source.replace(/\n$/, '')));
}

function mismatchReason(mine: string, theirs: string): string {
  const a = FORMAT.exec(mine);
  const b = FORMAT.exec(theirs);
  if (!a || !b) return 'wrong format of migration version string';
  if (a[1] !== b[1] || a[2] !== b[2]) return `physical device not matched (local ${a[1]}:${a[2]}, source ${b[1]}:${b[2]})`;
  if (a[4] !== b[4]) return `migration software version not matched (local ${a[4]}, source ${b[4]})`;
  return `vgpu type not matched (local ${a[3]}, source ${b[3]})`;
}

export const gvtExact: VendorPolicy<GvtExactConfig> = { version, accept };
